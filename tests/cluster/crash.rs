//! A node killed mid-load loses nothing it acknowledged: every read it answered is in the
//! cluster's audit stream, and every chain there verifies.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use super::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_sixteen_readers_loses_no_acknowledged_read() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let policy = cluster.write_policy("shop", "masked = 100000");
    let shop = cluster.ops.create_service("shop", "support,account");
    let node = cluster
        .node_instance("api-a")
        .with_env("HAECHI_VAULT__POLICY_FILE", &policy);
    let mut server = cluster.start_node(&node, "api");
    let token = server.client_token(&shop).await;
    let mut ids = Vec::new();
    for index in 0..8 {
        let (status, body) = server
            .post_with("/v1/customers", &token, super::customer(index))
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }

    // Sixteen readers; each remembers the request id of every read answered 200.
    let answered = Arc::new(Mutex::new(HashSet::<String>::new()));
    let readers: Vec<_> = (0..16)
        .map(|reader| {
            let (client, base, token) = (server.client.clone(), server.base.clone(), token.clone());
            let (ids, answered) = (ids.clone(), answered.clone());
            tokio::spawn(async move {
                for round in 0usize.. {
                    let id = &ids[(reader + round) % ids.len()];
                    let response = client
                        .get(format!("{base}/v1/customers/{id}?purpose=support"))
                        .bearer_auth(&token)
                        .send()
                        .await;
                    let Ok(response) = response else { return };
                    let request_id = response
                        .headers()
                        .get("x-request-id")
                        .and_then(|value| value.to_str().ok())
                        .map(str::to_string);
                    if response.status() == 200
                        && let Some(request_id) = request_id
                    {
                        answered.lock().unwrap().insert(request_id);
                    }
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    for reader in readers {
        reader.await.unwrap();
    }
    let answered = answered.lock().unwrap().clone();
    assert!(
        answered.len() > 16,
        "the readers barely read: {}",
        answered.len()
    );

    // Every answered read is a pii.read of api-a in the stream.
    let (code, stdout, stderr) = cluster
        .ops
        .run(&["audit", "search", "--principal", "service:shop"], None);
    assert_eq!(code, 0, "{stderr}");
    let recorded: HashSet<String> = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["node"] == "api-a" && record["kind"] == "pii.read")
        .filter_map(|record| record["request_id"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<_> = answered.difference(&recorded).collect();
    assert!(
        missing.is_empty(),
        "{} answered reads not in the stream (of {} answered, {} recorded); first: {:?}; search said: {}",
        missing.len(),
        answered.len(),
        recorded.len(),
        missing.first(),
        stdout.lines().next().unwrap_or("nothing")
    );

    // The killed node's chain (and the operator's) verify.
    let (code, stdout, stderr) = cluster.ops.run(&["audit", "verify"], None);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("api-a"), "{stdout}");

    // Restarted, the node reconciles with the stream and serves again.
    let server = cluster.start_node(&node, "api");
    let (status, _) = server
        .get_with(&format!("/v1/customers/{}?purpose=support", ids[0]), &token)
        .await;
    assert_eq!(status, 200);
}
