//! Detection in a cluster through the real binary: an API node and a detection node
//! (`haechi serve --role api|detect`) on one PostgreSQL database and one NATS stream. A forged
//! token presented to the API node is recorded in its chain, reaches the detection node through
//! the stream, raises the alert there, and its block lands in the store every API node reads;
//! the detection node's `/readyz` and `/metrics` say it leads and how far it has evaluated.

use std::time::{Duration, Instant};

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use haechi_custody::{MasterKey, OsRandom};
use haechi_events::{Clock as _, SystemClock};
use haechi_respond::ContainmentStore as _;
use serde_json::{Value, json};

use crate::util::{Instance, Server, jwt_parts, sign_ed25519, status_and_json};

const PASSWORD: &str = "correct horse battery";
const ATTACKER: &str = "203.0.113.7";

/// A node's data directory on the cluster's store, with the cluster's master key.
fn node(database: &str, prefix: &str, master_key: &str) -> Instance {
    Instance::new()
        .with_env("HAECHI_MASTER_KEY", master_key)
        .with_env("HAECHI_STORE", database)
        .with_env("HAECHI_BUS__PREFIX", prefix)
        .with_env("HAECHI_DETECT__RESPONSE", "enforce")
        // The nodes of a shared store issue tokens as one authority, under one issuer.
        .with_env("HAECHI_TOKEN__ISSUER", "https://auth.haechi.test")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        )
}

#[tokio::test]
async fn a_forged_token_on_an_api_node_is_blocked_by_the_detection_node_through_the_store() {
    let Some(database) = haechi_testbed::postgres().await else {
        return;
    };
    let Some(nats) = haechi_testbed::nats() else {
        return;
    };
    let master_key = MasterKey::generate(&OsRandom).to_hex();
    let api = node(&database.url, &nats.prefix, &master_key);
    let admin = api.create_admin("root");
    api.create_customer("victim@example.com", "010-2345-6789", PASSWORD);
    let api_server = api.serve_with(&["--bus", &nats.url, "--node-id", "api-1", "--role", "api"]);
    // Its metrics on a listener of their own, as a Prometheus scraper would read them.
    let detector = node(&database.url, &nats.prefix, &master_key)
        .with_env("HAECHI_SERVER__METRICS_LISTEN", "127.0.0.1:0");
    let detect_server = detector.serve_with(&[
        "--bus",
        &nats.url,
        "--node-id",
        "detect-1",
        "--role",
        "detect",
    ]);
    let started = Instant::now();
    while readiness(&detect_server).await["detection"]["state"] != "leading" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the detection node does not lead: {}",
            readiness(&detect_server).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A key the attacker holds is in force, and signs a token the ledger never issued.
    let admin_token = api_server.client_token(&admin).await;
    let stolen = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = stolen.to_pkcs8_pem(Default::default()).unwrap();
    let (status, body) = api_server
        .post_with(
            "/v1/admin/keys",
            &admin_token,
            json!({ "key": pem.as_str() }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let kid = body["kid"].as_str().unwrap().to_string();
    let genuine = api_server.login("victim@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (header, mut claims) = jwt_parts(&genuine);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let forged = sign_ed25519(&stolen, &header, &claims);
    let sent = Instant::now();
    let response = api_server
        .client
        .get(api_server.url("/v1/auth/session"))
        .header("x-forwarded-for", ATTACKER)
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // The detection node's block is in the store the API nodes read.
    let store = haechi_store::PgStore::open(&database.url).await.unwrap();
    let block = loop {
        let blocks = store.active_blocks(SystemClock.now()).await.unwrap();
        if let Some(block) = blocks
            .into_iter()
            .find(|block| block.network.to_string() == format!("{ATTACKER}/32"))
        {
            break block;
        }
        assert!(
            sent.elapsed() < Duration::from_secs(15),
            "no block within 15 s; detection node log:\n{}",
            detect_server.log().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!(
        "forged token on the API node → block in PostgreSQL by the detection node: {:?}",
        sent.elapsed()
    );
    assert_eq!(block.rule_id.as_deref(), Some("haechi.token.forged"));
    assert_eq!(block.created_by.to_string(), "admin:haechi-detect");
    store.close().await;

    // The detection node raised it (an alert in its log) and says how far it has evaluated.
    assert!(
        detect_server
            .log()
            .iter()
            .any(|line| line.contains("detection alert raised")
                && line.contains("haechi.token.forged")),
        "{}",
        detect_server.log().join("\n")
    );
    let ready = readiness(&detect_server).await;
    assert_eq!(ready["detection"]["state"], "leading", "{ready}");
    assert!(
        ready["detection"]["evaluated_through"].as_u64().unwrap() > 0,
        "{ready}"
    );
    let metrics_url = detect_server
        .log()
        .iter()
        .find_map(|line| line.strip_prefix("haechi metrics on ").map(str::to_string))
        .unwrap();
    let metrics = detect_server
        .client
        .get(metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("haechi_detect_leader 1"), "{metrics}");
    assert!(
        metrics.contains("haechi_detect_evaluated_position"),
        "{metrics}"
    );
    // The alert is about the forged key.
    assert!(detect_server.log().iter().any(|line| line.contains(&kid)));
    drop(api_server);
    drop(detect_server);
}

async fn readiness(server: &Server) -> Value {
    let response = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    status_and_json(response).await.1
}
