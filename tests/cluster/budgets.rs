//! A scraper spreading its reads over every node gets one budget, not one per node.

use super::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scraper_round_robin_over_three_nodes_is_stopped_at_one_budget() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let policy = cluster.write_policy("scraper", "masked = 10");
    let scraper = cluster.ops.create_service("scraper", "support,account");
    let servers: Vec<_> = ["api-a", "api-b", "api-c"]
        .iter()
        .map(|id| {
            let node = cluster
                .node_instance(id)
                .with_env("HAECHI_VAULT__POLICY_FILE", &policy);
            let server = cluster.start_node(&node, "api");
            (node, server)
        })
        .collect();
    let token = servers[0].1.client_token(&scraper).await;
    let mut ids = Vec::new();
    for index in 0..30 {
        let (status, body) = servers[0]
            .1
            .post_with("/v1/customers", &token, super::customer(index))
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    let mut answered = 0;
    let mut refused = 0;
    for (index, id) in ids.iter().enumerate() {
        let server = &servers[index % servers.len()].1;
        let (status, body) = server
            .get_with(&format!("/v1/customers/{id}?purpose=support"), &token)
            .await;
        match status {
            200 => answered += 1,
            429 => {
                assert_eq!(body["error"], "quota_exceeded", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(
        (answered, refused),
        (10, 20),
        "one budget of 10 across three nodes"
    );
}
