//! The PII vault over real HTTP: policy, masks, object-level authorization, quotas,
//! validation, crypto-shredding, and the raw bytes on disk.

use serde_json::{Value, json};

use crate::util::{Instance, Server, contains, files_under};

const POLICY: &str = r#"
[[grant]]
service = "shop"
purposes = ["shipping"]
fields = ["name", "phone", "addresses"]
access = "plaintext"

[[grant]]
service = "shop"
purposes = ["support"]
fields = ["*"]
access = "masked"

[[grant]]
service = "shop"
purposes = ["account", "erasure"]
fields = ["name"]
access = "masked"

[[deny]]
service = "*"
purposes = ["shipping"]
fields = ["customs_code"]

[quota]
window = "1h"
masked = 5
plaintext = 3
"#;

const PASSWORD: &str = "correct horse battery";

const NAMES: [&str; 7] = [
    "김민준",
    "이서연",
    "박지호",
    "최수아",
    "정도윤",
    "강하은",
    "조시우",
];

fn customer(index: u32) -> Value {
    let name = NAMES[index as usize % NAMES.len()];
    json!({
        "name": name,
        "email": format!("customer{index}@example.com"),
        "phone": format!("010-{}-{:04}", 2000 + index, 1000 + index),
        "birth_date": "1990-04-01",
        "customs_code": format!("P{:012}", 100_000_000_000u64 + u64::from(index)),
        "addresses": [{
            "recipient": "김민준",
            "phone": format!("010-{}-{:04}", 2000 + index, 1000 + index),
            "road_address": "서울특별시 송파구 올림픽로 300",
            "detail": "101동 1203호",
            "postal_code": "05551",
            "entrance_note": "공동현관 #1234*",
        }],
        "password": PASSWORD,
    })
}

struct Shop {
    server: Server,
    token: String,
    _instance: Instance,
}

async fn shop() -> Shop {
    let instance = Instance::new();
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(instance.data_dir().join("policy.toml"), POLICY).unwrap();
    let credential = instance.create_service("shop", "shipping,support,account,erasure,marketing");
    let server = instance.serve();
    let token = server.client_token(&credential).await;
    Shop {
        server,
        token,
        _instance: instance,
    }
}

impl Shop {
    async fn create(&self, index: u32) -> String {
        let (status, body) = self
            .server
            .post_with("/v1/customers", &self.token, customer(index))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn read(&self, id: &str, query: &str) -> (u16, Value) {
        self.server
            .get_with(&format!("/v1/customers/{id}?{query}"), &self.token)
            .await
    }
}

#[tokio::test]
async fn services_read_masked_or_plaintext_as_the_policy_says() {
    let shop = shop().await;
    let id = shop.create(1).await;

    let (status, body) = shop.read(&id, "purpose=support").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "이*연");
    assert_eq!(body["email"], "c***@example.com");
    assert_eq!(body["phone"], "010-****-1001");
    assert_eq!(body["customs_code"], "P*********001");
    assert_eq!(body["birth_date"], "1990-**-**");
    let address = &body["addresses"][0];
    assert_eq!(address["road_address"], "서울특별시 송파구 올림픽로");
    assert_eq!(address["entrance_note"], "****");
    // Nothing of the detail ("101동 1203호") anywhere but in the random ids, which may hold
    // those digits by chance.
    let mut without_ids = body.clone();
    without_ids["id"] = Value::Null;
    for address in without_ids["addresses"].as_array_mut().unwrap() {
        address["id"] = Value::Null;
    }
    assert!(
        !without_ids.to_string().contains("1203"),
        "detail leaked: {body}"
    );

