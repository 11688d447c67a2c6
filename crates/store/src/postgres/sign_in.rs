//! The sign-in limits shared by every node (`haechi_token::SignInLimits`, migration 10):
//! attempts per source network and failed logins per account, one allowance for the whole
//! cluster.
//!
//! A reservation is one statement, `haechi_reserve_sign_in`: under the subject's advisory
//! lock it deletes the subject's attempts older than the window, counts the rest, and inserts
//! one if there is room — exact across nodes, so a password guesser spread round-robin over
//! N nodes gets the one allowance, not N. Checks read without the lock (a check counts
//! nothing); attempts counted after the fact (a failed client secret) are plain inserts, as
//! on one node. Subjects are keyed hashes; the store never sees an address or identifier.

use std::time::Duration;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use haechi_token::{Allowance, AttemptLimit, SignInCounter, SignInLimits};

use super::{PgStore, backend};

/// The allowance from the time of the attempt that holds the limit, if any.
fn allowance(limiting: Option<i64>, window: Duration, now: Timestamp) -> Allowance {
    match limiting {
        None => Allowance::Allowed,
        Some(attempted_at) => Allowance::Limited {
            retry_after: Timestamp::from_micros(attempted_at)
                .plus(window)
                .since(now)
                .max(Duration::from_secs(1)),
        },
    }
}

/// The limit's size as PostgreSQL takes it; `None` for a limit of 0, which allows nothing.
fn attempts(limit: AttemptLimit) -> Option<i32> {
    (limit.attempts > 0).then(|| i32::try_from(limit.attempts).unwrap_or(i32::MAX))
}

#[async_trait]
impl SignInLimits for PgStore {
    async fn try_reserve(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        limit: AttemptLimit,
        now: Timestamp,
    ) -> Result<Allowance, StoreError> {
        let Some(attempts) = attempts(limit) else {
            return Ok(allowance(Some(now.as_micros()), limit.window, now));
        };
        let limiting: Option<i64> =
            sqlx::query_scalar("SELECT haechi_reserve_sign_in($1, $2, $3, $4, $5)")
                .bind(counter.as_str())
                .bind(&subject[..])
                .bind(attempts)
                .bind(now.minus(limit.window).as_micros())
                .bind(now.as_micros())
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
        Ok(allowance(limiting, limit.window, now))
    }

    async fn cancel(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        reserved_at: Timestamp,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "DELETE FROM sign_in_attempts WHERE ctid IN (SELECT ctid FROM sign_in_attempts \
             WHERE counter = $1 AND subject = $2 AND attempted_at = $3 LIMIT 1)",
        )
        .bind(counter.as_str())
        .bind(&subject[..])
        .bind(reserved_at.as_micros())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn check(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        limit: AttemptLimit,
        now: Timestamp,
    ) -> Result<Allowance, StoreError> {
        let Some(attempts) = attempts(limit) else {
            return Ok(allowance(Some(now.as_micros()), limit.window, now));
        };
        let limiting: Option<i64> = sqlx::query_scalar(
            "SELECT attempted_at FROM sign_in_attempts \
             WHERE counter = $1 AND subject = $2 AND attempted_at > $3 \
             ORDER BY attempted_at DESC OFFSET $4 LIMIT 1",
        )
        .bind(counter.as_str())
        .bind(&subject[..])
        .bind(now.minus(limit.window).as_micros())
        .bind(i64::from(attempts) - 1)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(allowance(limiting, limit.window, now))
    }

    async fn record(
        &self,
        counter: SignInCounter,
        subject: &[u8; 32],
        limit: AttemptLimit,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        // The subject's attempts older than the window go on the way.
        sqlx::query(
            "WITH aged AS (DELETE FROM sign_in_attempts \
                           WHERE counter = $1 AND subject = $2 AND attempted_at <= $3) \
             INSERT INTO sign_in_attempts (counter, subject, attempted_at) VALUES ($1, $2, $4)",
        )
        .bind(counter.as_str())
        .bind(&subject[..])
        .bind(now.minus(limit.window).as_micros())
        .bind(now.as_micros())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn clear(&self, counter: SignInCounter, subject: &[u8; 32]) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sign_in_attempts WHERE counter = $1 AND subject = $2")
            .bind(counter.as_str())
            .bind(&subject[..])
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn prune(&self, before: Timestamp) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sign_in_attempts WHERE attempted_at <= $1")
            .bind(before.as_micros())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
