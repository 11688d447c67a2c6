//! Incidents through the real binary: forged tokens from two addresses, signed with one stolen
//! key, become one incident (contained, with the key and both addresses) that the API lists,
//! streams and closes, that survives a restart, and whose indicators `haechi scope --incident`
//! takes; `haechi incident create --from` makes the same kind of incident from a list of
//! affected customers, checked line by line before anything is written.

use std::time::{Duration, Instant};

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use serde_json::{Value, json};

use crate::util::{Instance, Server, jwt_parts, sign_ed25519, status_and_json};

const PASSWORD: &str = "correct horse battery";
const FIRST: &str = "203.0.113.7";
const SECOND: &str = "198.51.100.23";

async fn get_from(server: &Server, address: &str, path: &str, token: &str) -> u16 {
    let response = server
        .client
        .get(server.url(path))
        .header("x-forwarded-for", address)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    status_and_json(response).await.0
}

/// Polls the incident list until `predicate` holds for one; returns it.
async fn wait_for_incident(
    server: &Server,
    admin: &str,
    mut predicate: impl FnMut(&Value) -> bool,
) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = server.get_with("/v1/admin/incidents", admin).await;
        assert_eq!(status, 200, "{body}");
        if let Some(incident) = body["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|incident| predicate(incident))
        {
            return incident.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no such incident within 15 s: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn listed(incident: &Value, set: &str) -> Vec<String> {
    incident["indicators"][set]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn forged_tokens_from_two_addresses_are_one_incident_listed_streamed_and_closed() {
    let instance = Instance::new()
        .with_env("HAECHI_DETECT__RESPONSE", "enforce")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        );
    let admin = instance.create_admin("root");
    instance.create_customer("victim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let stolen = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = stolen.to_pkcs8_pem(Default::default()).unwrap();
    let (status, body) = server
        .post_with(
            "/v1/admin/keys",
            &admin_token,
            json!({ "key": pem.as_str() }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let kid = body["kid"].as_str().unwrap().to_string();
    let genuine = server.login("victim@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (header, mut claims) = jwt_parts(&genuine);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let forged = sign_ed25519(&stolen, &header, &claims);

    // The incident stream, open before the attack.
    let mut stream = server
        .client
        .get(server.url("/v1/admin/incidents/stream"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);

    assert_eq!(
        get_from(&server, FIRST, "/v1/auth/session", &forged).await,
        401
    );
    let incident = wait_for_incident(&server, &admin_token, |incident| {
        incident["state"] == "contained"
    })
    .await;
    let id = incident["id"].as_str().unwrap().to_string();
    assert_eq!(incident["severity"], "critical");
    assert!(
        listed(&incident, "signing_keys").contains(&kid),
        "{incident:#}"
    );
    assert!(listed(&incident, "networks").contains(&FIRST.to_string()));
    assert!(incident["contained_at"].is_i64());

    // The key is revoked now; the forger tries again from elsewhere. Same key: same incident.
    assert_eq!(
        get_from(&server, SECOND, "/v1/auth/session", &forged).await,
        401
    );
    let incident = wait_for_incident(&server, &admin_token, |incident| {
        incident["id"] == id.as_str() && listed(incident, "networks").contains(&SECOND.to_string())
    })
    .await;
    // The alert grew (same key, within its cooldown); the block of the second address is
    // among the incident's actions.
    assert!(
        incident["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|action| {
                action["kind"]["network"] == format!("{SECOND}/32") && action["carried_out"] == true
            }),
        "{incident:#}"
    );
    assert!(listed(&incident, "principals").is_empty(), "{incident:#}");
    let (_, all) = server.get_with("/v1/admin/incidents", &admin_token).await;
    assert_eq!(all["incidents"].as_array().unwrap().len(), 1, "{all:#}");

    // The stream told it as it happened.
    let mut seen = String::new();
    let started = Instant::now();
    while !(seen.contains("event: opened") && seen.contains("event: updated")) {
        assert!(started.elapsed() < Duration::from_secs(10), "{seen}");
        let chunk = tokio::time::timeout(Duration::from_secs(10), stream.chunk())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(&id), "{seen}");

    // Counted for the dashboards.
    let metrics = server.get_text("/metrics", &admin_token).await;
    assert!(
        metrics.contains("haechi_incidents_opened_total 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("haechi_incident_writes_total"),
        "{metrics}"
    );

    // One incident, its customers; hostile ids answered as JSON errors.
    let (status, one) = server
        .get_with(&format!("/v1/admin/incidents/{id}"), &admin_token)
        .await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one["id"], id.as_str());
    let (status, page) = server
        .get_with(&format!("/v1/admin/incidents/{id}/customers"), &admin_token)
        .await;
    assert_eq!(status, 200, "{page}");
    for (path, expected) in [
        ("/v1/admin/incidents/nope", 400),
        ("/v1/admin/incidents/INC-000000000000", 404),
        ("/v1/admin/incidents/INC-000000000000/customers", 404),
        ("/v1/admin/incidents?state=burning", 400),
        ("/v1/admin/incidents?limit=0", 400),
    ] {
        let (status, body) = server.get_with(path, &admin_token).await;
        assert_eq!(status, expected, "{path}: {body}");
        assert!(body["error"].is_string(), "{path}: {body}");
    }

    // Closing takes a note, happens once, and is on the record.
    let close = format!("/v1/admin/incidents/{id}/close");
    let (status, body) = server
        .post_with(&close, &admin_token, json!({ "note": "  " }))
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, closed) = server
        .post_with(
            &close,
            &admin_token,
            json!({ "note": "key revoked, both addresses blocked" }),
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["state"], "closed");
    assert_eq!(closed["closure"]["by"], "admin:root");
    let (status, body) = server
        .post_with(&close, &admin_token, json!({ "note": "again" }))
        .await;
    assert_eq!(status, 409, "{body}");
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["detail"]["change"] == "incident.close")
    });
    let recorded = events
        .iter()
        .find(|event| event["detail"]["change"] == "incident.close")
        .unwrap();
    assert_eq!(recorded["detail"]["incident_id"], id.as_str());

    // A restart keeps it.
    assert_eq!(server.terminate(), Some(0));
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let (_, kept) = server
        .get_with(&format!("/v1/admin/incidents/{id}"), &admin_token)
        .await;
    assert_eq!(kept["state"], "closed", "{kept}");
    assert_eq!(server.terminate(), Some(0));

    // Its scope: the key and addresses it was tied by, any of which marks a read.
    let (code, stdout, stderr) = instance.run(
        &[
            "scope",
            "--incident",
            &id,
            "--format",
            "json",
            "--no-contacts",
        ],
        None,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let scope: Value = serde_json::from_str(&stdout).unwrap();
    let query = &scope["custody"]["query"];
    assert_eq!(query["incident"]["id"], id.as_str(), "{scope:#}");
    assert_eq!(query["match"], "any");
    assert!(
        query["indicators"]["kids"]
            .as_array()
            .unwrap()
            .iter()
            .any(|value| value == kid.as_str()),
        "{query:#}"
    );
    let (code, _, stderr) = instance.run(&["scope", "--incident", "INC-00000000000Z"], None);
    assert_ne!(code, 0);
    assert!(stderr.contains("not an incident id"), "{stderr}");
}

#[test]
fn an_affected_list_becomes_one_incident_checked_before_anything_is_written() {
    let instance = Instance::new();
    let dir = instance.data_dir();
    std::fs::create_dir_all(&dir).unwrap();
    let list = dir.join("affected.jsonl");
    let rows: Vec<String> = (0..3)
        .map(|n| {
            json!({
                "customer_id": format!("c{n}"),
                "fields": ["name", "phone"],
                "first": "2025-06-11T01:00:00Z",
                "last": format!("2025-06-11T0{}:00:00Z", n + 1),
                "reads": 2,
            })
            .to_string()
        })
        .collect();
    std::fs::write(&list, rows.join("\n") + "\n").unwrap();
    let list_arg = list.to_str().unwrap();

    // A list holding a plaintext contact, or a repeat, is refused whole.
    let tainted = dir.join("tainted.jsonl");
    let contact = json!({"customer_id": "c9", "contact": {"phone": "010-2345-6789"}});
    std::fs::write(&tainted, format!("{}\n{contact}\n", rows[0])).unwrap();
    let (code, _, stderr) = instance.run(
        &[
            "incident",
            "create",
            "--from",
            tainted.to_str().unwrap(),
            "--quiet",
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("line 2") && stderr.contains("contact"),
        "{stderr}"
    );
    let repeated = dir.join("repeated.jsonl");
    std::fs::write(&repeated, format!("{}\n{}\n", rows[1], rows[1])).unwrap();
    let (code, _, stderr) = instance.run(
        &[
            "incident",
            "create",
            "--from",
            repeated.to_str().unwrap(),
            "--quiet",
        ],
        None,
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("listed twice"), "{stderr}");
    let (code, stdout, _) = instance.run(&["incident", "list"], None);
    assert_eq!(code, 0);
    assert!(stdout.contains("no incidents"), "{stdout}");

    let (code, stdout, stderr) = instance.run(
        &[
            "incident",
            "create",
            "--from",
            list_arg,
            "--title",
            "Courier leak",
            "--quiet",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let id = stdout.trim().to_string();
    assert!(id.starts_with("INC-"), "{stdout}");
    // The same file again: the same incident, not a second.
    let (code, again, stderr) =
        instance.run(&["incident", "create", "--from", list_arg, "--quiet"], None);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(again.trim(), id);
    let (_, listed, _) = instance.run(&["incident", "list", "--json"], None);
    assert_eq!(listed.lines().count(), 1, "{listed}");
    let incident: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(incident["title"], "Courier leak");
    assert_eq!(incident["customers"], 3);
    assert_eq!(incident["origin"]["kind"], "imported");
    assert_eq!(incident["last_seen"], 1_749_610_800_000_000_i64);

    let (code, shown, _) = instance.run(&["incident", "show", &id, "--json", "--customers"], None);
    assert_eq!(code, 0);
    let customers: Vec<Value> = shown
        .lines()
        .filter(|line| line.starts_with("{\"customer_id\""))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(customers.len(), 3, "{shown}");
    assert_eq!(customers[0]["fields"], json!(["name", "phone"]));

    // An imported incident is its own scope.
    let (code, _, stderr) = instance.run(&["scope", "--incident", &id], None);
    assert_ne!(code, 0);
    assert!(stderr.contains("--customers"), "{stderr}");

    let (code, _, stderr) =
        instance.run(&["incident", "close", &id, "--note", "notices sent"], None);
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = instance.run(&["incident", "close", &id, "--note", "again"], None);
    assert_ne!(code, 0);
    assert!(stderr.contains("closed already"), "{stderr}");
    // Both acts are on the record, by the local operator; the refused ones are not.
    let (code, records, stderr) =
        instance.run(&["audit", "search", "--kind", "admin.config_changed"], None);
    assert_eq!(code, 0, "{stderr}");
    let changes: Vec<(String, String)> = records
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["detail"]["incident_id"] == id.as_str())
        .map(|record| {
            (
                record["detail"]["change"].as_str().unwrap().to_string(),
                record["principal"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("incident.create".to_string(), "admin:cli".to_string()),
            ("incident.create".to_string(), "admin:cli".to_string()),
            ("incident.close".to_string(), "admin:cli".to_string()),
        ],
        "{records}"
    );
}
