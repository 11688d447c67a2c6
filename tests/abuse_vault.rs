//! Abuse of the vault over real HTTP (issue 13, items 1, 8, 9 and 12): the lookup walk, the
//! restart that would refill a scraper's budget or undo an emergency deny, a contact change
//! pointed at someone else's number, and tokens that outlive a crypto-shred.

use std::time::Duration;

use serde_json::{Value, json};

use crate::util::{Instance, Server};

const PASSWORD: &str = "correct horse battery";

/// `walker` may look up by phone for support (masked) and create customers; `courier` sees
/// only masked addresses for delivery; `nosy` is granted everything for support but denied
/// the phone.
const POLICY: &str = r#"
[[grant]]
service = "walker"
purposes = ["support"]
fields = ["name", "phone"]
access = "masked"

[[grant]]
service = "walker"
purposes = ["account", "erasure"]
fields = ["name"]
access = "masked"

[[grant]]
service = "courier"
purposes = ["delivery"]
fields = ["addresses"]
access = "masked"

[[grant]]
service = "nosy"
purposes = ["support"]
fields = ["*"]
access = "masked"

[[deny]]
service = "nosy"
purposes = ["*"]
fields = ["phone"]

[quota]
window = "1h"
masked = 4
plaintext = 2
lookup_misses_per_minute = 10
"#;

fn phone(index: u32) -> String {
    format!("010-{}-{:04}", 3000 + index, 5000 + index)
}

fn email(index: u32) -> String {
    format!("walked{index}@example.com")
}

fn customer(index: u32) -> Value {
    json!({
        "name": "김민준",
        "email": email(index),
        "phone": phone(index),
        "password": PASSWORD,
    })
}

struct Vault {
    instance: Instance,
    server: Server,
    walker: (String, String),
    token: String,
}

fn instance_with(policy: &str) -> Instance {
    let instance = Instance::new();
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(instance.data_dir().join("policy.toml"), policy).unwrap();
    instance
}

async fn vault_with(instance: Instance) -> Vault {
    let walker = instance.create_service("walker", "support,account,erasure");
    let server = instance.serve();
    let token = server.client_token(&walker).await;
    Vault {
        instance,
        server,
        walker,
        token,
    }
}

