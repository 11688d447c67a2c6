//! The lookup-miss limit a cluster shares (PostgreSQL): the same answers as the embedded one
//! in memory for the same calls, and exact when lookups are admitted on two nodes at once.

use std::sync::Arc;

use haechi_events::Timestamp;
use haechi_store::PgStore;
use haechi_vault::{LookupAdmission, LookupLimits, LookupResult, LookupStats, MemoryLookupLimits};

use LookupAdmission::{Admitted, Limited};
use LookupResult::{Hit, Miss};

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_secs(1_800_000_000 + seconds)
}

/// One call and what it must answer.
enum Step {
    /// (principal, misses per minute, second) → admission.
    Admit(&'static str, u32, i64, LookupAdmission),
    /// (principal, second admitted and settled, result) → (lookups, misses) over ten minutes.
    Settle(&'static str, i64, LookupResult, (u32, u32)),
    /// (principal, second admitted): the lookup was not made.
    Abandon(&'static str, i64),
}

use Step::{Abandon, Admit, Settle};

const fn limited(retry_after_secs: u64) -> LookupAdmission {
    Limited { retry_after_secs }
}

/// Three misses a minute: misses age out after a minute, hits and abandoned lookups never
/// count against the limit, principals are separate, statistics cover ten minutes, a limit of
/// 0 turns lookups off.
const STEPS: &[Step] = &[
    Admit("s", 3, 0, Admitted),
    Settle("s", 0, Miss, (1, 1)),
    Admit("s", 3, 1, Admitted),
    Settle("s", 1, Miss, (2, 2)),
    Admit("s", 3, 2, Admitted),
    Settle("s", 2, Miss, (3, 3)),
    // The miss at 0 holds the limit until 60.
    Admit("s", 3, 30, limited(30)),
    Admit("t", 3, 30, Admitted),
    Settle("t", 30, Hit, (1, 0)),
    Admit("s", 3, 60, Admitted),
    Settle("s", 60, Hit, (4, 3)),
    Admit("s", 3, 61, Admitted),
    Abandon("s", 61),
    Admit("s", 3, 70, Admitted),
    Settle("s", 70, Miss, (5, 4)),
    Admit("s", 3, 71, Admitted),
    Settle("s", 71, Miss, (6, 5)),
    Admit("s", 3, 72, Admitted),
    Settle("s", 72, Miss, (7, 6)),
    Admit("s", 3, 80, limited(50)),
    // Ten minutes on, the statistics have forgotten everything before.
    Admit("s", 3, 700, Admitted),
    Settle("s", 700, Miss, (1, 1)),
    Admit("u", 0, 700, limited(60)),
];

async fn check(limits: &dyn LookupLimits, name: &str) {
    for (index, step) in STEPS.iter().enumerate() {
        match *step {
            Admit(principal, limit, second, want) => {
                let got = limits.admit(principal, limit, t(second)).await.unwrap();
                assert_eq!(got, want, "{name}: step {index}");
            }
            Settle(principal, second, result, (lookups, misses)) => {
                let got = limits
                    .settle(principal, t(second), result, 3, t(second))
                    .await
                    .unwrap();
                assert_eq!(got, LookupStats { lookups, misses }, "{name}: step {index}");
            }
            Abandon(principal, second) => limits.abandon(principal, t(second)).await.unwrap(),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shared_lookup_limits_answer_as_the_embedded_ones_do() {
    check(&MemoryLookupLimits::default(), "memory").await;
    let Some((store, _database)) = crate::postgres().await else {
        return;
    };
    check(store.as_ref(), "postgres").await;
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lookups_admitted_on_two_nodes_at_once_get_exactly_the_limit() {
    let Some((first, database)) = crate::postgres().await else {
        return;
    };
    const LIMIT: u32 = 10;
    let nodes = [first, Arc::new(PgStore::open(&database.url).await.unwrap())];
    // An enumerator spread over both nodes, forty lookups at once, every one a miss.
    let lookups: Vec<_> = (0..40)
        .map(|index| {
            let node = Arc::clone(&nodes[index % nodes.len()]);
            tokio::spawn(async move {
                match node.admit("service:walker", LIMIT, t(0)).await.unwrap() {
                    Admitted => {
                        node.settle("service:walker", t(0), Miss, LIMIT, t(0))
                            .await
                            .unwrap();
                        true
                    }
                    Limited { .. } => false,
                }
            })
        })
        .collect();
    let mut admitted = 0;
    for lookup in lookups {
        admitted += u32::from(lookup.await.unwrap());
    }
    assert_eq!(admitted, LIMIT, "one allowance, however many nodes");
    for node in &nodes {
        assert_eq!(
            node.admit("service:walker", LIMIT, t(1)).await.unwrap(),
            limited(59)
        );
    }
    // A minute on: lookups in flight hold their places until settled, on every node.
    let mut in_flight = Vec::new();
    for index in 0..LIMIT as usize {
        let node = &nodes[index % nodes.len()];
        let at = t(61 + index as i64);
        assert_eq!(
            node.admit("service:walker", LIMIT, at).await.unwrap(),
            Admitted
        );
        in_flight.push(at);
    }
    assert!(matches!(
        nodes[1]
            .admit("service:walker", LIMIT, t(75))
            .await
            .unwrap(),
        Limited { .. }
    ));
    // Five turn out to be hits: their places are free again, for either node.
    for at in &in_flight[..5] {
        nodes[0]
            .settle("service:walker", *at, Hit, LIMIT, t(76))
            .await
            .unwrap();
    }
    for second in 77..82 {
        let node = &nodes[second as usize % nodes.len()];
        assert_eq!(
            node.admit("service:walker", LIMIT, t(second))
                .await
                .unwrap(),
            Admitted
        );
    }
    assert!(matches!(
        nodes[0]
            .admit("service:walker", LIMIT, t(82))
            .await
            .unwrap(),
        Limited { .. }
    ));
    // The statistics are the cluster's: the forty lookups settled so far on both nodes and
    // five hits, and this one.
    let stats = nodes[1]
        .settle("service:walker", t(70), Miss, LIMIT, t(83))
        .await
        .unwrap();
    assert_eq!(
        stats,
        LookupStats {
            lookups: LIMIT + 6,
            misses: LIMIT + 1
        }
    );
    for node in nodes {
        node.close().await;
    }
}
