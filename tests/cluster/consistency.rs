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
