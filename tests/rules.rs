//! Rules without a restart, through the real binary: `GET/PUT /v1/admin/rules` and the rules
//! directory. A refused set names every problem as FILE:LINE:COLUMN and changes nothing; an
//! accepted one is recorded with its digest and swapped in between two events, so a window
//! half full before the change completes after it; a file dropped into the rules directory is
//! running within seconds, and a broken one is refused.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Instance, Server};

/// A Sigma rule over failed logins per address: `threshold` within ten minutes.
pub fn failures_rule(name: &str, threshold: u32) -> String {
    format!(
        "title: Failed logins from one address ({name})
id: 7c9e6679-7425-40de-944b-e07fc1f90ae{}
name: {name}
description: Failed logins from one address, counted for the rules API test.
logsource: {{product: haechi, service: audit}}
detection:
  failed: {{kind: auth.login_failed}}
  condition: failed
level: informational
---
title: Many failed logins from one address ({name})
id: 9b2f6a1e-3c4d-4e5f-8a9b-0c1d2e3f4a5{}
name: {name}.burst
description: At least {threshold} failed logins from one address within ten minutes.
correlation:
  type: event_count
  rules: [{name}]
  group-by: [ip]
  timespan: 10m
  condition: {{gte: {threshold}}}
falsepositives: [A test.]
level: high
",
        name.len() % 10,
        name.len() % 10
    )
}

pub async fn fail_logins(server: &Server, count: usize) {
    for index in 0..count {
        let (status, _) = server
            .post_json(
                "/v1/auth/login",
                json!({"email": format!("nobody{index}@example.com"), "password": "wrong password"}),
            )
            .await;
        assert_eq!(status, 401);
    }
}

async fn rules(server: &Server, admin: &str) -> Value {
    let (status, body) = server.get_with("/v1/admin/rules", admin).await;
    assert_eq!(status, 200, "{body}");
    body
}

fn rule_ids(view: &Value) -> Vec<String> {
    view["in_force"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["id"].as_str().unwrap().to_string())
        .collect()
}

async fn wait_for_alert(server: &Server, admin: &str, rule: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = server.get_with("/v1/admin/alerts", admin).await;
        assert_eq!(status, 200, "{body}");
        if let Some(alert) = body["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|alert| alert["rule_id"] == rule)
        {
            return alert.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no {rule} alert within 15 s: {body:#}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn rules_change_through_the_api_without_a_restart_or_a_missed_event() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let server = instance.serve();
    let admin = server.client_token(&admin).await;

    let start = rules(&server, &admin).await;
    assert_eq!(start["in_force"]["engine_here"], true);
    assert_eq!(start["api_files"], json!([]));
    let ids = rule_ids(&start);
    assert!(ids.contains(&"haechi.token.forged".to_string()), "{ids:?}");
    let forged = start["in_force"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["id"] == "haechi.token.forged")
        .unwrap();
    assert_eq!(forged["file"], "builtin:forged_token.yaml");
    assert_eq!(forged["sigma_id"].as_str().unwrap().len(), 36);
    let digest = start["in_force"]["digest"].as_str().unwrap().to_string();

    // A broken set: every problem, FILE:LINE:COLUMN, and nothing changes.
    let broken =
        failures_rule("test.failures", 6).replace("  group-by: [ip]", "  group-by: [colour]");
    let (status, body) = server
        .put_with(
            "/v1/admin/rules",
            &admin,
            json!({"files": [
                {"name": "failures.yaml", "text": broken},
                {"name": "syntax.yaml", "text": "title: [unclosed\n"},
                {"name": "../escape.yaml", "text": ""},
            ]}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "invalid_rules");
    let fields: Vec<String> = body["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields[0], "files[2].name", "{body:#}");
    let refused = server
        .put_with(
            "/v1/admin/rules",
            &admin,
            json!({"files": [
                {"name": "failures.yaml", "text": broken},
                {"name": "syntax.yaml", "text": "title: [unclosed\n"},
            ]}),
        )
        .await
        .1;
    let fields: Vec<&str> = refused["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|field| field["field"].as_str().unwrap())
        .collect();
    assert!(fields.contains(&"api:failures.yaml:18:14"), "{refused:#}");
    assert!(
        fields
            .iter()
            .any(|field| field.starts_with("api:syntax.yaml:")),
        "{refused:#}"
    );
    assert!(
        !refused
            .to_string()
            .contains(&instance.data_dir().display().to_string())
    );
    assert_eq!(
        rules(&server, &admin).await["in_force"]["digest"],
        digest.as_str()
    );

    // An accepted set: recorded, swapped in, the new rule counting.
    let files = json!([{"name": "failures.yaml", "text": failures_rule("test.failures", 6)}]);
    let (status, changed) = server
        .put_with("/v1/admin/rules", &admin, json!({"files": files}))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["applied"], true);
    assert_eq!(changed["version"], 1);
    assert_eq!(changed["added"], json!(["test.failures.burst"]));
    assert_eq!(changed["removed"], json!([]));
    let first_digest = changed["digest"].as_str().unwrap().to_string();
    assert_ne!(first_digest, digest);
    let view = rules(&server, &admin).await;
    assert_eq!(view["in_force"]["digest"], first_digest.as_str());
    assert_eq!(view["api_files"], files);
    let recorded = server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["kind"] == "admin.config_changed"
                && event["reason"] == "rules_changed"
                && event["detail"]["rules_sha256"] == first_digest.as_str()
        })
    });
    assert!(!recorded.is_empty());

    // Half the window before the next change, half after: the unchanged rule keeps counting.
    fail_logins(&server, 3).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut more = files.as_array().unwrap().clone();
    more.push(json!({"name": "more.yaml", "text": failures_rule("test.more", 100)}));
    let (status, changed) = server
        .put_with("/v1/admin/rules", &admin, json!({"files": more}))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["version"], 2);
    assert!(
        changed["unchanged"]
            .as_array()
            .unwrap()
            .contains(&json!("test.failures.burst")),
        "{changed:#}"
    );
    assert_eq!(changed["windows_restarted"], json!([]));
    fail_logins(&server, 3).await;
    let alert = wait_for_alert(&server, &admin, "test.failures.burst").await;
    assert_eq!(alert["window_count"], 6, "{alert:#}");

    // Removing the API set removes its rules.
    let (status, changed) = server
        .put_with("/v1/admin/rules", &admin, json!({"files": []}))
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["removed"].as_array().unwrap().len(), 2);
    assert_eq!(
        rules(&server, &admin).await["in_force"]["digest"],
        digest.as_str()
    );
}

