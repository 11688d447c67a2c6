//! What one node decides, every node enforces: a token issued on one node verifies on the
//! others at once; a logout on one is refused by the others within the freshness bound.

use std::time::Duration;

use serde_json::json;

use super::{Cluster, time_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_issued_on_one_node_verifies_on_the_others_and_a_logout_reaches_them_all() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let nodes: Vec<_> = ["api-a", "api-b", "api-c"]
        .iter()
        .map(|id| cluster.node_instance(id))
        .collect();
    let servers: Vec<_> = nodes
        .iter()
        .map(|node| cluster.start_node(node, "api"))
        .collect();
    cluster
        .ops
        .create_customer("minji@example.kr", "010-1234-5678", "correct horse battery");

    // Issued on A, verified on B and C (their ledgers read through to the store on a miss).
    let pair = servers[0]
        .login("minji@example.kr", "correct horse battery")
        .await;
    let token = pair["access_token"].as_str().unwrap();
    for server in &servers {
        let (status, body) = server.get_with("/v1/auth/session", token).await;
        assert_eq!(status, 200, "{body}");
    }

    // Logged out on B: A and C refuse it within the bound (1 s, plus one read of the change
    // log). They may answer 503 while they cannot confirm; they never accept it after.
    let (status, _) = servers[1]
        .post_with("/v1/auth/logout", token, json!({}))
        .await;
    assert_eq!(status, 204);
    for server in [&servers[0], &servers[2]] {
        let propagated = time_until(Duration::from_secs(5), || async {
            server.get_with("/v1/auth/session", token).await.0 == 401
        })
        .await;
        let propagated = propagated.expect("the logout never reached the node");
        eprintln!(
            "logout on api-b refused on {} after {propagated:?}",
            server.base
        );
    }
    // After the bound has passed no node accepts it, whichever answers.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for server in &servers {
        let (status, _) = server.get_with("/v1/auth/session", token).await;
        assert_eq!(status, 401);
    }
}

/// Each node keeps recently read records (sealed) in memory. A record changed or shredded on
/// one node is forgotten by the others through the change log: they answer the new record,
/// or 404, within the freshness bound — never the old one after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_changed_or_shredded_on_one_node_is_not_answered_from_another_nodes_cache() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let policy = cluster.write_policy("support-desk", "masked = 1000");
    let desk_credential = cluster
        .ops
        .create_service("support-desk", "support,account,erasure");
    let servers: Vec<_> = ["api-a", "api-b"]
        .iter()
        .map(|id| {
            let node = cluster
                .node_instance(id)
                .with_env("HAECHI_VAULT__POLICY_FILE", &policy);
            cluster.start_node(&node, "api")
        })
        .collect();
    let (a, b) = (&servers[0], &servers[1]);
    let desk = b.client_token(&desk_credential).await;
    let mut record = super::customer(7);
    record["password"] = json!("correct horse battery");
    let (status, body) = a.post_with("/v1/customers", &desk, record).await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();
    let customer = a
        .login("customer7@example.com", "correct horse battery")
        .await;
    let customer = customer["access_token"].as_str().unwrap().to_string();

    // B reads the record twice: the second answer comes from its cache.
    let (status, before) = b.get_with("/v1/customers/me", &customer).await;
    assert_eq!(status, 200, "{before}");
    let read = format!("/v1/customers/{id}?purpose=support");
    for _ in 0..2 {
        assert_eq!(b.get_with(&read, &desk).await.0, 200);
    }

    // Changed on A: B answers the new name within the bound, and never the old one after.
    let (status, body) = a
        .patch_with("/v1/customers/me", &customer, json!({"name": "박서연"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let renamed = time_until(Duration::from_secs(5), || async {
        b.get_with("/v1/customers/me", &customer).await.1["name"] == "박서연"
    })
    .await
    .expect("the change never reached api-b");
    eprintln!("a rename on api-a answered by api-b after {renamed:?}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for _ in 0..3 {
        assert_eq!(
            b.get_with("/v1/customers/me", &customer).await.1["name"],
            "박서연"
        );
    }

    // Shredded on A: B answers 404 within the bound, and never the record after.
    let desk_on_a = a.client_token(&desk_credential).await;
    let (status, body) = a
        .delete_with(&format!("/v1/customers/{id}"), &desk_on_a)
        .await;
    assert!(status == 200 || status == 204, "{status}: {body}");
    let gone = time_until(Duration::from_secs(5), || async {
        b.get_with(&read, &desk).await.0 == 404
    })
    .await
    .expect("the shred never reached api-b");
    eprintln!("a shred on api-a answered 404 by api-b after {gone:?}");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    for _ in 0..3 {
        assert_eq!(b.get_with(&read, &desk).await.0, 404);
    }
}