impl Vault {
    async fn create(&self, index: u32) -> String {
        let (status, body) = self
            .server
            .post_with("/v1/customers", &self.token, customer(index))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn lookup_phone(&self, token: &str, phone: &str) -> (u16, Value) {
        self.server
            .post_with(
                "/v1/customers/lookup",
                token,
                json!({"phone": phone, "purpose": "support"}),
            )
            .await
    }

    /// Stops the server and starts it again on the same data directory.
    async fn restart(self) -> Vault {
        let Vault {
            instance,
            server,
            walker,
            ..
        } = self;
        assert_eq!(server.terminate(), Some(0));
        let server = instance.serve();
        let token = server.client_token(&walker).await;
        Vault {
            instance,
            server,
            walker,
            token,
        }
    }
}

fn scope_of(instance: &Instance, principal: &str) -> Value {
    let (code, stdout, stderr) = instance.run(
        &["scope", "--principal", principal, "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn scoped_customers(scope: &Value) -> Vec<String> {
    let mut ids: Vec<String> = scope["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["customer_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Item 1: a lookup is authorized like a read of the searched field — a service granted
/// only masked addresses, or denied the phone, cannot look up by phone.
#[tokio::test]
async fn a_service_not_granted_the_phone_cannot_look_up_by_phone() {
    let instance = instance_with(POLICY);
    let courier = instance.create_service("courier", "delivery");
    let nosy = instance.create_service("nosy", "support");
    let vault = vault_with(instance).await;
    vault.create(1).await;
    let courier = vault.server.client_token(&courier).await;
    let (status, body) = vault
        .server
        .post_with(
            "/v1/customers/lookup",
            &courier,
            json!({"phone": phone(1), "purpose": "delivery"}),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "forbidden");
    let nosy = vault.server.client_token(&nosy).await;
    let (status, body) = vault.lookup_phone(&nosy, &phone(1)).await;
    assert_eq!(status, 403, "deny wins: {body}");
    // The e-mail is granted to nosy, so that lookup works.
    let (status, body) = vault
        .server
        .post_with(
            "/v1/customers/lookup",
            &nosy,
            json!({"email": email(1), "purpose": "support"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events = vault.server.wait_for_events(|events| {
        events
            .iter()
            .filter(|event| event["kind"] == "pii.lookup" && event["decision"] == "deny")
            .count()
            >= 2
    });
    let refusals: Vec<&Value> = events
        .iter()
        .filter(|event| event["kind"] == "pii.lookup" && event["reason"] == "policy")
        .collect();
    assert_eq!(refusals.len(), 2, "{refusals:#?}");
}

/// Item 1: found customers are charged to the budget like reads, misses are rate-limited
/// per principal, and `haechi scope` of the walker names every customer it identified.
#[tokio::test]
async fn a_lookup_walk_is_charged_rate_limited_and_scoped() {
    let vault = vault_with(instance_with(POLICY)).await;
    let mut ids = Vec::new();
    for index in 0..5 {
        ids.push(vault.create(index).await);
    }
    // Four distinct customers fit the masked budget; the fifth does not.
    for index in 0..4 {
        let (status, body) = vault.lookup_phone(&vault.token, &phone(index)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ids"], json!([ids[index as usize]]));
    }
    let (status, body) = vault.lookup_phone(&vault.token, &phone(0)).await;
    assert_eq!(
        status, 200,
        "a customer already found costs nothing: {body}"
    );
    let (status, body) = vault.lookup_phone(&vault.token, &phone(4)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "quota_exceeded");
    // A walk is mostly misses: ten a minute, then refused.
    for number in 0..10 {
        let (status, body) = vault
            .lookup_phone(&vault.token, &format!("010-9999-{number:04}"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["ids"], json!([]));
    }
    let (status, body) = vault.lookup_phone(&vault.token, "010-9999-0010").await;
    assert_eq!(status, 429, "{body}");
    // The limit holds for hits too while it lasts: the walker learns nothing more.
    let (status, _) = vault.lookup_phone(&vault.token, &phone(1)).await;
    assert_eq!(status, 429);
    let events = vault.server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["kind"] == "pii.quota_exceeded" && event["reason"] == "lookup_misses"
        })
    });
    let hit = events
        .iter()
        .find(|event| event["kind"] == "pii.lookup" && event["customer_id"] == ids[0].as_str())
        .unwrap();
    assert_eq!(hit["fields"], json!(["phone"]));
    assert_eq!(hit["decision"], "mask");
    assert_eq!(hit["status"], 200);
    let miss = events
        .iter()
        .find(|event| event["kind"] == "pii.lookup" && event["reason"] == "no_match")
        .unwrap();
    assert!(miss["customer_id"].is_null());
    assert_eq!(vault.server.terminate(), Some(0));
    // Everyone the walker identified is exposed, their phone named.
    let scope = scope_of(&vault.instance, "service:walker");
    let mut expected: Vec<String> = ids[..4].to_vec();
    expected.sort();
    assert_eq!(scoped_customers(&scope), expected);
    assert_eq!(scope["summary"]["fields"]["phone"]["customers"], 4);
    assert_eq!(scope["summary"]["records_without_customer"], 0);
}

/// Item 1: a walk of numbers by a service allowed to look up is stopped by the built-in
/// lookup rule, which suspends the service when responses are enforced.
#[tokio::test]
async fn a_walking_service_is_suspended_by_the_lookup_rule() {
    let policy = POLICY.replace(
        "lookup_misses_per_minute = 10",
        "lookup_misses_per_minute = 1000",
    );
    let instance = instance_with(&policy).with_env("HAECHI_DETECT__RESPONSE", "enforce");
    let vault = vault_with(instance).await;
    vault.create(1).await;
    let mut refused = None;
    for number in 0..400 {
        let (status, body) = vault
            .lookup_phone(&vault.token, &format!("010-8888-{number:04}"))
            .await;
        if status != 200 {
            refused = Some((number, status, body));
            break;
        }
        if number >= 60 {
            // The rule fired at the fiftieth; its suspension reaches the request path
            // through the detection task.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (number, status, body) = refused.expect("the walk was never stopped");
    assert!(number >= 50, "stopped before the rule could fire: {number}");
    assert_eq!(status, 401, "{body}");
    let events = vault.server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["kind"] == "response.action" && event["reason"] == "suspend_principal"
        })
    });
    assert!(
        events.iter().any(|event| event["kind"] == "alert.raised"
            && event["detail"]["alert_id"]
                .as_str()
                .is_some_and(|id| id.starts_with("haechi.pii.lookup_miss_ratio/"))),
        "no lookup alert"
    );
    // New credentials do not help: the principal itself is suspended.
    let response = vault
        .server
        .client
        .post(vault.server.url("/v1/oauth/token"))
        .basic_auth(&vault.walker.0, Some(&vault.walker.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
}

/// Item 8: a restart does not hand a scraper a fresh budget.
#[tokio::test]
async fn restart_then_scrape_keeps_the_budget() {
    let vault = vault_with(instance_with(POLICY)).await;
    let mut ids = Vec::new();
    for index in 0..6 {
        ids.push(vault.create(index).await);
    }
    for id in &ids[..3] {
        let (status, body) = vault
            .server
            .get_with(&format!("/v1/customers/{id}?purpose=support"), &vault.token)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let vault = vault.restart().await;
    let read = |id: String| {
        let server = &vault.server;
        let token = vault.token.clone();
        async move {
            server
                .get_with(&format!("/v1/customers/{id}?purpose=support"), &token)
                .await
        }
    };
    // One more fits (four in all), a customer read before the restart costs nothing …
    assert_eq!(read(ids[3].clone()).await.0, 200);
    assert_eq!(read(ids[0].clone()).await.0, 200);
    // … and the fifth distinct customer is refused, as it would have been without the restart.
    let (status, body) = read(ids[4].clone()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "quota_exceeded");
}

/// Item 8: an emergency deny put through the API survives a restart; the versions are kept.
#[tokio::test]
async fn a_policy_put_survives_a_restart() {
    let instance = instance_with(POLICY);
    let admin = instance.create_admin("oncall");
    let vault = vault_with(instance).await;
    let id = vault.create(1).await;
    let path = format!("/v1/customers/{id}?purpose=support");
    assert_eq!(vault.server.get_with(&path, &vault.token).await.0, 200);
    let emergency =
        format!("{POLICY}\n[[deny]]\nservice = \"walker\"\npurposes = [\"*\"]\nfields = [\"*\"]\n");
    let admin_token = vault.server.client_token(&admin).await;
    let response = vault
        .server
        .client
        .put(vault.server.url("/v1/admin/policy"))
        .bearer_auth(&admin_token)
        .body(emergency.clone())
        .send()
        .await
        .unwrap();
    let (status, body) = crate::util::status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 2, "version 1 is the policy it replaced");
    let digest = body["sha256"].as_str().unwrap().to_string();
    assert_eq!(vault.server.get_with(&path, &vault.token).await.0, 403);
    let events = vault.server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["reason"] == "policy_replaced")
    });
    let audited = events
        .iter()
        .find(|event| event["reason"] == "policy_replaced")
        .unwrap();
    assert_eq!(audited["detail"]["policy_version"], "2");
    assert_eq!(audited["detail"]["policy_sha256"], digest.as_str());

    let vault = vault.restart().await;
    let (status, body) = vault.server.get_with(&path, &vault.token).await;
    assert_eq!(status, 403, "the deny came back after the restart: {body}");
    let data = vault.instance.data_dir();
    assert_eq!(
        std::fs::read_to_string(data.join("policy.toml")).unwrap(),
        emergency
    );
    assert_eq!(
        std::fs::read_to_string(data.join("policy.d/1.toml")).unwrap(),
        POLICY
    );
    assert_eq!(
        std::fs::read_to_string(data.join("policy.d/2.toml")).unwrap(),
        emergency
    );
}

async fn patch_me(server: &Server, token: &str, body: Value) -> (u16, Value) {
    let response = server
        .client
        .patch(server.url("/v1/customers/me"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    crate::util::status_and_json(response).await
}

async fn login_status(server: &Server, email: &str) -> u16 {
    server
        .post_json(
            "/v1/auth/login",
            json!({"email": email, "password": PASSWORD}),
        )
        .await
        .0
}

/// Item 9: a contact change moves the login with it, and an identifier another account holds
/// is refused, so a lookup cannot be pointed at someone else's number.
#[tokio::test]
async fn a_contact_change_moves_the_login_and_refuses_anothers_identifier() {
    let vault = vault_with(instance_with(POLICY)).await;
    let a = vault.create(1).await;
    let b = vault.create(2).await;
    let login = vault.server.login(&email(1), PASSWORD).await;
    let token = login["access_token"].as_str().unwrap();
    let (_, before) = vault.server.get_with("/v1/customers/me", token).await;
    let (status, body) = patch_me(&vault.server, token, json!({"phone": phone(2)})).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "conflict");
    let (status, body) = patch_me(&vault.server, token, json!({"email": email(2)})).await;
    assert_eq!(status, 409, "{body}");
    // Nothing changed: A's record, the index, and B's login.
    let (_, after) = vault.server.get_with("/v1/customers/me", token).await;
    assert_eq!(after, before);
    let (_, found) = vault.lookup_phone(&vault.token, &phone(2)).await;
    assert_eq!(found["ids"], json!([b]));
    assert_eq!(login_status(&vault.server, &email(2)).await, 200);

    let (status, body) =
        patch_me(&vault.server, token, json!({"email": "moved@example.com"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(login_status(&vault.server, "moved@example.com").await, 200);
    assert_eq!(login_status(&vault.server, &email(1)).await, 401);
    // The phone login still works, and lookups of A's phone still find A.
    let (status, _) = vault
        .server
        .post_json(
            "/v1/auth/login",
            json!({"phone": phone(1), "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, found) = vault.lookup_phone(&vault.token, &phone(1)).await;
    assert_eq!(found["ids"], json!([a]));
    // A new phone moves the phone login too; the old number is free.
    let (status, body) = patch_me(&vault.server, token, json!({"phone": phone(7)})).await;
    assert_eq!(status, 200, "{body}");
    let phone_login = |number: String| {
        let server = &vault.server;
        async move {
            server
                .post_json(
                    "/v1/auth/login",
                    json!({"phone": number, "password": PASSWORD}),
                )
                .await
                .0
        }
    };
    assert_eq!(phone_login(phone(7)).await, 200);
    assert_eq!(phone_login(phone(1)).await, 401);
    let (_, found) = vault.lookup_phone(&vault.token, &phone(7)).await;
    assert_eq!(found["ids"], json!([a]));
}

/// Item 12: crypto-shredding ends the customer's sessions: their access and refresh tokens
/// are refused at once.
#[tokio::test]
async fn crypto_shredding_ends_the_customers_sessions() {
    let vault = vault_with(instance_with(POLICY)).await;
    let id = vault.create(1).await;
    let login = vault.server.login(&email(1), PASSWORD).await;
    let access = login["access_token"].as_str().unwrap();
    let refresh = login["refresh_token"].as_str().unwrap();
    assert_eq!(
        vault.server.get_with("/v1/auth/session", access).await.0,
        200
    );
    let response = vault
        .server
        .client
        .delete(vault.server.url(&format!("/v1/customers/{id}")))
        .bearer_auth(&vault.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(
        vault.server.get_with("/v1/auth/session", access).await.0,
        401
    );
    assert_eq!(
        vault.server.get_with("/v1/customers/me", access).await.0,
        401
    );
    let (status, body) = vault
        .server
        .post_json("/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert!(matches!(status, 400 | 401), "{status} {body}");
    let events = vault.server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "token.revoked" && event["reason"] == "erased")
    });
    let revoked = events
        .iter()
        .find(|event| event["kind"] == "token.revoked" && event["reason"] == "erased")
        .unwrap();
    assert_eq!(revoked["customer_id"], id.as_str());
    assert_eq!(revoked["sid"], login["session_id"]);
}
