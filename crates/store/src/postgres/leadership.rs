//! One node at a time for work that must not run twice: key rotation and retirement, the
//! ledger's pruning. A session-level advisory lock on a connection of its own: held while
//! the connection lives, released by PostgreSQL the moment the holder's process dies or its
//! connection breaks — so a standby takes over without a lease to expire.

use sqlx::{Connection as _, PgConnection};

use super::{PgStore, backend};
use haechi_events::StoreError;

/// The first key of the two-key advisory locks duties are led under (their own space: the
/// one-key locks of migrations and shared state never collide with them).
const LEADERSHIP_LOCKS: i32 = 0x4861_6563; // "Haec"

/// Leadership of one duty, held on a dedicated connection (outside the pool, so the lock is
/// never handed to a request with the connection).
#[derive(Debug)]
pub struct Leadership {
    connection: PgConnection,
    duty: &'static str,
}

impl Leadership {
    /// The duty led.
    pub fn duty(&self) -> &'static str {
        self.duty
    }

    /// Whether this node still leads: the connection answers (a broken one has lost the lock
    /// with it, and another node may hold it by now).
    pub async fn still_held(&mut self) -> bool {
        self.connection.ping().await.is_ok()
    }

    /// Gives the duty up at once (a clean shutdown), rather than when the connection closes.
    pub async fn resign(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock($2, hashtext($1))")
            .bind(self.duty)
            .bind(LEADERSHIP_LOCKS)
            .execute(&mut self.connection)
            .await;
        let _ = self.connection.close().await;
    }
}

impl PgStore {
    /// Takes the lead of `duty` if no other node holds it: `Ok(None)` when one does.
    pub async fn try_lead(&self, duty: &'static str) -> Result<Option<Leadership>, StoreError> {
        let mut connection = self.pool.acquire().await.map_err(backend)?.detach();
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($2, hashtext($1))")
            .bind(duty)
            .bind(LEADERSHIP_LOCKS)
            .fetch_one(&mut connection)
            .await
            .map_err(backend)?;
        if taken {
            Ok(Some(Leadership { connection, duty }))
        } else {
            let _ = connection.close().await;
            Ok(None)
        }
    }

    /// Waits until this node leads `duty` (another holder resigns or dies). For short duties
    /// every node must do one at a time: opening the authority on an empty database, where
    /// two nodes starting together would each make a first signing key.
    pub async fn lead(&self, duty: &'static str) -> Result<Leadership, StoreError> {
        let mut connection = self.pool.acquire().await.map_err(backend)?.detach();
        sqlx::query("SELECT pg_advisory_lock($2, hashtext($1))")
            .bind(duty)
            .bind(LEADERSHIP_LOCKS)
            .execute(&mut connection)
            .await
            .map_err(backend)?;
        Ok(Leadership { connection, duty })
    }
}
