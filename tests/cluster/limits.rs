//! The limits an outsider could multiply by spreading over nodes are one allowance for the
//! cluster: a lookup enumerator gets one service's misses per minute, a password guesser one
//! account's failures and one source's attempts, however many nodes they go round.

use serde_json::json;

use super::Cluster;
use crate::util::Server;

const POLICY: &str = r#"
[[grant]]
service = "walker"
purposes = ["support"]
fields = ["name", "phone"]
access = "masked"

[quota]
lookup_misses_per_minute = 6
"#;

/// Three API nodes of `cluster`, each started with `settings` in its environment.
fn three_nodes(cluster: &Cluster, settings: &[(&str, &str)]) -> Vec<Server> {
    ["api-a", "api-b", "api-c"]
        .iter()
        .map(|id| {
            let node = settings
                .iter()
                .fold(cluster.node_instance(id), |node, (key, value)| {
                    node.with_env(key, value)
                });
            cluster.start_node(&node, "api")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_enumerator_round_robin_over_three_nodes_is_stopped_at_one_allowance() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let policy = cluster.ops.dir.path().join("policy.toml");
    std::fs::write(&policy, POLICY).unwrap();
    let policy = policy.display().to_string();
    let walker = cluster.ops.create_service("walker", "support");
    let servers = three_nodes(&cluster, &[("HAECHI_VAULT__POLICY_FILE", &policy)]);
    let token = servers[0].client_token(&walker).await;
    // A walk of the phone space: every number a miss, one node after the other.
    let mut answered = 0;
    let mut refused = 0;
    for number in 0..18 {
        let server = &servers[number % servers.len()];
        let (status, body) = server
            .post_with(
                "/v1/customers/lookup",
                &token,
                json!({"phone": format!("010-7777-{number:04}"), "purpose": "support"}),
            )
            .await;
        match status {
            200 => {
                assert_eq!(body["ids"], json!([]), "{body}");
                answered += 1;
            }
            429 => {
                assert_eq!(body["error"], "rate_limited", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        (answered, refused),
        (6, 12),
        "six misses a minute across three nodes"
    );
    // The statistics the lookup rules read are the cluster's too: the sixth miss, answered
    // by the third node, was recorded as the sixth lookup of the ten minutes.
    let events = servers[2].wait_for_events(|events| {
        events
            .iter()
            .filter(|event| event["kind"] == "pii.lookup")
            .count()
            >= 2
    });
    let last = events
        .iter()
        .rfind(|event| event["kind"] == "pii.lookup")
        .unwrap();
    assert_eq!(last["detail"]["window_lookups"], "6", "{last}");
    assert_eq!(last["detail"]["window_miss_pct"], "100", "{last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_guesser_round_robin_over_three_nodes_is_stopped_at_one_allowance() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    const PASSWORD: &str = "correct horse battery";
    cluster
        .ops
        .create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let servers = three_nodes(
        &cluster,
        &[
            ("HAECHI_LOGIN__FAILURES_PER_ACCOUNT", "4"),
            ("HAECHI_LOGIN__ATTEMPTS_PER_SOURCE", "20"),
        ],
    );
    // One account guessed at on every node in turn: four failures for the cluster.
    let mut statuses = Vec::new();
    for attempt in 0..12 {
        let server = &servers[attempt % servers.len()];
        let password = format!("guess {attempt}");
        statuses.push(guess(server, "kim@example.com".into(), password).await);
    }
    assert_eq!(statuses.iter().filter(|status| **status == 401).count(), 4);
    assert_eq!(statuses[4..], [429; 8], "{statuses:?}");
    // While it lasts, even the right password is refused, on every node.
    for server in &servers {
        let (status, _) = server
            .post_json(
                "/v1/auth/login",
                json!({"email": "kim@example.com", "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 429);
    }
    // The source (this test's one address) spent 12 + 3 of its 20 attempts; a guesser moving
    // from account to account gets the 5 left, whichever node it asks.
    let mut statuses = Vec::new();
    for attempt in 0..12 {
        let server = &servers[attempt % servers.len()];
        let email = format!("someone{attempt}@example.com");
        statuses.push(guess(server, email, "guess".into()).await);
    }
    assert_eq!(statuses[..5], [401; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 7], "{statuses:?}");
}

/// One login attempt with a wrong password: 401, or 429 once a limit is reached.
async fn guess(server: &Server, email: String, password: String) -> u16 {
    let (status, body) = server
        .post_json(
            "/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await;
    match status {
        401 => assert_eq!(body["error"], "invalid_credentials", "{body}"),
        429 => assert_eq!(body["error"], "rate_limited", "{body}"),
        other => panic!("unexpected {other}: {body}"),
    }
    status
}