    let (status, body) = shop.read(&id, "purpose=shipping").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "이서연");
    assert_eq!(body["phone"], "010-2001-1001");
    assert_eq!(body["addresses"][0]["detail"], "101동 1203호");
    // Entrance notes never leave in plaintext to a service, whatever the policy says.
    assert_eq!(body["addresses"][0]["entrance_note"], "****");
    assert!(
        body.get("email").is_none(),
        "email is not granted for shipping"
    );
    assert!(body.get("customs_code").is_none());

    let cases = [
        ("", 400, "bad_request"),
        ("purpose=shipping&fields=email", 403, "forbidden"),
        ("purpose=shipping&fields=customs_code", 403, "forbidden"),
        ("purpose=marketing", 403, "forbidden"),
        ("purpose=payroll", 403, "forbidden"),
        ("purpose=support&fields=ssn", 400, "bad_request"),
    ];
    for (query, status, code) in cases {
        let (got, body) = shop.read(&id, query).await;
        assert_eq!(got, status, "{query}: {body}");
        assert_eq!(body["error"], code, "{query}: {body}");
    }
    let (status, body) = shop
        .read("c0000000000000000000000000000000", "purpose=support")
        .await;
    assert_eq!(status, 404, "{body}");

    let events = shop.server.wait_for_events(|events| {
        events.iter().filter(|e| e["kind"] == "pii.read").count() >= 2 + cases.len()
    });
    let reads: Vec<&Value> = events.iter().filter(|e| e["kind"] == "pii.read").collect();
    let support = reads
        .iter()
        .find(|e| e["purpose"] == "support" && e["decision"] == "mask")
        .unwrap();
    assert_eq!(support["customer_id"], id.as_str());
    assert_eq!(support["principal"], "service:shop");
    assert!(support["jti"].is_string() && support["kid"].is_string() && support["sid"].is_string());
    assert!(
        reads
            .iter()
            .any(|e| e["purpose"] == "shipping" && e["decision"] == "allow")
    );
    assert!(
        reads
            .iter()
            .any(|e| e["decision"] == "deny" && e["reason"] == "missing_purpose")
    );
    // No plaintext personal data in any event or log line.
    let log = shop.server.log().join("\n");
    for secret in [
        "이서연",
        "customer1@example.com",
        "01020011001",
        "010-2001-1001",
        "올림픽로",
        "P100000000001",
        "1234*",
    ] {
        assert!(!log.contains(secret), "the log contains {secret}");
    }
}

