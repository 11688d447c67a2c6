//! Services' distinct-customer budgets shared by every node (`haechi_vault::SharedBudgets`).
//!
//! A charge is one statement, `haechi_charge_distinct_reads` (migration 11): a read of
//! customers all already charged in the window is answered without the lock and without a
//! write — it adds no customer, so it cannot pass the budget, and a service's repeat reads on
//! many nodes neither queue nor wait for a commit. A read with customers new to the window is
//! charged under a transaction-scoped advisory lock on its (principal, class) budget, so
//! concurrent charges of one budget — from any node — run one after the other and the count
//! is exact; charges of different budgets do not wait for each other. All or nothing, as on
//! one node.

use std::time::Duration;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_vault::{ReadClass, SharedBudgets};

use super::{PgStore, backend};

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
        sqlx::query_scalar("SELECT haechi_charge_distinct_reads($1, $2, $3, $4, $5, $6)")
            .bind(principal)
            .bind(class.as_str())
            .bind(customers)
            .bind(i64::from(budget))
            .bind(now.minus(window).as_micros())
            .bind(now.as_micros())
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }
}