#[tokio::test]
async fn a_file_dropped_into_the_rules_directory_runs_within_seconds() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let server = instance.serve();
    let admin = server.client_token(&admin).await;
    let directory = instance.data_dir().join("rules");
    std::fs::create_dir_all(&directory).unwrap();
    let started = Instant::now();
    std::fs::write(
        directory.join("failures.yaml"),
        failures_rule("test.dropped", 2),
    )
    .unwrap();
    let view = loop {
        let view = rules(&server, &admin).await;
        if rule_ids(&view).contains(&"test.dropped.burst".to_string()) {
            break view;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{view:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let dropped = view["in_force"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|rule| rule["id"] == "test.dropped.burst")
        .unwrap();
    assert_eq!(dropped["file"], "rules/failures.yaml");
    let digest = view["in_force"]["digest"].clone();
    server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["reason"] == "rules_changed"
                && event["detail"]["source"] == "directory"
                && event["detail"]["rules_sha256"] == digest
        })
    });
    fail_logins(&server, 2).await;
    wait_for_alert(&server, &admin, "test.dropped.burst").await;

    // A broken file is refused whole: the rules in force keep running.
    std::fs::write(directory.join("broken.yaml"), "title: [unclosed\n").unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(rules(&server, &admin).await["in_force"]["digest"], digest);
    assert!(
        server.log().iter().any(
            |line| line.contains("changed rules refused") && line.contains("rules/broken.yaml")
        ),
        "the refusal is logged"
    );
}

/// Under load: failed logins stream in from four clients while the rule set changes six times.
/// The counting rule stays unchanged through every change, so its one alert (cooldown: an
/// hour) grows by exactly one per failure: nothing missed, nothing counted twice.
#[tokio::test]
async fn rules_change_under_load_without_missing_an_event() {
    let instance = Instance::new().with_env(
        "HAECHI_SERVER__TRUSTED_PROXIES",
        r#"["127.0.0.0/8", "::1/128"]"#,
    );
    let admin = instance.create_admin("root");
    let server = std::sync::Arc::new(instance.serve());
    let admin = server.client_token(&admin).await;
    // One group for every failure (each comes from an address of its own, so no per-address
    // limit refuses any).
    let counting = json!({
        "name": "failures.yaml",
        "text": failures_rule("test.load", 1).replace("group-by: [ip]", "group-by: [kind]"),
    });
    let (status, body) = server
        .put_with("/v1/admin/rules", &admin, json!({"files": [counting]}))
        .await;
    assert_eq!(status, 200, "{body}");

    const CLIENTS: usize = 4;
    const EACH: usize = 150;
    let load: Vec<_> = (0..CLIENTS)
        .map(|client| {
            let server = server.clone();
            tokio::spawn(async move {
                for index in 0..EACH {
                    let response = server
                        .client
                        .post(server.url("/v1/auth/login"))
                        .header(
                            "x-forwarded-for",
                            format!("10.{client}.{}.{}", index / 200, index % 200 + 1),
                        )
                        .json(&json!({
                            "email": format!("c{client}-{index}@example.com"),
                            "password": "wrong password",
                        }))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(response.status(), 401);
                }
            })
        })
        .collect();
    for change in 0..6 {
        let mut files = vec![counting.clone()];
        if change % 2 == 0 {
            files.push(json!({"name": "extra.yaml", "text": failures_rule("test.extra", 50)}));
        }
        let (status, body) = server
            .put_with("/v1/admin/rules", &admin, json!({"files": files}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body["unchanged"]
                .as_array()
                .unwrap()
                .contains(&json!("test.load.burst")),
            "{body:#}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    for client in load {
        client.await.unwrap();
    }
    let failures = CLIENTS * EACH;
    server.wait_for_events(|events| {
        events
            .iter()
            .filter(|event| event["kind"] == "auth.login_failed")
            .count()
            == failures
    });
    let started = Instant::now();
    loop {
        let alert = wait_for_alert(&server, &admin, "test.load.burst").await;
        if alert["count"] == failures {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{failures} failures, the alert counted {}",
            alert["count"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
