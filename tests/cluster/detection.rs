//! Detection in a cluster through the real binary: an API node and a detection node
//! (`haechi serve --role api|detect`) on one PostgreSQL database and one NATS stream. A forged
//! token presented to the API node is recorded in its chain, reaches the detection node through
//! the stream, raises the alert there, and its block lands in the store every API node reads;
//! the detection node's `/readyz` and `/metrics` say it leads and how far it has evaluated.

use std::time::{Duration, Instant};

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use haechi_events::{Clock as _, SystemClock};
use haechi_respond::ContainmentStore as _;
use serde_json::{Value, json};

use super::Cluster;
use crate::util::{Instance, Server, jwt_parts, sign_ed25519, status_and_json};

const PASSWORD: &str = "correct horse battery";
const ATTACKER: &str = "203.0.113.7";

/// Node `node_id` of `cluster`, enforcing detection's responses, behind a trusted proxy.
fn node(cluster: &Cluster, node_id: &str) -> Instance {
    cluster
        .node_instance(node_id)
        .with_env("HAECHI_DETECT__RESPONSE", "enforce")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        )
}

#[tokio::test]
async fn a_forged_token_on_one_api_node_is_blocked_by_the_detection_node_on_every_api_node() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let admin = cluster.ops.create_admin("root");
    cluster
        .ops
        .create_customer("victim@example.com", "010-2345-6789", PASSWORD);
    let api_server = cluster.start_node(&node(&cluster, "api-1"), "api");
    // The node the attacker never touched: the block must reach it too.
    let other_api = cluster.start_node(&node(&cluster, "api-3"), "api");
    // Its metrics on a listener of their own, as a Prometheus scraper would read them.
    let detector =
        node(&cluster, "detect-1").with_env("HAECHI_SERVER__METRICS_LISTEN", "127.0.0.1:0");
    let detect_server = cluster.start_node(&detector, "detect");
    wait_for_state(&detect_server, "leading").await;

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
    let store = haechi_store::PgStore::open(&cluster.store_url)
        .await
        .unwrap();
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

    // The other API node learns of it through the change log, without a restart: the
    // attacker's address is refused there, even with a genuine token.
    let blocked = Instant::now();
    loop {
        let response = other_api
            .client
            .get(other_api.url("/v1/auth/session"))
            .header("x-forwarded-for", ATTACKER)
            .bearer_auth(&genuine)
            .send()
            .await
            .unwrap();
        if response.status() == 403 {
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "blocked", "{body}");
            break;
        }
        // Before the block arrives: served, or refused for the token (containment may have
        // ended the victim's session too) — never a failure.
        assert!(
            response.status() == 200 || response.status() == 401,
            "{}",
            response.status()
        );
        assert!(
            blocked.elapsed() < Duration::from_secs(10),
            "the other API node still serves the blocked address after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "block in PostgreSQL → enforced by the other API node: {:?}",
        blocked.elapsed()
    );

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

    // The detection node wrote the incident to the shared store: an API node that never saw
    // the attack lists it, contained, with the key and the address (within a flush).
    // (The stolen key was imported as the signing key and detection revoked it: a token this
    // node issues before the revocation reaches it dies with the key, so a 401 asks for a new
    // one.)
    let mut other_token = other_api.client_token(&admin).await;
    let listed = Instant::now();
    let incident = loop {
        let (status, body) = other_api
            .get_with("/v1/admin/incidents?state=contained", &other_token)
            .await;
        if status == 401 {
            other_token = other_api.client_token(&admin).await;
        } else {
            assert_eq!(status, 200, "{body}");
            if let Some(incident) = body["incidents"].as_array().unwrap().first() {
                break incident.clone();
            }
        }
        assert!(
            listed.elapsed() < Duration::from_secs(10),
            "no incident on the other API node within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(incident["severity"], "critical", "{incident:#}");
    assert!(
        incident["indicators"]["signing_keys"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|value| value == kid.as_str())
    );
    assert!(
        incident["indicators"]["networks"]["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|value| value == ATTACKER)
    );

    // The alert itself reaches every API node through the alert board: the node the attacker
    // never touched lists it (its alert API, stream and console read this desk), and an
    // acknowledgement taken on one API node shows on the other.
    let alert = alert_on(&other_api, &admin, "haechi.token.forged", |_| true).await;
    assert_eq!(alert["group_key"], kid.as_str(), "{alert:#}");
    assert_eq!(alert["context"]["ip"], ATTACKER, "{alert:#}");
    let id = alert["id"].as_str().unwrap().replace('/', "%2F");
    alert_on(&api_server, &admin, "haechi.token.forged", |_| true).await;
    let token = api_server.client_token(&admin).await;
    let (status, body) = api_server
        .post_with(
            &format!("/v1/admin/alerts/{id}/ack"),
            &token,
            json!({"note": "INC-1: the stolen key, revoked"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let acknowledged = alert_on(&other_api, &admin, "haechi.token.forged", |alert| {
        alert["state"] == "acknowledged"
    })
    .await;
    assert_eq!(
        acknowledged["acknowledgement"]["note"], "INC-1: the stolen key, revoked",
        "{acknowledged:#}"
    );
    // The console of that API node shows the alert's evidence: read from the cluster's stream
    // by sequence (this node's own log never saw the forged request).
    let client = haechi_outbound::plain_builder()
        .unwrap()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client
        .post(other_api.url("/console/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("client_id", &admin.0), ("client_secret", &admin.1)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = client
        .get(other_api.url(&format!("/console/alert?id={id}")))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("<td>token.forged</td>"), "{page}");
    assert!(
        page.contains(ATTACKER),
        "the forged request's address is shown"
    );
    drop(api_server);
    drop(other_api);
    drop(detect_server);
}

/// Waits up to 10 s for `server`'s alert API to list an alert of `rule` for which `holds`;
/// returns it. (A token dies with a key detection revokes: a 401 asks for a new one.)
async fn alert_on(
    server: &Server,
    admin: &(String, String),
    rule: &str,
    holds: impl Fn(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    let mut token = server.client_token(admin).await;
    loop {
        let (status, body) = server
            .get_with(&format!("/v1/admin/alerts?rule={rule}"), &token)
            .await;
        if status == 401 {
            token = server.client_token(admin).await;
        } else {
            assert_eq!(status, 200, "{body}");
            if let Some(alert) = body["alerts"].as_array().unwrap().iter().find(|a| holds(a)) {
                return alert.clone();
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no such {rule} alert on {} within 10 s: {body:#}",
            server.base
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Kills (SIGKILL) the leading detection node under a standby: the standby leads, a forged
/// token presented afterwards is blocked, and the attack the dead leader already handled is
/// not raised or blocked again.
#[tokio::test]
async fn a_standby_detection_node_takes_over_a_killed_leader_without_raising_twice() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let admin = cluster.ops.create_admin("root");
    cluster
        .ops
        .create_customer("victim@example.com", "010-2345-6789", PASSWORD);
    let api_server = cluster.start_node(&node(&cluster, "api-1"), "api");
    let mut first = cluster.start_node(&node(&cluster, "detect-1"), "detect");
    wait_for_state(&first, "leading").await;
    let second = cluster.start_node(&node(&cluster, "detect-2"), "detect");
    wait_for_state(&second, "standby").await;

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
    let genuine = api_server.login("victim@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (header, mut claims) = jwt_parts(&genuine);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let forged = sign_ed25519(&stolen, &header, &claims);
    let store = haechi_store::PgStore::open(&cluster.store_url)
        .await
        .unwrap();

    // Before the kill: detect-1 blocks the first network.
    present(&api_server, &forged, ATTACKER).await;
    wait_for_block(&store, ATTACKER, &first).await;
    first.child.kill().unwrap(); // SIGKILL: no goodbye, the lock goes with the connection
    first.child.wait().unwrap();
    let killed = Instant::now();
    wait_for_state(&second, "leading").await;
    eprintln!(
        "standby leads {:?} after the leader's SIGKILL",
        killed.elapsed()
    );

    // After it: detect-2 blocks the second network, and only that.
    const SECOND_ATTACKER: &str = "198.51.100.23";
    present(&api_server, &forged, SECOND_ATTACKER).await;
    wait_for_block(&store, SECOND_ATTACKER, &second).await;
    let raised_by_standby: Vec<String> = second
        .log()
        .into_iter()
        .filter(|line| line.contains("detection alert raised"))
        .collect();
    assert!(
        raised_by_standby
            .iter()
            .all(|line| !line.contains(ATTACKER)),
        "the standby raised the dead leader's alert again: {raised_by_standby:#?}"
    );
    let blocks = store.active_blocks(SystemClock.now()).await.unwrap();
    let first_network = format!("{ATTACKER}/32");
    assert_eq!(
        blocks
            .iter()
            .filter(|block| block.network.to_string() == first_network)
            .count(),
        1,
        "{blocks:?}"
    );
    // The stolen key is revoked, and whichever node revoked it, a key signs again: the API
    // node is ready and signs in the customer.
    store.close().await;
    let started = Instant::now();
    while readiness(&api_server).await["status"] != "ready" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the API node is not ready: {}",
            readiness(&api_server).await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(api_server.login("victim@example.com", PASSWORD).await["access_token"].is_string());
}

/// Presents `token` to `server` as a request from `from`; it must be refused.
async fn present(server: &Server, token: &str, from: &str) {
    let response = server
        .client
        .get(server.url("/v1/auth/session"))
        .header("x-forwarded-for", from)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

/// Waits (at most 15 s) for a block of `address` in the store, made by detection.
async fn wait_for_block(store: &haechi_store::PgStore, address: &str, detector: &Server) {
    let network = format!("{address}/32");
    let started = Instant::now();
    loop {
        let blocks = store.active_blocks(SystemClock.now()).await.unwrap();
        if blocks
            .iter()
            .any(|block| block.network.to_string() == network)
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no block of {address} within 15 s; detection node log:\n{}",
            detector.log().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (at most 20 s) for `server`'s detection to be in `state`.
async fn wait_for_state(server: &Server, state: &str) {
    let started = Instant::now();
    while readiness(server).await["detection"]["state"] != state {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "detection is not {state}: {}\nits log:\n{}",
            readiness(server).await,
            server.log().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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

/// Rules put through an API node (which runs no engine) reach the detection node within a
/// second or two, recorded once, and its engine alerts with them.
#[tokio::test]
async fn rules_put_on_an_api_node_run_on_the_detection_node() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let admin = cluster.ops.create_admin("root");
    let api_server = cluster.start_node(&node(&cluster, "api-1"), "api");
    let detect_server = cluster.start_node(&node(&cluster, "detect-1"), "detect");
    wait_for_state(&detect_server, "leading").await;
    let admin_token = api_server.client_token(&admin).await;

    let files = json!([{
        "name": "failures.yaml",
        "text": crate::rules::failures_rule("test.cluster", 3),
    }]);
    let put = Instant::now();
    let (status, changed) = api_server
        .put_with("/v1/admin/rules", &admin_token, json!({"files": files}))
        .await;
    assert_eq!(status, 202, "{changed}");
    assert_eq!(changed["applied"], false);
    let digest = changed["digest"].as_str().unwrap().to_string();
    let (_, on_api) = api_server.get_with("/v1/admin/rules", &admin_token).await;
    assert_eq!(on_api["in_force"]["engine_here"], false);
    assert_eq!(on_api["api_files"], files);

    let taken = loop {
        let (status, view) = detect_server
            .get_with("/v1/admin/rules", &admin_token)
            .await;
        assert_eq!(status, 200, "{view}");
        if view["in_force"]["digest"] == digest.as_str() {
            break put.elapsed();
        }
        assert!(put.elapsed() < Duration::from_secs(10), "{view:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("rules put on an API node ran on the detection node after {taken:?}");

    crate::rules::fail_logins(&api_server, 3).await;
    let started = Instant::now();
    loop {
        let (status, body) = detect_server
            .get_with("/v1/admin/alerts", &admin_token)
            .await;
        assert_eq!(status, 200, "{body}");
        if body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|alert| alert["rule_id"] == "test.cluster.burst")
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{body:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
