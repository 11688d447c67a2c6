//! Password hashing with argon2id, off the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use zeroize::Zeroizing;

use crate::Error;

/// argon2id cost parameters. The default is OWASP's first recommendation for argon2id
/// (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl PasswordParams {
    fn argon2(&self) -> Result<Argon2<'static>, Error> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|error| Error::Hashing(error.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Bounds concurrent argon2 work. Each hash holds `memory_kib` of memory and a core for
/// tens of milliseconds, so unbounded concurrent logins would let anyone exhaust the host's
/// memory and the blocking pool. At most `concurrency` hashes run at once; up to `queue`
/// more wait their turn; a login beyond that is refused at once (429, `Retry-After`) rather
/// than queued without end.
#[derive(Debug)]
pub(crate) struct HashingGate {
    permits: Arc<Semaphore>,
    admitted: Arc<AtomicUsize>,
    capacity: usize,
}

/// A turn at hashing: held until the hash finishes, also when the request that asked for it
/// is dropped meanwhile (it moves into the blocking task).
#[derive(Debug)]
pub(crate) struct HashingTurn {
    _permit: OwnedSemaphorePermit,
    _admitted: Admitted,
}

/// One admitted caller (running or queued); leaving, by any path, makes room.
#[derive(Debug)]
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How long a caller may be made to wait for a hashing turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// Refuse when `concurrency + queue` callers are already admitted (logins: anonymous
    /// traffic must not queue without bound).
    Bounded,
    /// Always wait (an administrator's account creation or import).
    Unbounded,
}

impl HashingGate {
    /// A gate letting `concurrency` (at least 1) hashes run and `queue` more wait.
    pub(crate) fn new(concurrency: usize, queue: usize) -> Self {
        let concurrency = concurrency.max(1);
        HashingGate {
            permits: Arc::new(Semaphore::new(concurrency)),
            admitted: Arc::new(AtomicUsize::new(0)),
            capacity: concurrency + queue,
        }
    }

    /// Waits for a turn; `None` if `waiting` is bounded and the queue is full.
    pub(crate) async fn enter(&self, waiting: Waiting) -> Option<HashingTurn> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admitted = Admitted(Arc::clone(&self.admitted));
        if waiting == Waiting::Bounded && before >= self.capacity {
            return None;
        }
        // The semaphore is never closed, so acquiring only fails in theory.
        let permit = Arc::clone(&self.permits).acquire_owned().await.ok()?;
        Some(HashingTurn {
            _permit: permit,
            _admitted: admitted,
        })
    }
}

/// Hashes a password into a PHC string with a fresh random salt. CPU-bound: runs on the
/// blocking pool so the async workers keep serving.
pub(crate) async fn hash_password(
    params: PasswordParams,
    password: Zeroizing<String>,
    salt: [u8; 16],
    turn: Option<HashingTurn>,
) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let salt =
            SaltString::encode_b64(&salt).map_err(|error| Error::Hashing(error.to_string()))?;
        params
            .argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| Error::Hashing(error.to_string()))
    })
    .await
    .map_err(|error| Error::Hashing(error.to_string()))?
}

/// Checks a password against a PHC string, on the blocking pool. With no stored hash (unknown
/// account) it checks against `decoy` instead, so both cases take the same time and return the
/// same answer.
pub(crate) async fn verify_password(
    params: PasswordParams,
    password: Zeroizing<String>,
    stored: Option<String>,
    decoy: String,
    turn: HashingTurn,
) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let known = stored.is_some();
        let phc = stored.unwrap_or(decoy);
        let parsed = PasswordHash::new(&phc).map_err(|error| Error::Hashing(error.to_string()))?;
        let matches = params
            .argon2()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
    .map_err(|error| Error::Hashing(error.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordParams {
        PasswordParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn the_gate_queues_then_refuses() {
        let gate = HashingGate::new(1, 1);
        let running = gate.enter(Waiting::Bounded).await.unwrap();
        // The second caller queues behind the first; the third finds the queue full.
        let mut queued = Box::pin(gate.enter(Waiting::Bounded));
        assert!(futures_poll_once(queued.as_mut()).await.is_none());
        assert!(gate.enter(Waiting::Bounded).await.is_none());
        // An administrator's work waits instead of being refused.
        let mut admin = Box::pin(gate.enter(Waiting::Unbounded));
        assert!(futures_poll_once(admin.as_mut()).await.is_none());
        drop(running);
        let queued = queued.await.unwrap();
        drop(queued);
        drop(admin.await.unwrap());
        // Everyone left (including by being dropped while queued): room again.
        let mut dropped = Box::pin(gate.enter(Waiting::Bounded));
        let held = gate.enter(Waiting::Bounded).await;
        assert!(held.is_some());
        assert!(futures_poll_once(dropped.as_mut()).await.is_none());
        drop(dropped);
        drop(held);
        assert!(gate.enter(Waiting::Bounded).await.is_some());
    }

    /// Polls a future once: `Some` if it completed, `None` if it is waiting.
    async fn futures_poll_once<F: std::future::Future + Unpin>(mut future: F) -> Option<F::Output> {
        std::future::poll_fn(|context| {
            std::task::Poll::Ready(match std::pin::Pin::new(&mut future).poll(context) {
                std::task::Poll::Ready(output) => Some(output),
                std::task::Poll::Pending => None,
            })
        })
        .await
    }

    #[tokio::test]
    async fn right_password_verifies_and_wrong_one_does_not() {
        let gate = HashingGate::new(2, 0);
        let turn = || gate.enter(Waiting::Unbounded);
        let hash = hash_password(
            cheap(),
            Zeroizing::new("correct horse".into()),
            [7; 16],
            None,
        )
        .await
        .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let decoy = hash.clone();
        assert!(
            verify_password(
                cheap(),
                Zeroizing::new("correct horse".into()),
                Some(hash.clone()),
                decoy.clone(),
                turn().await.unwrap()
            )
            .await
            .unwrap()
        );
        assert!(
            !verify_password(
                cheap(),
                Zeroizing::new("wrong".into()),
                Some(hash),
                decoy.clone(),
                turn().await.unwrap()
            )
            .await
            .unwrap()
        );
        // An unknown account never verifies, even with the decoy's own password.
        assert!(
            !verify_password(
                cheap(),
                Zeroizing::new("correct horse".into()),
                None,
                decoy,
                turn().await.unwrap()
            )
            .await
            .unwrap()
        );
    }
}
