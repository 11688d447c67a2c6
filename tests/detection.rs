//! Detection and response through the real binary: a forged token raises an alert within
//! seconds and the forger's network is blocked (and stays blocked across a restart, until an
//! administrator lifts it); alerts reach a real webhook receiver with a valid HMAC, retried
//! after a failure, and an SSE stream; a bad rule file is reported and the rest run;
//! suspensions; `haechi detect replay` finds the forgery in the exported archive.
//!
//! The harness's server runs on 127.0.0.1, which is never blocked (`detect.never_block`);
//! these tests trust `X-Forwarded-For` to put the attacker on other networks.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use hmac::Mac as _;
use serde_json::{Value, json};

use crate::util::{Instance, Server, jwt_parts, sign_ed25519, status_and_json};

const PASSWORD: &str = "correct horse battery";
const ATTACKER: &str = "203.0.113.7";

/// An instance whose containment is enforced (the harness default is dry-run) and whose
/// client addresses come from `X-Forwarded-For`.
fn enforcing_instance() -> Instance {
    Instance::new()
        .with_env("HAECHI_DETECT__RESPONSE", "enforce")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        )
}

/// `GET path` from `address` (via `X-Forwarded-For`), with a bearer token if given.
async fn get_from(server: &Server, address: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = server
        .client
        .get(server.url(path))
        .header("x-forwarded-for", address);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    status_and_json(request.send().await.unwrap()).await
}

