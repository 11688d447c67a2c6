//! Services' distinct-customer budgets shared by every node (`haechi_vault::SharedBudgets`).
//!
//! A charge takes a transaction-scoped advisory lock on its (principal, class) budget, so
//! concurrent charges of one budget — from any node — run one after the other and the count
//! is exact; charges of different budgets do not wait for each other. Inside the lock one
//! statement counts the customers read in the window, finds which asked ones are new, and
//! inserts them only if they fit: all or nothing, as on one node.

use std::time::Duration;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_vault::{ReadClass, SharedBudgets};

use super::{PgStore, backend};

/// The first key of the two-key advisory locks budgets are charged under ("Hbud").
const BUDGET_LOCKS: i32 = 0x4862_7564;

#[async_trait]
impl SharedBudgets for PgStore {
    async fn charge(
        &self,
        principal: &str,
        class: ReadClass,
        customers: &[&str],
        budget: u32,
        window: Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let start = now.minus(window).as_micros();
        let mut transaction = self.pool.begin().await.map_err(backend)?;
        sqlx::query("SELECT pg_advisory_xact_lock($1, hashtext($2 || '/' || $3))")
            .bind(BUDGET_LOCKS)
            .bind(principal)
            .bind(class.as_str())
            .execute(&mut *transaction)
            .await
            .map_err(backend)?;
        // Rows older than the window count as absent (a re-read renews them); the expired
        // ones of this budget are deleted on the way. All parts of one statement see the
        // same snapshot, so the delete does not disturb the count.
        let fits: bool = sqlx::query_scalar(
            "WITH asked AS (SELECT DISTINCT unnest($3::text[]) AS customer_id), \
             current AS (SELECT count(*) AS n FROM distinct_reads \
                         WHERE principal = $1 AND class = $2 AND first_read_at > $4), \
             fresh AS (SELECT asked.customer_id FROM asked WHERE NOT EXISTS ( \
                         SELECT 1 FROM distinct_reads d WHERE d.principal = $1 AND d.class = $2 \
                         AND d.customer_id = asked.customer_id AND d.first_read_at > $4)), \
             verdict AS (SELECT (SELECT n FROM current) + (SELECT count(*) FROM fresh) <= $5 \
                         AS fits), \
             expired AS (DELETE FROM distinct_reads WHERE principal = $1 AND class = $2 \
                         AND first_read_at <= $4 \
                         AND customer_id NOT IN (SELECT customer_id FROM fresh)), \
             charged AS (INSERT INTO distinct_reads (principal, class, customer_id, first_read_at) \
                         SELECT $1, $2, customer_id, $6 FROM fresh \
                         WHERE (SELECT fits FROM verdict) \
                         ON CONFLICT (principal, class, customer_id) \
                         DO UPDATE SET first_read_at = EXCLUDED.first_read_at) \
             SELECT fits FROM verdict",
        )
        .bind(principal)
        .bind(class.as_str())
        .bind(customers)
        .bind(start)
        .bind(i64::from(budget))
        .bind(now.as_micros())
        .fetch_one(&mut *transaction)
        .await
        .map_err(backend)?;
        transaction.commit().await.map_err(backend)?;
        Ok(fits)
    }
}
