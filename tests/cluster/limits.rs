//! The limits an outsider could multiply by spreading over nodes are one allowance for the
//! cluster: a lookup enumerator gets one service's misses per minute, a password guesser one
//! account's failures and one source's attempts, however many nodes they go round. A limit
//! the store cannot answer refuses the request (503); it never lets it pass.

use serde_json::json;

use super::Cluster;
use crate::util::Server;

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
    let policy = cluster.write_policy("walker", "lookup_misses_per_minute = 6");
    let walker = cluster.ops.create_service("walker", "support,account");
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

/// The tables the limits are counted in, and where a test moves them out of the way.
const LIMIT_TABLES: [&str; 3] = ["distinct_reads", "lookup_misses", "sign_in_attempts"];

async fn rename_limit_tables(store_url: &str, from: &str, to: &str) {
    let pool = sqlx::PgPool::connect(store_url).await.unwrap();
    for table in LIMIT_TABLES {
        // Names from the constant list above and the test's own suffixes.
        let rename = format!("ALTER TABLE {table}{from} RENAME TO {table}{to}");
        sqlx::query(sqlx::AssertSqlSafe(rename))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_the_store_cannot_answer_refuses_the_request_and_never_lets_it_pass() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let policy = cluster.write_policy("walker", "lookup_misses_per_minute = 6");
    let walker = cluster.ops.create_service("walker", "support,account");
    cluster
        .ops
        .create_customer("kim@example.com", "010-2345-6789", "correct horse battery");
    let node = cluster
        .node_instance("api-a")
        .with_env("HAECHI_VAULT__POLICY_FILE", &policy);
    let server = cluster.start_node(&node, "api");
    let token = server.client_token(&walker).await;
    let (status, body) = server
        .post_with("/v1/customers", &token, super::customer(1))
        .await;
    assert_eq!(status, 201, "{body}");
    let read = format!(
        "/v1/customers/{}?purpose=support",
        body["id"].as_str().unwrap()
    );
    let lookup = json!({"phone": "010-7777-0001", "purpose": "support"});
    let login = json!({"email": "kim@example.com", "password": "correct horse battery"});
    // The rest of the store answers; only the limits' tables are gone.
    rename_limit_tables(&cluster.store_url, "", "_away").await;
    for (what, (status, body)) in [
        ("read", server.get_with(&read, &token).await),
        (
            "lookup",
            server
                .post_with("/v1/customers/lookup", &token, lookup.clone())
                .await,
        ),
        (
            "login",
            server.post_json("/v1/auth/login", login.clone()).await,
        ),
    ] {
        assert_eq!(status, 503, "{what}: {body}");
        assert_eq!(body["error"], "unavailable", "{what}: {body}");
        let message = body["message"].as_str().unwrap();
        assert!(
            !message.contains("sign_in") && !message.contains("lookup_misses"),
            "{message}"
        );
    }
    rename_limit_tables(&cluster.store_url, "_away", "").await;
    assert_eq!(server.get_with(&read, &token).await.0, 200);
    assert_eq!(
        server
            .post_with("/v1/customers/lookup", &token, lookup)
            .await
            .0,
        200
    );
    server
        .login("kim@example.com", "correct horse battery")
        .await;
}