/// Polls `GET /v1/admin/alerts?query` until `predicate` holds for one alert; returns it.
async fn wait_for_alert(
    server: &Server,
    admin: &str,
    query: &str,
    mut predicate: impl FnMut(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = server
            .get_with(&format!("/v1/admin/alerts{query}"), admin)
            .await;
        assert_eq!(status, 200, "{body}");
        if let Some(alert) = body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|alert| predicate(alert))
        {
            return alert.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no such alert within 10 s: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Imports a key the test holds as the active signing key; returns its kid.
async fn import_key(server: &Server, admin: &str, key: &ed25519_dalek::SigningKey) -> String {
    let pem = key.to_pkcs8_pem(Default::default()).unwrap();
    let (status, body) = server
        .post_with("/v1/admin/keys", admin, json!({ "key": pem.as_str() }))
        .await;
    assert_eq!(status, 201, "import failed: {body}");
    body["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_forged_token_raises_an_alert_and_the_forgers_network_is_blocked_until_lifted() {
    let instance = enforcing_instance();
    let admin = instance.create_admin("root");
    instance.create_customer("victim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let stolen = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let kid = import_key(&server, &admin_token, &stolen).await;
    let genuine = server.login("victim@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (header, mut claims) = jwt_parts(&genuine);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let forged = sign_ed25519(&stolen, &header, &claims);

    // The forgery is refused, and within seconds it is an alert.
    let sent = Instant::now();
    let (status, body) = get_from(&server, ATTACKER, "/v1/auth/session", Some(&forged)).await;
    assert_eq!(status, 401, "{body}");
    let alert = wait_for_alert(
        &server,
        &admin_token,
        "?severity=critical&state=open",
        |alert| alert["rule_id"] == "haechi.token.forged",
    )
    .await;
    let latency = sent.elapsed();
    assert!(latency < Duration::from_secs(5), "alert after {latency:?}");
    assert_eq!(alert["severity"], "critical");
    assert_eq!(alert["state"], "open");
    assert_eq!(alert["group_key"], kid.as_str());
    assert_eq!(alert["context"]["ip"], ATTACKER);
    assert_eq!(alert["count"], 1);
    let actions: Vec<&Value> = alert["actions"].as_array().unwrap().iter().collect();
    assert!(
        actions
            .iter()
            .any(|action| action["kind"]["action"] == "block_network"
                && action["kind"]["network"] == format!("{ATTACKER}/32")
                && action["disposition"] == "enforce")
    );
    assert!(
        actions
            .iter()
            .any(|action| action["kind"]["action"] == "revoke_key"
                && action["kind"]["kid"] == kid.as_str())
    );
    let alert_id = alert["id"].as_str().unwrap().to_string();

    // Containment: the forger's next request is refused before anything looks at it, any
    // request at all; other networks and the administrator are not affected.
    let started = Instant::now();
    loop {
        let (status, body) = get_from(&server, ATTACKER, "/healthz", None).await;
        if status == 403 {
            assert_eq!(body["error"], "blocked", "{body}");
            assert!(body["until"].is_string());
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "not blocked: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        get_from(&server, "203.0.113.8", "/healthz", None).await.0,
        200
    );
    let (status, blocks) = server.get_with("/v1/admin/blocks", &admin_token).await;
    assert_eq!(status, 200);
    let block = blocks["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|block| block["network"] == format!("{ATTACKER}/32"))
        .unwrap_or_else(|| panic!("{blocks:#}"))
        .clone();
    assert_eq!(block["rule_id"], "haechi.token.forged");
    assert_eq!(block["alert_id"], alert_id.as_str());
    assert_eq!(block["created_by"], "admin:haechi-detect");
    // The key is revoked: every token it signed stops, the genuine one too.
    let started = Instant::now();
    loop {
        let (_, keys) = server.get_with("/v1/admin/keys", &admin_token).await;
        let state = keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .find(|key| key["kid"] == kid.as_str())
            .unwrap()["state"]
            .clone();
        if state == "revoked" {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "key still {state}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (status, _) = server.get_with("/v1/auth/session", &genuine).await;
    assert_eq!(status, 401);
    // Every act is on the record.
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .filter(|event| event["kind"] == "response.action")
            .count()
            >= 2
            && events.iter().any(|event| event["kind"] == "alert.raised")
    });
    let raised = events
        .iter()
        .find(|event| event["kind"] == "alert.raised")
        .unwrap();
    assert_eq!(raised["detail"]["alert_id"], alert_id.as_str());
    assert_eq!(raised["ip"], ATTACKER);
    assert_eq!(raised["kid"], kid.as_str());
    let actions: Vec<&Value> = events
        .iter()
        .filter(|event| event["kind"] == "response.action")
        .collect();
    for reason in ["block_network", "revoke_key"] {
        let action = actions
            .iter()
            .find(|event| event["reason"] == reason)
            .unwrap_or_else(|| panic!("no {reason} in {actions:#?}"));
        assert_eq!(action["detail"]["disposition"], "enforce");
        assert_eq!(action["detail"]["outcome"], "done");
        assert_eq!(action["detail"]["alert_id"], alert_id.as_str());
    }
    assert!(
        events
            .iter()
            .any(|event| event["kind"] == "key.revoked"
                && event["principal"] == "admin:haechi-detect")
    );

    // A restart keeps the block (SQLite) and the alert (replayed from the trail).
    assert_eq!(server.terminate(), Some(0));
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    assert_eq!(get_from(&server, ATTACKER, "/healthz", None).await.0, 403);
    let restored = wait_for_alert(&server, &admin_token, "", |alert| {
        alert["id"] == alert_id.as_str()
    })
    .await;
    assert_eq!(restored["rule_id"], "haechi.token.forged");
    let (status, acknowledged) = server
        .post_with(
            &format!("/v1/admin/alerts/{}/ack", alert_id.replace('/', "%2F")),
            &admin_token,
            json!({ "note": "INC-1: key copy found on a build server" }),
        )
        .await;
    assert_eq!(status, 200, "{acknowledged}");
    assert_eq!(acknowledged["state"], "acknowledged");
    assert_eq!(
        acknowledged["acknowledgement"]["acknowledged_by"],
        "admin:root"
    );
    let (_, open) = server
        .get_with(
            "/v1/admin/alerts?state=open&rule=haechi.token.forged",
            &admin_token,
        )
        .await;
    assert_eq!(open["total"], 0, "{open}");

    // Lifting the block lets the network back in at once, and is on the record.
    let block_id = block["id"].as_u64().unwrap();
    let response = server
        .client
        .delete(server.url(&format!("/v1/admin/blocks/{block_id}")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    let (status, lifted) = status_and_json(response).await;
    assert_eq!(status, 200, "{lifted}");
    assert_eq!(lifted["lifted"]["network"], format!("{ATTACKER}/32"));
    assert_eq!(get_from(&server, ATTACKER, "/healthz", None).await.0, 200);
    let response = server
        .client
        .delete(server.url(&format!("/v1/admin/blocks/{block_id}")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "response.lifted")
    });
    let lift = events
        .iter()
        .find(|event| event["kind"] == "response.lifted")
        .unwrap();
    assert_eq!(lift["principal"], "admin:root");
    assert_eq!(lift["detail"]["network"], format!("{ATTACKER}/32"));
    // An administrator's own block is validated: never wider than /16, never the host.
    for (network, expected) in [
        ("10.0.0.0/8", 422),
        ("127.0.0.1", 422),
        ("198.51.100.0/24", 201),
    ] {
        let (status, body) = server
            .post_with(
                "/v1/admin/blocks",
                &admin_token,
                json!({ "network": network, "ttl_secs": 60, "reason": "drill" }),
            )
            .await;
        assert_eq!(status, expected, "{network}: {body}");
    }
    assert_eq!(
        get_from(&server, "198.51.100.9", "/healthz", None).await.0,
        403
    );
    assert_eq!(server.terminate(), Some(0));

    // The hunt: the exported archive, replayed, shows the forgery (and nothing is acted on).
    let archive = instance.dir.path().join("archive");
    let archive_arg = archive.to_str().unwrap();
    let (code, _, stderr) = instance.run(&["audit", "export", "--to", archive_arg, "--seal"], None);
    assert_eq!(code, 0, "{stderr}");
    for args in [
        vec![
            "detect",
            "replay",
            archive_arg,
            "--format",
            "json",
            "--quiet",
        ],
        vec!["detect", "replay", "--live", "--format", "json", "--quiet"],
    ] {
        let (code, stdout, stderr) = instance.run(&args, None);
        assert_eq!(code, 1, "{args:?}: {stdout}{stderr}");
        let records: Vec<Value> = stdout
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        // Incidents come first, then the alerts inside them.
        let first_alert = records
            .iter()
            .position(|record| record["record"] == "alert")
            .unwrap_or_else(|| panic!("{args:?}: {stdout}"));
        assert!(first_alert > 0, "an incident precedes the alerts: {stdout}");
        assert!(
            records[..first_alert]
                .iter()
                .all(|r| r["record"] == "incident")
        );
        let forged_incident = records[..first_alert]
            .iter()
            .find(|incident| {
                incident["rules"]
                    .as_array()
                    .is_some_and(|rules| rules.iter().any(|r| r == "haechi.token.forged"))
            })
            .unwrap_or_else(|| panic!("{args:?}: {stdout}"));
        assert_eq!(forged_incident["severity"], "critical");
        assert!(
            forged_incident["indicators"]["networks"]["values"]
                .as_array()
                .unwrap()
                .iter()
                .any(|ip| ip == ATTACKER),
            "{forged_incident}"
        );
        let alerts = &records[first_alert..];
        let replayed = alerts
            .iter()
            .find(|alert| alert["rule_id"] == "haechi.token.forged")
            .unwrap_or_else(|| panic!("{args:?}: {stdout}"));
        assert_eq!(
            replayed["id"],
            alert_id.as_str(),
            "alert ids are deterministic"
        );
        assert!(stderr.contains("alerts from"), "{stderr}");
    }
    let (code, table, _) = instance.run(&["detect", "replay", archive_arg, "--quiet"], None);
    assert_eq!(code, 1);
    assert!(table.contains("haechi.token.forged"), "{table}");
    assert!(table.starts_with("INCIDENTS\nINC-"), "{table}");
    // Recorded, the hunt's incident is the store's: listed, and scoped exactly.
    let (code, _, stderr) = instance.run(
        &[
            "detect",
            "replay",
            archive_arg,
            "--quiet",
            "--record-incidents",
        ],
        None,
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("recorded"), "{stderr}");
    let (_, listed, _) = instance.run(&["incident", "list", "--json"], None);
    let recorded: Value = listed
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .find(|incident| {
            incident["rules"]
                .as_array()
                .unwrap()
                .iter()
                .any(|rule| rule == "haechi.token.forged")
        })
        .unwrap_or_else(|| panic!("{listed}"));
    let id = recorded["id"].as_str().unwrap();
    let (code, scoped, stderr) = instance.run(
        &[
            "scope",
            "--incident",
            id,
            "--archive",
            archive_arg,
            "--no-live-log",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let scoped: Value = serde_json::from_str(&scoped).unwrap();
    assert_eq!(scoped["custody"]["query"]["incident"]["id"], id);
    assert!(
        table.contains(&format!("would block_network {ATTACKER}/32")),
        "{table}"
    );
}

/// A rule file raising one alert per failed login, grouped by user agent (so each probe is a
/// new alert).
const PROBE_RULE: &str = r#"
id: test.failed_login
title: A failed login (test probe)
description: Every failed login, one alert per user agent.
false_positives: All of them; this is a test rule.
severity: high
fields: [ip, user_agent]
detection:
  failed:
    kind: auth.login_failed
    user_agent|startswith: probe-
  condition: failed
group-by: [user_agent]
"#;

/// What the receiver saw: signature header and body of each delivery.
type Deliveries = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A webhook receiver on a real socket, over HTTPS with a certificate of a private CA (whose
/// PEM it returns), that answers 500 to the first delivery and 200 after.
async fn start_receiver() -> (String, Deliveries, String) {
    let (listener, ca_pem) = crate::tls_listener::TlsListener::bind().await;
    let port = axum::serve::Listener::local_addr(&listener).unwrap().port();
    let deliveries: Deliveries = Arc::default();
    let seen = deliveries.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let seen = seen.clone();
                async move {
                    let signature = headers
                        .get("x-haechi-signature")
                        .and_then(|value| value.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    let mut seen = seen.lock().unwrap();
                    seen.push((signature, body.to_vec()));
                    if seen.len() == 1 {
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            },
        ),
    );
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (format!("https://localhost:{port}/hook"), deliveries, ca_pem)
}

/// Checks `t=…,v1=…` against HMAC-SHA256(secret, "t." ‖ body).
fn signature_is_valid(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut timestamp = None;
    let mut signature = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => timestamp = Some(value.to_string()),
            Some(("v1", value)) => signature = hex::decode(value).ok(),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return false;
    };
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

#[tokio::test]
async fn alerts_reach_a_signed_webhook_with_retries_and_an_sse_stream_and_bad_rules_are_skipped() {
    let (url, deliveries, ca_pem) = start_receiver().await;
    let secret = "a webhook secret of enough bytes";
    let ca_dir = tempfile::tempdir().unwrap();
    let ca_file = ca_dir.path().join("webhook-ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let instance = Instance::new()
        .with_env("HAECHI_DETECT__WEBHOOK__URL", &url)
        .with_env("HAECHI_DETECT__WEBHOOK__CA_FILE", ca_file.to_str().unwrap())
        .with_env("HAECHI_DETECT__WEBHOOK__SECRET", secret);
    let rules = instance.data_dir().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("probe.yaml"), PROBE_RULE).unwrap();
    // One good and one bad rule in a second file: the bad one is reported with file, rule
    // and line, the good one runs, and so does the server.
    std::fs::write(
        rules.join("broken.yaml"),
        "id: test.broken\ntitle: Broken\ndescription: d\nfalse_positives: f\nseverity: high\n\
         detection:\n  bad:\n    kind: pii.read\n    colour: red\n  condition: bad\n",
    )
    .unwrap();
    let admin = instance.create_admin("root");
    let (code, stdout, _) = instance.run(&["detect", "check"], None);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("test.failed_login"), "{stdout}");
    assert!(stdout.contains("broken.yaml:9:"), "{stdout}");
    assert!(stdout.contains("rule test.broken"), "{stdout}");
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let log = server.log().join("\n");
    assert!(
        log.contains("broken.yaml:9:") && log.contains("rule test.broken"),
        "the bad rule is not reported: {log}"
    );

    // An SSE stream, opened before the alert.
    let mut stream = server
        .client
        .get(server.url("/v1/admin/alerts/stream"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    assert!(
        stream.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );

    let response = server
        .client
        .post(server.url("/v1/auth/login"))
        .header("user-agent", "probe-1")
        .json(&json!({"email": "nobody@example.com", "password": "wrong password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    let mut received = String::new();
    let started = Instant::now();
    while !received.contains("event: raised") {
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .expect("no alert on the stream within 10 s")
            .unwrap()
            .expect("the stream ended");
        received.push_str(&String::from_utf8_lossy(&chunk));
        assert!(started.elapsed() < Duration::from_secs(10));
    }
    let data = received
        .lines()
        .skip_while(|line| *line != "event: raised")
        .find_map(|line| line.strip_prefix("data: "))
        .unwrap();
    let notice: Value = serde_json::from_str(data).unwrap();
    assert_eq!(notice["type"], "raised");
    assert_eq!(notice["alert"]["rule_id"], "test.failed_login");
    assert_eq!(notice["alert"]["group_key"], "probe-1");
    drop(stream);

    // The webhook: the first delivery is answered 500, the retry (after about a second) 200;
    // both carry the same body with a valid signature.
    let started = Instant::now();
    while deliveries.lock().unwrap().len() < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "webhook deliveries: {:?}",
            deliveries.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deliveries = deliveries.lock().unwrap().clone();
    assert_eq!(deliveries[0].1, deliveries[1].1);
    for (signature, body) in &deliveries {
        assert!(
            signature_is_valid(secret, signature, body),
            "bad signature {signature}"
        );
        assert!(!signature_is_valid(
            "another secret of enough bytes",
            signature,
            body
        ));
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["type"], "alert.raised");
        assert_eq!(body["alert"]["rule_id"], "test.failed_login");
        assert_eq!(body["alert"]["context"]["user_agent"], "probe-1");
    }
    // The harness runs containment as dry-run; nothing here asked for an action anyway.
    let (status, blocks) = server.get_with("/v1/admin/blocks", &admin_token).await;
    assert_eq!(status, 200);
    assert_eq!(blocks["blocks"], json!([]));
    assert_eq!(server.terminate(), Some(0));
}

#[tokio::test]
async fn a_suspended_principal_is_refused_until_the_suspension_is_lifted() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let customer = instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let token = server.login("kim@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let principal = format!("customer:{customer}");
    let (status, body) = server
        .post_with(
            "/v1/admin/suspensions",
            &admin_token,
            json!({ "principal": principal, "reason": "drill" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let event = server.refused_token_event("/v1/auth/session", &token).await;
    assert_eq!(event["reason"], "principal_suspended", "{event:#}");
    let (status, _) = server
        .post_json(
            "/v1/auth/login",
            json!({"email": "kim@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 403);
    let (_, listed) = server.get_with("/v1/admin/suspensions", &admin_token).await;
    assert_eq!(listed["suspensions"][0]["principal"], principal.as_str());

    let response = server
        .client
        .delete(server.url(&format!("/v1/admin/suspensions/{principal}")))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(server.get_with("/v1/auth/session", &token).await.0, 200);
    server.login("kim@example.com", PASSWORD).await;
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "response.lifted")
    });
    assert!(events.iter().any(|event| event["kind"] == "response.action"
        && event["reason"] == "suspend_principal"
        && event["detail"]["target_principal"] == principal.as_str()));
}
