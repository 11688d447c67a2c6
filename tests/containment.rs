//! Containment that cannot be turned against its owner, and budgets for credentials with no
//! history, through the real binary: a brand-new service credential reading customers fast is
//! suspended by detection long before its hourly quota; an automatic block of an address many
//! principals use (a load balancer, a carrier NAT) becomes an alert for a human, while a fresh
//! address is blocked as before.
//!
//! The harness's server runs on 127.0.0.1, which is never blocked; these tests trust
//! `X-Forwarded-For` to put clients on other networks.

use std::time::{Duration, Instant};

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use serde_json::{Value, json};

use crate::util::{Instance, Server, jwt_parts, sign_ed25519, status_and_json};

const PASSWORD: &str = "correct horse battery";

/// An instance whose containment is enforced and whose client addresses come from
/// `X-Forwarded-For`.
fn enforcing_instance() -> Instance {
    Instance::new()
        .with_env("HAECHI_DETECT__RESPONSE", "enforce")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        )
}

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

const POLICY: &str = r#"
[[grant]]
service = "fresh"
purposes = ["support"]
fields = ["*"]
access = "masked"

[quota]
masked = 500
"#;

/// Generates and imports `count` customers; returns their ids.
fn import_customers(instance: &Instance, count: usize) -> Vec<String> {
    let file = instance.dir.path().join("customers.jsonl");
    let count_text = count.to_string();
    let (code, _, stderr) = instance.run(
        &[
            "customers",
            "generate",
            "--count",
            &count_text,
            "--seed",
            "13",
            "--out",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = instance.run(&["customers", "import", file.to_str().unwrap()], None);
    assert_eq!(code, 0, "{stderr}");
    let output = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3, sys\nfor (id,) in sqlite3.connect(sys.argv[1]).execute('SELECT customer_id FROM customers'): print(id)",
        ])
        .arg(instance.data_dir().join("haechi.db"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let ids: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert_eq!(ids.len(), count);
    ids
}

#[tokio::test]
async fn a_brand_new_service_credential_is_suspended_by_detection_well_before_its_quota() {
    let instance = enforcing_instance();
    let admin = instance.create_admin("root");
    std::fs::write(instance.data_dir().join("policy.toml"), POLICY).unwrap();
    let thief = instance.create_service("fresh", "support");
    let ids = import_customers(&instance, 600);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let token = server.client_token(&thief).await;
    let budget = 60; // detect.new_service_customers_per_minute, default
    let quota = 500; // [quota] masked, above

    // The stolen credential reads distinct customers as fast as it can, from one network,
    // until something stops it.
    let mut read = 0;
    let mut stopped = None;
    for id in &ids {
        let (status, body) = get_from(
            &server,
            "198.51.100.20",
            &format!("/v1/customers/{id}?purpose=support"),
            Some(&token),
        )
        .await;
        if status == 200 {
            read += 1;
            continue;
        }
        stopped = Some((status, body));
        break;
    }
    let (status, body) = stopped.expect("the credential was never stopped");
    // Stopped by the suspension (its token refused), not by the quota (429).
    assert_eq!(status, 401, "{body}");
    assert_ne!(body["error"], "quota_exceeded", "{body}");
    assert!(
        read >= budget,
        "suspended after {read} customers, before the budget of {budget}"
    );
    assert!(
        read < quota,
        "{read} customers read before suspension: the quota ({quota}) stopped it, not detection"
    );

    let alert = server
        .wait_for_alert(&admin_token, "haechi.service.new_velocity")
        .await;
    assert_eq!(alert["group_key"], "service:fresh");
    assert_eq!(alert["severity"], "high");
    assert!(alert["actions"].as_array().unwrap().iter().any(|action| {
        action["kind"]["action"] == "suspend_principal" && action["disposition"] == "enforce"
    }));
    let (status, suspensions) = server.get_with("/v1/admin/suspensions", &admin_token).await;
    assert_eq!(status, 200);
    let suspension = suspensions["suspensions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|suspension| suspension["principal"] == "service:fresh")
        .unwrap_or_else(|| panic!("{suspensions:#}"))
        .clone();
    assert_eq!(suspension["rule_id"], "haechi.service.new_velocity");
    // Its next token is refused too.
    let response = server
        .client
        .post(server.url("/v1/oauth/token"))
        .basic_auth(&thief.0, Some(&thief.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
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
async fn a_block_of_an_address_many_principals_use_is_raised_for_a_human_not_enforced() {
    const SHARED: &str = "100.64.0.1"; // a carrier NAT
    const FRESH: &str = "203.0.113.50";
    let instance = enforcing_instance().with_env("HAECHI_DETECT__SHARED_ADDRESS_PRINCIPALS", "3");
    let admin = instance.create_admin("root");
    for index in 0..3 {
        instance.create_customer(
            &format!("user{index}@example.com"),
            &format!("010-2000-000{index}"),
            PASSWORD,
        );
    }
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    // Three customers log in successfully through the NAT today.
    for index in 0..3 {
        let response = server
            .client
            .post(server.url("/v1/auth/login"))
            .header("x-forwarded-for", SHARED)
            .json(&json!({ "email": format!("user{index}@example.com"), "password": PASSWORD }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    server.wait_for_events(|events| {
        events
            .iter()
            .filter(|event| event["kind"] == "auth.login_ok" && event["ip"] == SHARED)
            .count()
            == 3
    });

    // Somebody behind the NAT presents a forged token.
    let stolen = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    import_key(&server, &admin_token, &stolen).await;
    let genuine = server.login("user0@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (header, mut claims) = jwt_parts(&genuine);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let forged = sign_ed25519(&stolen, &header, &claims);
    let (status, _) = get_from(&server, SHARED, "/v1/auth/session", Some(&forged)).await;
    assert_eq!(status, 401);

    // The block becomes an alert for a human, recorded as a recommendation; the NAT is not
    // blocked.
    let withheld = server
        .wait_for_alert(&admin_token, "haechi.response.block_withheld")
        .await;
    assert_eq!(withheld["severity"], "high");
    assert_eq!(withheld["state"], "open");
    assert_eq!(withheld["group_key"], format!("{SHARED}/32"));
    assert_eq!(withheld["context"]["principals"], "3");
    assert_eq!(withheld["context"]["rule_id"], "haechi.token.forged");
    assert_eq!(withheld["actions"][0]["disposition"], "recommended");
    let events = server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["kind"] == "response.action"
                && event["reason"] == "block_network"
                && event["detail"]["network"] == format!("{SHARED}/32")
        })
    });
    let action = events
        .iter()
        .find(|event| {
            event["kind"] == "response.action"
                && event["detail"]["network"] == format!("{SHARED}/32")
        })
        .unwrap();
    assert_eq!(action["detail"]["disposition"], "recommended");
    assert_eq!(action["detail"]["outcome"], "recorded");
    assert_eq!(action["detail"]["shared_address"], SHARED);
    assert_eq!(get_from(&server, SHARED, "/healthz", None).await.0, 200);
    let (_, blocks) = server.get_with("/v1/admin/blocks", &admin_token).await;
    assert_eq!(blocks["blocks"].as_array().unwrap().len(), 0, "{blocks:#}");

    // The same forgery from an address nobody else uses is blocked, as before.
    let (status, _) = get_from(&server, FRESH, "/v1/auth/session", Some(&forged)).await;
    assert_eq!(status, 401);
    let started = Instant::now();
    loop {
        let (status, _) = get_from(&server, FRESH, "/healthz", None).await;
        if status == 403 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{FRESH} was not blocked"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(get_from(&server, SHARED, "/healthz", None).await.0, 200);
}