#[tokio::test]
async fn customers_read_and_change_only_their_own_record() {
    let shop = shop().await;
    let alice = shop.create(1).await;
    let bob = shop.create(2).await;
    let alice_login = shop.server.login("customer1@example.com", PASSWORD).await;
    let token = alice_login["access_token"].as_str().unwrap();

    let (status, own) = shop.server.get_with("/v1/customers/me", token).await;
    assert_eq!(status, 200, "{own}");
    assert_eq!(own["email"], "customer1@example.com");
    // The customer sees their own entrance note.
    assert_eq!(own["addresses"][0]["entrance_note"], "공동현관 #1234*");

    // Another customer's id, a guessed id, and her own id on the service path: all 404.
    for id in [
        bob.as_str(),
        "c00000000000000000000000000000001",
        alice.as_str(),
    ] {
        let (status, body) = shop
            .server
            .get_with(&format!("/v1/customers/{id}?purpose=support"), token)
            .await;
        assert_eq!(status, 404, "{id}: {body}");
    }
    let (status, _) = shop
        .server
        .post_with(
            "/v1/customers:batchGet",
            token,
            json!({"ids": [bob], "purpose": "support"}),
        )
        .await;
    assert_eq!(status, 404);
    let events = shop
        .server
        .wait_for_events(|events| events.iter().any(|e| e["reason"] == "not_owner"));
    let denied = events.iter().find(|e| e["reason"] == "not_owner").unwrap();
    assert_eq!(denied["customer_id"], bob.as_str());
    assert_eq!(denied["decision"], "deny");

    // PATCH changes only her own record; an invalid field changes nothing.
    let response = shop
        .server
        .client
        .patch(shop.server.url("/v1/customers/me"))
        .bearer_auth(token)
        .json(&json!({"name": "김민지", "phone": "010-123"}))
        .send()
        .await
        .unwrap();
    let (status, body) = crate::util::status_and_json(response).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["fields"][0]["field"], "phone");
    let (_, unchanged) = shop.server.get_with("/v1/customers/me", token).await;
    assert_eq!(
        unchanged["name"], "이서연",
        "a failed PATCH must leave the record as it was"
    );
    let response = shop
        .server
        .client
        .patch(shop.server.url("/v1/customers/me"))
        .bearer_auth(token)
        .json(&json!({"name": "김민지"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (_, bob_view) = shop.read(&bob, "purpose=shipping").await;
    assert_eq!(bob_view["name"], "박지호", "bob's record must not change");

    // Address book: add, list, remove.
    let (status, added) = shop
        .server
        .post_with(
            "/v1/customers/me/addresses",
            token,
            json!({"recipient": "김민지", "phone": "02-345-6789", "road_address": "부산광역시 해운대구 해운대로 100", "postal_code": "48094"}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let (_, book) = shop
        .server
        .get_with("/v1/customers/me/addresses", token)
        .await;
    assert_eq!(book["addresses"].as_array().unwrap().len(), 2);
    let response = shop
        .server
        .client
        .delete(shop.server.url(&format!(
            "/v1/customers/me/addresses/{}",
            added["id"].as_str().unwrap()
        )))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
}

#[tokio::test]
async fn quotas_count_distinct_customers_per_service() {
    let shop = shop().await;
    let mut ids = Vec::new();
    for index in 0..5 {
        ids.push(shop.create(index).await);
    }
    // Plaintext budget is 3 distinct customers per hour; re-reading one costs nothing.
    for id in &ids[..3] {
        assert_eq!(shop.read(id, "purpose=shipping").await.0, 200);
    }
    assert_eq!(shop.read(&ids[0], "purpose=shipping").await.0, 200);
    let (status, body) = shop.read(&ids[3], "purpose=shipping").await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "quota_exceeded");
    // The masked budget is separate.
    assert_eq!(shop.read(&ids[3], "purpose=support").await.0, 200);
    // A batch that would overflow is refused whole.
    let (status, _) = shop
        .server
        .post_with(
            "/v1/customers:batchGet",
            &shop.token,
            json!({"ids": ids, "purpose": "support"}),
        )
        .await;
    assert_eq!(
        status, 200,
        "5 distinct masked reads fit the masked budget of 5"
    );
    let extra = shop.create(6).await;
    let (status, _) = shop
        .server
        .post_with(
            "/v1/customers:batchGet",
            &shop.token,
            json!({"ids": [extra], "purpose": "support"}),
        )
        .await;
    assert_eq!(status, 429);
    shop.server.wait_for_events(|events| {
        events
            .iter()
            .filter(|e| e["kind"] == "pii.quota_exceeded")
            .count()
            >= 2
    });
}

#[tokio::test]
async fn invalid_records_get_field_level_errors_and_nothing_is_written() {
    let shop = shop().await;
    let mut bad = customer(1);
    bad["phone"] = json!("010-123");
    bad["addresses"][0]["postal_code"] = json!("999");
    bad["customs_code"] = json!("X123");
    let (status, body) = shop
        .server
        .post_with("/v1/customers", &shop.token, bad)
        .await;
    assert_eq!(status, 422, "{body}");
    let fields: Vec<&str> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["phone", "customs_code", "addresses[0].postal_code"]
    );
    assert!(
        !body.to_string().contains("010-123"),
        "errors must not echo values"
    );
    // Nothing half-written: the e-mail is still free.
    shop.create(1).await;
    // Unknown fields, duplicates, bombs.
    let mut unknown = customer(2);
    unknown["ssn"] = json!("900101-1234567");
    assert_eq!(
        shop.server
            .post_with("/v1/customers", &shop.token, unknown)
            .await
            .0,
        422
    );
    assert_eq!(
        shop.server
            .post_with("/v1/customers", &shop.token, customer(1))
            .await
            .0,
        409
    );
    let mut long = customer(3);
    long["name"] = json!("가".repeat(500));
    assert_eq!(
        shop.server
            .post_with("/v1/customers", &shop.token, long)
            .await
            .0,
        422
    );
    let response = shop
        .server
        .client
        .post(shop.server.url("/v1/customers"))
        .bearer_auth(&shop.token)
        .header("content-type", "application/json")
        .body(vec![0xff, 0xfe, b'{'])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn lookups_find_customers_by_any_spelling_through_the_blind_index() {
    let shop = shop().await;
    let id = shop.create(4).await;
    for body in [
        json!({"email": " Customer4@EXAMPLE.com", "purpose": "support"}),
        json!({"phone": "+82 10-2004-1004", "purpose": "support"}),
        json!({"phone": "01020041004", "purpose": "support"}),
    ] {
        let (status, found) = shop
            .server
            .post_with("/v1/customers/lookup", &shop.token, body.clone())
            .await;
        assert_eq!(status, 200, "{found}");
        assert_eq!(found["ids"], json!([id]), "{body}");
    }
    let (_, none) = shop
        .server
        .post_with(
            "/v1/customers/lookup",
            &shop.token,
            json!({"email": "nobody@example.com", "purpose": "support"}),
        )
        .await;
    assert_eq!(none["ids"], json!([]));
    let (status, _) = shop
        .server
        .post_with(
            "/v1/customers/lookup",
            &shop.token,
            json!({"email": "x@y.kr"}),
        )
        .await;
    assert_eq!(status, 400, "a lookup needs a purpose");
}

/// Reads columns of one customer row straight from the SQLite file (what an attacker with
/// the disk would see).
fn raw_row(database: &std::path::Path, customer_id: &str) -> Vec<Vec<u8>> {
    let script = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
row = db.execute("SELECT wrapped_data_key, name, email, phone, addresses FROM customers WHERE customer_id = ?", (sys.argv[2],)).fetchone()
print("\n".join(bytes(col).hex() for col in row))
"#;
    let output = std::process::Command::new("python3")
        .args(["-c", script])
        .arg(database)
        .arg(customer_id)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| hex::decode(line).unwrap())
        .collect()
}

#[tokio::test]
async fn crypto_shredding_leaves_nothing_recoverable_on_disk() {
    let shop = shop().await;
    let id = shop.create(5).await;
    let keep = shop.create(6).await;
    let database = shop._instance.data_dir().join("haechi.db");
    let columns = raw_row(&database, &id);
    assert_eq!(columns.len(), 5);
    let response = shop
        .server
        .client
        .delete(shop.server.url(&format!("/v1/customers/{id}")))
        .bearer_auth(&shop.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    assert_eq!(shop.read(&id, "purpose=support").await.0, 404);
    assert_eq!(shop.read(&keep, "purpose=support").await.0, 200);
    // The login is gone too.
    let (status, _) = shop
        .server
        .post_json(
            "/v1/auth/login",
            json!({"email": "customer5@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 401);
    // Neither the wrapped data key nor any ciphertext survives in the database, its WAL or
    // journal.
    for file in files_under(&shop._instance.data_dir()) {
        let bytes = std::fs::read(&file).unwrap();
        for (index, column) in columns.iter().enumerate() {
            assert!(
                !contains(&bytes, column),
                "column {index} of the shredded record survives in {}",
                file.display()
            );
        }
    }
    shop.server.wait_for_events(|events| {
        events
            .iter()
            .any(|e| e["kind"] == "pii.delete" && e["customer_id"] == id.as_str())
    });
}

#[test]
fn a_policy_file_that_does_not_parse_stops_startup_with_its_line() {
    let instance = Instance::new();
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(
        instance.data_dir().join("policy.toml"),
        "[[grant]]\nservice = \"shop\"\npurposes = [\"x\"]\nfields = [\"ssn\"]\naccess = \"masked\"\n",
    )
    .unwrap();
    let (code, _, stderr) = instance.run(&["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("policy.toml:4: unknown field \"ssn\""),
        "{stderr}"
    );
}

#[tokio::test]
async fn admins_replace_the_policy_and_bad_policies_are_refused_with_their_line() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let server = instance.serve();
    let token = server.client_token(&admin).await;
    let put = |body: &'static str| {
        server
            .client
            .put(server.url("/v1/admin/policy"))
            .bearer_auth(&token)
            .body(body)
            .send()
    };
    let (status, body) = crate::util::status_and_json(
        put("[[grant]]\nservice = \"a\"\npurposes = [\"x\"]\nfields = [\"nme\"]\naccess = \"masked\"\n")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains(":4: unknown field"),
        "{body}"
    );
    let response = put(POLICY).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let current = server.get_text("/v1/admin/policy", &token).await;
    assert_eq!(current, POLICY);
}

fn set_env(instance: &mut Instance, key: &str, value: Option<&str>) {
    instance.env.retain(|(name, _)| name != key);
    if let Some(value) = value {
        instance.env.push((key.into(), value.into()));
    }
}

#[tokio::test]
async fn the_master_key_rotates_online_without_re_encrypting_data() {
    let old = "11".repeat(32);
    let new = "22".repeat(32);
    let mut instance = Instance::new().with_env("HAECHI_MASTER_KEY", &old);
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(instance.data_dir().join("policy.toml"), POLICY).unwrap();
    let credential = instance.create_service("shop", "shipping,support,account,erasure");
    let server = instance.serve();
    let token = server.client_token(&credential).await;
    let (status, created) = server.post_with("/v1/customers", &token, customer(3)).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let database = instance.data_dir().join("haechi.db");
    let before = raw_row(&database, &id);
    assert_eq!(server.terminate(), Some(0));

    // Restart with the new key current and the old one previous: it serves at once and
    // re-wraps in the background.
    set_env(&mut instance, "HAECHI_MASTER_KEY", Some(&new));
    set_env(&mut instance, "HAECHI_PREVIOUS_MASTER_KEY", Some(&old));
    let server = instance.serve();
    let token = server.client_token(&credential).await;
    let read = server
        .get_with(&format!("/v1/customers/{id}?purpose=shipping"), &token)
        .await;
    assert_eq!(read.0, 200, "{}", read.1);
    server.wait_for_events(|events| events.iter().any(|e| e["kind"] == "key.master_rotated"));
    assert_eq!(server.terminate(), Some(0));
    let after = raw_row(&database, &id);
    assert_ne!(before[0], after[0], "the data key must be re-wrapped");
    assert_eq!(before[1..], after[1..], "no field may be re-encrypted");

    // The new key alone now opens everything; the old key alone opens nothing.
    set_env(&mut instance, "HAECHI_PREVIOUS_MASTER_KEY", None);
    let server = instance.serve();
    let token = server.client_token(&credential).await;
    let (status, body) = server
        .get_with(&format!("/v1/customers/{id}?purpose=shipping"), &token)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "최수아");
    assert_eq!(server.terminate(), Some(0));
    set_env(&mut instance, "HAECHI_MASTER_KEY", Some(&old));
    let (code, _, stderr) = instance.run(&["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(
        code, 2,
        "the old key must no longer open the data dir: {stderr}"
    );
    assert!(stderr.contains("master key"), "{stderr}");
}

#[tokio::test]
async fn keys_rotate_master_rewraps_offline_and_installs_the_generated_key() {
    let instance = Instance::new();
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(instance.data_dir().join("policy.toml"), POLICY).unwrap();
    let credential = instance.create_service("shop", "shipping,support,account,erasure");
    let server = instance.serve();
    let token = server.client_token(&credential).await;
    let (_, created) = server.post_with("/v1/customers", &token, customer(2)).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(server.terminate(), Some(0));

    let new_key = instance.dir.path().join("new.key");
    std::fs::write(&new_key, "33".repeat(32)).unwrap();
    let (code, stdout, stderr) = instance.run(
        &[
            "keys",
            "rotate-master",
            "--new-key-file",
            new_key.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("installed the new master key"), "{stdout}");
    let installed = std::fs::read_to_string(instance.data_dir().join("master.key")).unwrap();
    assert_eq!(installed.trim(), "33".repeat(32));

    let server = instance.serve();
    let token = server.client_token(&credential).await;
    let (status, body) = server
        .get_with(&format!("/v1/customers/{id}?purpose=shipping"), &token)
        .await;
    assert_eq!(status, 200, "{body}");
}
