//! The sign-in limits a cluster shares (PostgreSQL): the same answers as the embedded ones in
//! memory for the same calls, and exact when one account is guessed at on two nodes at once.

use std::sync::Arc;
use std::time::Duration;

use haechi_events::Timestamp;
use haechi_store::PgStore;
use haechi_token::{Allowance, AttemptLimit, MemorySignInLimits, SignInCounter, SignInLimits};

use SignInCounter::{AccountFailures, SourceAttempts};

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_secs(1_800_000_000 + seconds)
}

const THREE_A_MINUTE: AttemptLimit = AttemptLimit {
    attempts: 3,
    window: Duration::from_secs(60),
};

const KIM: [u8; 32] = [1; 32];
const LEE: [u8; 32] = [2; 32];

/// One call and what it must answer.
enum Step {
    /// Reserve (counter, subject, second) → allowance (`None`: allowed; seconds to wait).
    Reserve(SignInCounter, [u8; 32], i64, Option<u64>),
    /// Check without counting (counter, subject, second) → allowance.
    Check(SignInCounter, [u8; 32], i64, Option<u64>),
    /// Count after the fact (counter, subject, second).
    Record(SignInCounter, [u8; 32], i64),
    /// Take back the reservation made at (counter, subject, second).
    Cancel(SignInCounter, [u8; 32], i64),
    /// Forget the subject's attempts.
    Clear(SignInCounter, [u8; 32]),
}

use Step::{Cancel, Check, Clear, Record, Reserve};

/// Three attempts a minute per subject and counter.
const STEPS: &[Step] = &[
    Reserve(AccountFailures, KIM, 0, None),
    Reserve(AccountFailures, KIM, 1, None),
    Reserve(AccountFailures, KIM, 2, None),
    // The attempt at 0 holds the limit until 60.
    Reserve(AccountFailures, KIM, 10, Some(50)),
    Check(AccountFailures, KIM, 10, Some(50)),
    // Another account, and the same subject in the other counter, are limits of their own.
    Reserve(AccountFailures, LEE, 10, None),
    Reserve(SourceAttempts, KIM, 10, None),
    // A reservation taken back (the hash never started) frees its place.
    Cancel(AccountFailures, KIM, 2),
    Reserve(AccountFailures, KIM, 11, None),
    Reserve(AccountFailures, KIM, 12, Some(48)),
    // The attempts at 0 and 1 have left the window at 61.
    Check(AccountFailures, KIM, 61, None),
    // A successful login clears the account.
    Clear(AccountFailures, KIM),
    Reserve(AccountFailures, KIM, 62, None),
    Reserve(AccountFailures, KIM, 62, None),
    Reserve(AccountFailures, KIM, 62, None),
    Reserve(AccountFailures, KIM, 62, Some(60)),
    // Failed client secrets are counted after the fact.
    Check(SourceAttempts, LEE, 100, None),
    Record(SourceAttempts, LEE, 100),
    Record(SourceAttempts, LEE, 101),
    Check(SourceAttempts, LEE, 101, None),
    Record(SourceAttempts, LEE, 102),
    Check(SourceAttempts, LEE, 103, Some(57)),
    Check(SourceAttempts, LEE, 161, None),
];

fn allowance(wait: Option<u64>) -> Allowance {
    match wait {
        None => Allowance::Allowed,
        Some(seconds) => Allowance::Limited {
            retry_after: Duration::from_secs(seconds),
        },
    }
}

async fn check(limits: &dyn SignInLimits, name: &str) {
    for (index, step) in STEPS.iter().enumerate() {
        match step {
            Reserve(counter, subject, second, want) => {
                let got = limits
                    .try_reserve(*counter, subject, THREE_A_MINUTE, t(*second))
                    .await
                    .unwrap();
                assert_eq!(got, allowance(*want), "{name}: step {index}");
            }
            Check(counter, subject, second, want) => {
                let got = limits
                    .check(*counter, subject, THREE_A_MINUTE, t(*second))
                    .await
                    .unwrap();
                assert_eq!(got, allowance(*want), "{name}: step {index}");
            }
            Record(counter, subject, second) => limits
                .record(*counter, subject, THREE_A_MINUTE, t(*second))
                .await
                .unwrap(),
            Cancel(counter, subject, second) => {
                limits.cancel(*counter, subject, t(*second)).await.unwrap()
            }
            Clear(counter, subject) => limits.clear(*counter, subject).await.unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_sign_in_limits_answer_as_the_embedded_ones_do() {
    check(&MemorySignInLimits::default(), "memory").await;
    let Some((store, _database)) = crate::postgres().await else {
        return;
    };
    check(store.as_ref(), "postgres").await;
    // The upkeep forgets what left the window, of every subject.
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM sign_in_attempts")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(held > 0);
    assert_eq!(store.prune(t(102)).await.unwrap(), held as u64);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM sign_in_attempts")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn guesses_at_one_account_on_two_nodes_at_once_get_exactly_the_limit() {
    let Some((first, database)) = crate::postgres().await else {
        return;
    };
    let limit = AttemptLimit {
        attempts: 5,
        window: Duration::from_secs(900),
    };
    let nodes = [first, Arc::new(PgStore::open(&database.url).await.unwrap())];
    // A guesser spread over both nodes, thirty attempts at once.
    let guesses: Vec<_> = (0..30)
        .map(|index| {
            let node = Arc::clone(&nodes[index % nodes.len()]);
            tokio::spawn(async move {
                node.try_reserve(AccountFailures, &KIM, limit, t(0))
                    .await
                    .unwrap()
                    == Allowance::Allowed
            })
        })
        .collect();
    let mut allowed = 0;
    for guess in guesses {
        allowed += u32::from(guess.await.unwrap());
    }
    assert_eq!(allowed, limit.attempts, "one allowance, however many nodes");
    for node in &nodes {
        assert_eq!(
            node.check(AccountFailures, &KIM, limit, t(1))
                .await
                .unwrap(),
            Allowance::Limited {
                retry_after: Duration::from_secs(899)
            }
        );
    }
    // A success on one node clears the account on both.
    nodes[0].clear(AccountFailures, &KIM).await.unwrap();
    assert_eq!(
        nodes[1]
            .try_reserve(AccountFailures, &KIM, limit, t(2))
            .await
            .unwrap(),
        Allowance::Allowed
    );
    for node in nodes {
        node.close().await;
    }
}
