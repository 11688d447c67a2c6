//! Breach drills end to end: each built-in scenario at small scale against a real server it
//! starts, its report meeting the scenario's bar; and the drill's own hostile input. These are
//! tests of the whole product: when one fails, fix the product, not the bar.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::util::{Instance, haechi_binary};

/// Runs `haechi drill ARGS` with reports under `out`; returns (exit code, stdout, stderr).
fn drill(out: &Path, args: &[&str]) -> (i32, String, String) {
    let output = Command::new(haechi_binary())
        .arg("drill")
        .args(args)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .env_remove("HAECHI_CONFIG")
        .current_dir(out.parent().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn report(out: &Path, scenario: &str) -> Value {
    let text = std::fs::read_to_string(out.join(scenario).join("report.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs a built-in scenario and checks what every scenario must show.
fn built_in(scenario: &str, customers: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let (code, stdout, stderr) = drill(&out, &[scenario, "--customers", customers]);
    let report = report(&out, scenario);
    assert_eq!(
        code,
        0,
        "{scenario} did not pass: {stdout}\n{stderr}\n{}",
        std::fs::read_to_string(out.join(scenario).join("report.md")).unwrap_or_default()
    );
    assert_eq!(report["passed"], true);
    assert!(report["partial"].is_null());
    assert!(
        !report["true_positives"].as_array().unwrap().is_empty(),
        "detected"
    );
    assert_eq!(report["scope"]["precision"], 1.0, "{}", report["scope"]);
    assert_eq!(report["scope"]["recall"], 1.0, "{}", report["scope"]);
    for file in ["report.md", "report.html"] {
        assert!(out.join(scenario).join(file).exists(), "{file}");
    }
    let html = std::fs::read_to_string(out.join(scenario).join("report.html")).unwrap();
    assert!(html.contains("<svg"), "the timeline chart");
    assert_no_personal_data(&out.join(scenario), &report);
    report
}

/// No report file holds a name, e-mail or phone number of the drill's generated customers
/// (the drill compares them in memory and reports customer ids only).
fn assert_no_personal_data(dir: &Path, report: &Value) {
    let generator = haechi_korean::CustomerGenerator::new(report["seed"].as_u64().unwrap());
    let files: Vec<String> = ["report.json", "report.md", "report.html"]
        .iter()
        .map(|file| std::fs::read_to_string(dir.join(file)).unwrap())
        .collect();
    for index in 0..report["customers"].as_u64().unwrap() {
        let customer = generator.customer(index);
        let digits: String = customer
            .phone
            .chars()
            .filter(char::is_ascii_digit)
            .collect();
        for text in &files {
            for value in [&customer.name, &customer.email, &customer.phone, &digits] {
                assert!(
                    !text.contains(value.as_str()),
                    "customer {index}'s data in a report"
                );
            }
        }
    }
}

/// The fields of a report that depend only on the scenario and the seed.
fn deterministic_part(report: &Value) -> Value {
    let rules = |list: &Value| -> Vec<(String, String)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|alert| {
                (
                    alert["rule_id"].as_str().unwrap().to_string(),
                    alert["seen_after_attack_secs"].to_string(),
                )
            })
            .collect()
    };
    serde_json::json!({
        "first_alert": report["time_to_first_alert_secs"],
        "containment": report["time_to_containment_secs"],
        "exposed": report["customers_exposed"],
        "records": report["records_exposed_before_containment"],
        "attacker": [report["attacker_requests"], report["attacker_refused"], report["attacker_gave_up_at"]],
        "normal": report["normal_requests"],
        "true_positives": rules(&report["true_positives"]),
        "false_positives": rules(&report["false_positives"]),
        "scope": [report["scope"]["found"], report["scope"]["truth"]],
    })
}

#[test]
fn the_same_seed_replays_the_same_drill() {
    let dir = tempfile::tempdir().unwrap();
    let mut parts = Vec::new();
    for round in ["one", "two"] {
        let out = dir.path().join(round);
        let (code, stdout, stderr) = drill(&out, &["scraper", "--customers", "200", "--seed", "9"]);
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        parts.push(deterministic_part(&report(&out, "scraper")));
    }
    assert_eq!(parts[0], parts[1]);
}

#[test]
fn coupang_forged_tokens_expose_nobody_and_are_contained_within_a_second() {
    let report = built_in("coupang", "300");
    assert_eq!(report["customers_exposed"], 0);
    assert_eq!(report["attacker_refused"], report["attacker_requests"]);
    // Simulated seconds: the forged-token alert comes with the first forged read.
    assert!(
        report["time_to_first_alert_secs"].as_f64().unwrap() <= 1.0,
        "{report}"
    );
    assert!(
        report["time_to_containment_secs"].as_f64().unwrap() <= 1.0,
        "{report}"
    );
    assert!(report["attacker_gave_up_at"].is_string());
    assert_eq!(
        report["false_positives"].as_array().unwrap().len(),
        0,
        "{report}"
    );
}

#[test]
fn scraper_with_a_stolen_service_credential_gets_at_most_a_hundred() {
    let report = built_in("scraper", "400");
    let exposed = report["customers_exposed_before_containment"]
        .as_u64()
        .unwrap();
    assert!(exposed <= 100, "{report}");
    assert!(report["time_to_containment_secs"].is_number());
}

#[test]
fn credential_stuffing_is_detected_and_its_networks_blocked() {
    let report = built_in("stuffing", "400");
    let rules: Vec<&str> = report["true_positives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| alert["rule_id"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"haechi.auth.stuffing_accounts"),
        "{rules:?}"
    );
}

#[test]
fn low_and_slow_from_thousands_of_networks_is_contained_under_a_thousand() {
    let report = built_in("lowslow", "1500");
    let exposed = report["customers_exposed_before_containment"]
        .as_u64()
        .unwrap();
    assert!(exposed <= 1000, "{report}");
    assert!(report["time_to_containment_secs"].is_number());
}

#[test]
fn an_insider_exporting_beyond_the_service_baseline_is_detected() {
    let report = built_in("insider", "400");
    assert!(report["time_to_first_alert_secs"].is_number());
}

#[test]
fn a_malformed_scenario_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(
        &file,
        "name: bad\ndescription: x\ncustomers: 10\nnormal:\n  warmup: 1d\n  active_customers: 1\n  \
         logins_per_hour: 1\n  networks: 1\n  services: []\nattacker:\n  forged_tokens:\n    \
         per_second: fast\n",
    )
    .unwrap();
    let out = dir.path().join("reports");
    let (code, _, stderr) = drill(&out, &[file.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("bad.yaml: line 12 column 17"), "{stderr}");

    let (code, _, stderr) = drill(&out, &["no-such-scenario"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("no built-in scenario \"no-such-scenario\""),
        "{stderr}"
    );
    assert!(!out.exists(), "nothing written for input errors");
}

#[test]
fn a_target_that_is_not_a_drill_server_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    // Nothing listens there.
    let (code, _, stderr) = drill(
        &out,
        &[
            "coupang",
            "--target",
            "http://127.0.0.1:9",
            "--admin",
            "admin.x:y",
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("did not answer"), "{stderr}");

    // A real Haechi on the real clock, and a wrong admin credential.
    let instance = Instance::new();
    let (id, secret) = instance.create_admin("ops");
    let server = instance.serve();
    let (code, _, stderr) = drill(
        &out,
        &[
            "coupang",
            "--target",
            &server.base,
            "--admin",
            &format!("{id}:{secret}"),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("runs on the real clock"), "{stderr}");
    let (code, _, stderr) = drill(
        &out,
        &[
            "coupang",
            "--target",
            &server.base,
            "--admin",
            &format!("{id}:wrong"),
        ],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("administrator credential was refused"),
        "{stderr}"
    );
}

#[test]
fn a_server_that_dies_mid_drill_gives_a_partial_report() {
    let instance = Instance::new()
        .with_env("HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK", "true")
        .with_env("HAECHI_DRILL__START", "2025-06-24T00:00:00Z")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        );
    let (id, secret) = instance.create_admin("drill");
    let mut server = instance.serve();
    let out = instance.dir.path().join("reports");
    let child = Command::new(haechi_binary())
        .args([
            "drill",
            "coupang",
            "--customers",
            "50",
            "--quiet",
            "--target",
        ])
        .arg(&server.base)
        .arg("--admin")
        .arg(format!("{id}:{secret}"))
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill the server once the drill is playing traffic (its audit log is growing).
    let audit = instance.data_dir().join("audit");
    let started = std::time::Instant::now();
    loop {
        let events = server.events().len();
        if events > 400 || started.elapsed() > std::time::Duration::from_secs(120) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(audit.exists());
    server.child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let report = report(&out, "coupang");
    assert_eq!(report["passed"], false);
    assert!(
        report["partial"]
            .as_str()
            .unwrap()
            .contains("did not answer"),
        "{report}"
    );
    let markdown = std::fs::read_to_string(out.join("coupang").join("report.md")).unwrap();
    assert!(markdown.contains("**Partial report**"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drill_clock_exists_only_when_asked_for_and_drives_every_part() {
    // A normal server: no drill clock.
    let plain = Instance::new();
    let admin = plain.create_admin("ops");
    let server = plain.serve();
    let token = server.client_token(&admin).await;
    let (status, body) = server
        .post_with(
            "/v1/admin/drill/clock",
            &token,
            serde_json::json!({"now": "2030-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "not_found");
    drop(server);

    let instance = Instance::new()
        .with_env("HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK", "true")
        .with_env("HAECHI_DRILL__START", "2025-06-24T00:00:00Z");
    let admin = instance.create_admin("ops");
    instance.create_customer("kim@example.com", "010-2345-6789", "correct horse battery");
    let server = instance.serve();
    let token = server.client_token(&admin).await;
    let (status, body) = server.get_with("/v1/admin/drill/clock", &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["now"], "2025-06-24T00:00:00.000000Z");
    let pair = server
        .login("kim@example.com", "correct horse battery")
        .await;
    let access = pair["access_token"].as_str().unwrap();
    assert_eq!(server.get_with("/v1/auth/session", access).await.0, 200);

    // Hostile input: a time that is not one, backwards, unknown fields, no credential.
    for (body, expected) in [
        (serde_json::json!({"now": "tomorrow"}), 422),
        (serde_json::json!({"now": "2025-06-23T00:00:00Z"}), 409),
        (
            serde_json::json!({"now": "2025-06-25T00:00:00Z", "extra": 1}),
            422,
        ),
        (serde_json::json!({}), 422),
    ] {
        let (status, answer) = server
            .post_with("/v1/admin/drill/clock", &token, body.clone())
            .await;
        assert_eq!(status, expected, "{body} → {answer}");
        assert!(
            answer["error"].is_string() && answer["message"].is_string(),
            "{answer}"
        );
    }
    let (status, _) = server
        .post_with(
            "/v1/admin/drill/clock",
            access,
            serde_json::json!({"now": "2025-06-25T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 403, "a customer cannot move time");

    // Moving the clock settles detection: an alert the last request caused is on the desk
    // when the call returns (a customer probing another customer's record raises one).
    let (status, _) = server
        .get_with("/v1/customers/c_someone_else", access)
        .await;
    assert_eq!(status, 404);
    let (status, body) = server
        .post_with(
            "/v1/admin/drill/clock",
            &token,
            serde_json::json!({"now": "2025-06-24T00:00:01Z"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["alerts"].as_u64().unwrap() >= 1, "settled: {body}");

    // Sixteen simulated minutes later the customer's 15-minute token has expired: the
    // authority reads the drill clock.
    let (status, body) = server
        .post_with(
            "/v1/admin/drill/clock",
            &token,
            serde_json::json!({"now": "2025-06-24T00:16:00Z"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["now"], "2025-06-24T00:16:00.000000Z");
    let (status, body) = server.get_with("/v1/auth/session", access).await;
    assert_eq!(status, 401, "{body}");
    // Events are stamped with simulated time.
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "token.rejected" && event["reason"] == "expired")
    });
    let expired = events
        .iter()
        .find(|event| event["kind"] == "token.rejected" && event["reason"] == "expired")
        .unwrap();
    // 2025-06-24T00:16:00Z in microseconds.
    assert_eq!(
        expired["time"].as_i64(),
        Some(1_750_724_160_000_000),
        "{expired}"
    );
}

#[test]
fn the_drill_clock_needs_a_start_and_a_loopback_address() {
    let instance = Instance::new().with_env("HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK", "true");
    let (code, _, stderr) = instance.run(&["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("drill.start is required"), "{stderr}");
    let instance = instance.with_env("HAECHI_DRILL__START", "2025-06-24T00:00:00Z");
    let (code, _, stderr) = instance.run(&["serve", "--listen", "0.0.0.0:0"], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("listen on a loopback address"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drill_clock_refuses_to_pretend_when_detection_is_off() {
    let instance = Instance::new()
        .with_env("HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK", "true")
        .with_env("HAECHI_DRILL__START", "2025-06-24T00:00:00Z")
        .with_env("HAECHI_DETECT__ENABLED", "false");
    let admin = instance.create_admin("ops");
    let server = instance.serve();
    let token = server.client_token(&admin).await;
    let (status, body) = server
        .post_with(
            "/v1/admin/drill/clock",
            &token,
            serde_json::json!({"now": "2025-06-24T00:00:01Z"}),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("detection is not running"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_are_created_over_the_admin_api() {
    let instance = Instance::new();
    let admin = instance.create_admin("ops");
    let server = instance.serve();
    let token = server.client_token(&admin).await;
    let (status, body) = server
        .post_with(
            "/v1/admin/services",
            &token,
            serde_json::json!({"name": "shop", "purposes": ["shipping"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["client_id"], "service.shop");
    let secret = body["client_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("hcs_"));
    let service_token = server
        .client_token(&("service.shop".to_string(), secret))
        .await;
    let (status, list) = server.get_with("/v1/admin/services", &token).await;
    assert_eq!(status, 200);
    assert_eq!(
        list["services"][0]["purposes"],
        serde_json::json!(["shipping"])
    );
    assert!(
        list.to_string().find("hcs_").is_none(),
        "no secret in the listing"
    );
    server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["kind"] == "admin.principal_created" && event.to_string().contains("service:shop")
        })
    });

    for (body, expected) in [
        (
            serde_json::json!({"name": "shop", "purposes": ["shipping"]}),
            409,
        ),
        (
            serde_json::json!({"name": "Bad Name!", "purposes": []}),
            422,
        ),
        (
            serde_json::json!({"name": "x", "purposes": ["no spaces"]}),
            422,
        ),
        (serde_json::json!({"name": "x"}), 422),
    ] {
        let (status, answer) = server
            .post_with("/v1/admin/services", &token, body.clone())
            .await;
        assert_eq!(status, expected, "{body} → {answer}");
        assert!(answer["error"].is_string(), "{answer}");
    }
    let (status, _) = server
        .post_with(
            "/v1/admin/services",
            &service_token,
            serde_json::json!({"name": "y", "purposes": ["a"]}),
        )
        .await;
    assert_eq!(status, 403, "a service cannot create services");
}
