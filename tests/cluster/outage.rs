//! NATS restarted under load: while the bus is away audited acts are refused (503, the
//! reason in the log only), nothing answered is lost, and the node recovers by itself.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_load_refuses_then_recovers_and_loses_nothing_answered() {
    let Some(mut nats) = haechi_testbed::PrivateNats::start() else {
        return;
    };
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let cluster = cluster.on_bus(&nats.url);
    let policy = cluster.write_policy("shop", "masked = 100000");
    let shop = cluster.ops.create_service("shop", "support,account");
    let node = cluster
        .node_instance("api-a")
        .with_env("HAECHI_VAULT__POLICY_FILE", &policy)
        .with_env("HAECHI_BUS__ACK_TIMEOUT", "1s");
    let server = cluster.start_node(&node, "api");
    let token = server.client_token(&shop).await;
    let mut ids = Vec::new();
    for index in 0..4 {
        let (status, body) = server
            .post_with("/v1/customers", &token, super::customer(index))
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }

    let answered = Arc::new(Mutex::new(HashSet::<String>::new()));
    let statuses = Arc::new(Mutex::new(Vec::<u16>::new()));
    let stop = Instant::now() + Duration::from_secs(4);
    let readers: Vec<_> = (0..4)
        .map(|reader| {
            let (client, base, token) = (server.client.clone(), server.base.clone(), token.clone());
            let (ids, answered, statuses) = (ids.clone(), answered.clone(), statuses.clone());
            tokio::spawn(async move {
                let mut round = 0usize;
                while Instant::now() < stop {
                    let id = &ids[(reader + round) % ids.len()];
                    round += 1;
                    let response = client
                        .get(format!("{base}/v1/customers/{id}?purpose=support"))
                        .bearer_auth(&token)
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    let request_id = response.headers()["x-request-id"]
                        .to_str()
                        .unwrap()
                        .to_string();
                    let body: Value = response.json().await.unwrap();
                    if status == 200 {
                        answered.lock().unwrap().insert(request_id);
                    } else {
                        assert_eq!(status, 503, "{body}");
                        assert_eq!(body["error"], "unavailable");
                        let message = body["message"].as_str().unwrap();
                        assert!(
                            !message.contains("nats") && !message.contains("127.0.0.1"),
                            "{message}"
                        );
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    statuses.lock().unwrap().push(status);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    nats.kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    nats.resume();
    for reader in readers {
        reader.await.unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    assert!(statuses.contains(&503), "the outage was not noticed");

    // Recovered by itself: reads are answered again.
    let recovered = super::time_until(Duration::from_secs(20), || async {
        server
            .get_with(&format!("/v1/customers/{}?purpose=support", ids[0]), &token)
            .await
            .0
            == 200
    })
    .await;
    assert!(
        recovered.is_some(),
        "the node did not recover after NATS came back"
    );

    // Nothing answered is missing from the stream, and every chain verifies.
    let answered = answered.lock().unwrap().clone();
    let (code, stdout, stderr) = cluster
        .ops
        .run(&["audit", "search", "--principal", "service:shop"], None);
    assert_eq!(code, 0, "{stderr}");
    let recorded: HashSet<String> = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["kind"] == "pii.read")
        .filter_map(|record| record["request_id"].as_str().map(str::to_string))
        .collect();
    let missing = answered.difference(&recorded).count();
    assert_eq!(missing, 0, "{missing} answered reads are not in the stream");
    let (code, stdout, stderr) = cluster.ops.run(&["audit", "verify"], None);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_restart_refuses_then_recovers_with_nothing_half_written() {
    let Some(postgres) = haechi_testbed::PrivatePostgres::start() else {
        return;
    };
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let cluster = cluster.on_store(&postgres.url);
    let policy = cluster.write_policy("shop", "masked = 100000");
    let shop = cluster.ops.create_service("shop", "support,account");
    let servers: Vec<_> = ["api-a", "api-b"]
        .iter()
        .map(|id| {
            let node = cluster
                .node_instance(id)
                .with_env("HAECHI_VAULT__POLICY_FILE", &policy);
            let server = cluster.start_node(&node, "api");
            (node, server)
        })
        .collect();
    let (a, b) = (&servers[0].1, &servers[1].1);
    let token = a.client_token(&shop).await;
    let (status, body) = a
        .post_with("/v1/customers", &token, super::customer(0))
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().unwrap().to_string();

    postgres.kill();
    // Both nodes refuse — reads, writes, new tokens — with 503 and no internals; never 500.
    let mut created_during_outage = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut refused = 0;
    let mut index = 1;
    while Instant::now() < deadline {
        for server in [a, b] {
            let (status, body) = server
                .get_with(&format!("/v1/customers/{id}?purpose=support"), &token)
                .await;
            assert!(status == 200 || status == 503, "{status}: {body}");
            let (status, body) = server
                .post_with("/v1/customers", &token, super::customer(index))
                .await;
            index += 1;
            match status {
                201 => created_during_outage.push(body["id"].as_str().unwrap().to_string()),
                503 => {
                    refused += 1;
                    let message = body["message"].as_str().unwrap();
                    assert!(
                        !message.contains("postgres") && !message.contains("SQL"),
                        "{message}"
                    );
                }
                other => panic!("{other}: {body}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refused > 0, "the outage was not noticed");
    postgres.resume();

    // Both nodes recover by themselves.
    for server in [a, b] {
        let recovered = super::time_until(Duration::from_secs(30), || async {
            server
                .get_with(&format!("/v1/customers/{id}?purpose=support"), &token)
                .await
                .0
                == 200
        })
        .await;
        assert!(recovered.is_some(), "{} did not recover", server.base);
    }
    // What was acknowledged is whole; shared decisions flow again (a revocation on A is
    // refused on B).
    for created in &created_during_outage {
        let (status, body) = b
            .get_with(&format!("/v1/customers/{created}?purpose=support"), &token)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let victim = a.client_token(&shop).await;
    assert_eq!(b.get_with("/v1/auth/session", &victim).await.0, 200);
    let response = a
        .client
        .post(a.url("/v1/oauth/revoke"))
        .bearer_auth(&token)
        .form(&[("token", victim.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let refused_on_b = super::time_until(Duration::from_secs(5), || async {
        b.get_with("/v1/auth/session", &victim).await.0 == 401
    })
    .await;
    assert!(
        refused_on_b.is_some(),
        "the revocation did not reach B after the restart"
    );
}
