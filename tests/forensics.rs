//! `haechi scope` and `haechi archive generate` through the real binary: ground truth, the
//! DuckDB cross-check of docs/forensics.md, live log beside a running server, contact
//! channels from the vault, `--alert` on an alert the server raised, and bad input (exit 2,
//! nothing written).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde_json::Value;

use crate::util::Instance;

/// A generated archive shared by the tests of this file.
struct Generated {
    instance: Instance,
    archive: PathBuf,
    truth: Value,
}

fn generated() -> &'static Generated {
    static GENERATED: OnceLock<Generated> = OnceLock::new();
    GENERATED.get_or_init(|| {
        let instance = Instance::new();
        let archive = instance.dir.path().join("archive");
        let (code, stdout, stderr) = instance.run(
            &[
                "archive",
                "generate",
                "--customers",
                "4000",
                "--events",
                "60000",
                "--days",
                "2",
                "--victims",
                "150",
                "--seed",
                "7",
                "--file-records",
                "16384",
                "--row-group-rows",
                "4096",
                "--out",
                archive.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(code, 0, "{stdout}{stderr}");
        assert!(stdout.contains("wrote 60000 events"), "{stdout}");
        let truth: Value =
            serde_json::from_slice(&std::fs::read(archive.join("_ground_truth.json")).unwrap())
                .unwrap();
        Generated {
            instance,
            archive,
            truth,
        }
    })
}

fn attack() -> &'static Value {
    &generated().truth["attack"]
}

fn victims() -> Vec<String> {
    let mut ids: Vec<String> = attack()["victims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|victim| victim["customer_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Runs `haechi scope --archive … ARGS --format json` and returns the parsed output.
fn scope_json(args: &[&str]) -> Value {
    let generated = generated();
    let mut all = vec![
        "scope",
        "--archive",
        generated.archive.to_str().unwrap(),
        "--format",
        "json",
    ];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = generated.instance.run(&all, None);
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

fn customer_ids(scope: &Value) -> Vec<String> {
    scope["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["customer_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn generated_archive_verifies_with_haechi_audit_verify() {
    let generated = generated();
    let key = generated.archive.join("_audit_key.pem");
    let (code, stdout, stderr) = generated.instance.run(
        &[
            "audit",
            "verify",
            "--archive",
            generated.archive.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[test]
fn every_attack_indicator_finds_exactly_the_victims() {
    let attack = attack();
    let expected = victims();
    let reads = attack["reads"].as_u64().unwrap();

    let by_kid = scope_json(&["--kid", attack["kid"].as_str().unwrap()]);
    assert_eq!(customer_ids(&by_kid), expected);
    assert_eq!(by_kid["summary"]["records"].as_u64(), Some(reads));

    let ips: Vec<&str> = attack["ips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|ip| ip.as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 40);
    let joined = ips.join(",");
    let by_ips = scope_json(&["--ip", &joined]);
    assert_eq!(customer_ids(&by_ips), expected);

    let mut agent_args = Vec::new();
    for agent in attack["user_agents"].as_array().unwrap() {
        agent_args.push("--user-agent");
        agent_args.push(agent.as_str().unwrap());
    }
    assert_eq!(customer_ids(&scope_json(&agent_args)), expected);

    // A file of the attacker's token ids, and an indicator file of its session ids.
    let dir = tempfile::tempdir().unwrap();
    let jtis: String = attack["victims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|victim| format!("{}\n", victim["jti"].as_str().unwrap()))
        .collect();
    let jti_file = dir.path().join("jtis.txt");
    std::fs::write(&jti_file, format!("# stolen tokens\n{jtis}")).unwrap();
    let by_jtis = scope_json(&["--jti-file", jti_file.to_str().unwrap()]);
    assert_eq!(customer_ids(&by_jtis), expected);
    let sids: String = attack["victims"]
        .as_array()
        .unwrap()
        .iter()
        .map(|victim| format!("sid {}\n", victim["sid"].as_str().unwrap()))
        .collect();
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, sids).unwrap();
    assert_eq!(
        customer_ids(&scope_json(&["--indicators", iocs.to_str().unwrap()])),
        expected
    );

    // Narrowing with --match all: the key and one address.
    let one_ip = scope_json(&[
        "--kid",
        attack["kid"].as_str().unwrap(),
        "--ip",
        ips[0],
        "--match",
        "all",
    ]);
    let from_first_ip: Vec<String> = {
        let mut ids: Vec<String> = attack["victims"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|victim| victim["ip"] == ips[0])
            .map(|victim| victim["customer_id"].as_str().unwrap().to_string())
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(customer_ids(&one_ip), from_first_ip);
}

#[test]
fn the_same_query_gives_byte_identical_output() {
    let kid = attack()["kid"].as_str().unwrap();
    let generated = generated();
    let args = [
        "scope",
        "--archive",
        generated.archive.to_str().unwrap(),
        "--kid",
        kid,
        "--format",
        "json",
        "--full-digests",
    ];
    let (code, first, _) = generated.instance.run(&args, None);
    assert_eq!(code, 0);
    let (_, second, _) = generated.instance.run(&args, None);
    assert_eq!(first, second);
    let parsed: Value = serde_json::from_str(&first).unwrap();
    let custody = &parsed["custody"];
    assert!(custody["tool"].as_str().unwrap().starts_with("haechi "));
    assert_eq!(custody["query"]["indicators"]["kids"][0], kid);
    assert!(custody["files"].as_array().unwrap().iter().all(|file| {
        file["sha256"].as_str().is_some_and(|hash| hash.len() == 64)
            && file["consulted_sha256"]
                .as_str()
                .is_some_and(|hash| hash.len() == 64)
    }));
    assert_eq!(custody["coverage"]["gaps"], serde_json::json!([]));
}

#[test]
fn duckdb_runs_the_recipes_and_agrees_with_scope() {
    let generated = generated();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("affected.jsonl");
    let kid = attack()["kid"].as_str().unwrap();
    let (code, stdout, stderr) = generated.instance.run(
        &[
            "scope",
            "--archive",
            generated.archive.to_str().unwrap(),
            "--kid",
            kid,
            "--out",
            list.to_str().unwrap(),
            "--no-contacts",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let scope_file = dir.path().join("scope.json");
    std::fs::write(&scope_file, &stdout).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("python3")
        .arg(root.join("tests/interop/forensics_duckdb.py"))
        .arg(root.join("docs/forensics.md"))
        .arg(&generated.archive)
        .arg(&scope_file)
        .arg(&list)
        .output()
        .expect("python3 must be installed (scripts/test installs duckdb)");
    assert!(
        output.status.success(),
        "DuckDB cross-check failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(result["ok"], true);
    assert_eq!(result["customers"].as_u64(), Some(victims().len() as u64));
}

/// Runs scope with `args` and `--out`; expects exit 2 with `message` in stderr, and nothing
/// written to the output's directory.
fn check_refused(instance: &Instance, args: &[&str], message: &str) {
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("affected.csv");
    let mut all = vec!["scope"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--out", out.to_str().unwrap(), "--no-contacts"]);
    let (code, stdout, stderr) = instance.run(&all, None);
    assert_eq!(code, 2, "{args:?}: {stdout}{stderr}");
    assert!(
        stderr.contains(message),
        "{args:?}: expected {message:?} in {stderr}"
    );
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        0,
        "{args:?} left a file behind"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn bad_input_exits_2_and_writes_nothing() {
    let generated = generated();
    let instance = &generated.instance;
    let archive = generated.archive.to_str().unwrap();
    let kid = attack()["kid"].as_str().unwrap();
    check_refused(
        instance,
        &["--archive", archive, "--domain", "evil.example"],
        "--domain",
    );
    check_refused(
        instance,
        &["--archive", archive, "--ip", "203.0.113/24"],
        "not an address or CIDR",
    );
    check_refused(
        instance,
        &["--archive", archive, "--ip", "203.0.113.7/24"],
        "host bits set",
    );
    check_refused(
        instance,
        &["--archive", archive, "--kid", kid, "--from", "yesterday"],
        "--from",
    );
    check_refused(
        instance,
        &[
            "--archive",
            archive,
            "--kid",
            kid,
            "--from",
            "2025-06-02",
            "--to",
            "2025-06-01",
        ],
        "empty window",
    );
    check_refused(instance, &["--archive", archive], "at least one indicator");
    check_refused(
        instance,
        &["--archive", archive, "--principal", "root"],
        "not a principal",
    );
    let dir = tempfile::tempdir().unwrap();
    let iocs = dir.path().join("iocs.txt");
    std::fs::write(&iocs, "ip 203.0.113.7\ndomain evil.example\n").unwrap();
    check_refused(
        instance,
        &["--archive", archive, "--indicators", iocs.to_str().unwrap()],
        "iocs.txt:2",
    );
    let (code, _, stderr) = instance.run(
        &[
            "scope",
            "--archive",
            archive,
            "--kid",
            kid,
            "--out",
            dir.path().join("list.txt").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains(".csv or .jsonl"), "{stderr}");
    assert!(!dir.path().join("list.txt").exists());

    // A truncated file in the archive.
    let damaged = dir.path().join("damaged");
    copy_dir(&generated.archive, &damaged);
    let day = damaged.join("day=2025-06-01");
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&day)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    parts.sort();
    let bytes = std::fs::read(&parts[0]).unwrap();
    std::fs::write(&parts[0], &bytes[..bytes.len() - 100]).unwrap();
    let name = parts[0].file_name().unwrap().to_str().unwrap().to_string();
    check_refused(
        instance,
        &["--archive", damaged.to_str().unwrap(), "--kid", kid],
        &name,
    );

    // A foreign file: Parquet magic, not Parquet.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir_all(foreign.join("day=2025-06-01")).unwrap();
    std::fs::write(
        foreign.join("day=2025-06-01/part-000000000001-000000000009.parquet"),
        b"PAR1 this is not what it claims PAR1",
    )
    .unwrap();
    check_refused(
        instance,
        &["--archive", foreign.to_str().unwrap(), "--kid", kid],
        "not a readable Parquet file",
    );

    // An archive directory that does not exist, and a generator asked for too small a span.
    check_refused(
        instance,
        &["--archive", "/nonexistent/archive", "--kid", kid],
        "/nonexistent/archive",
    );
    let (code, _, stderr) = instance.run(
        &[
            "archive",
            "generate",
            "--customers",
            "1000",
            "--events",
            "10000",
            "--days",
            "1",
            "--victims",
            "1000",
            "--attack-rate",
            "0.001",
            "--out",
            dir.path().join("never").to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("does not fit"), "{stderr}");
    assert!(!dir.path().join("never").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_log_beside_a_running_server_and_notification_contacts() {
    let instance = Instance::new();
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(
        instance.data_dir().join("policy.toml"),
        "[[grant]]\nservice = \"shop\"\npurposes = [\"account\"]\nfields = [\"name\"]\naccess = \"masked\"\n",
    )
    .unwrap();
    let credential = instance.create_service("shop", "account");
    let server = instance.serve();
    let shop = server.client_token(&credential).await;
    let mut ids = Vec::new();
    for (name, email, phone, password) in [
        (
            "김민준",
            "kim@example.com",
            "010-2345-6789",
            "correct horse battery",
        ),
        (
            "이서연",
            "lee@example.com",
            "010-9876-5432",
            "another good password",
        ),
    ] {
        let (status, body) = server
            .post_with(
                "/v1/customers",
                &shop,
                serde_json::json!({"name": name, "email": email, "phone": phone, "password": password}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
        let login = server.login(email, password).await;
        let token = login["access_token"].as_str().unwrap();
        let (status, _) = server.get_with("/v1/customers/me", token).await;
        assert_eq!(status, 200);
    }
    let (customer, other) = (ids[0].clone(), ids[1].clone());
    let principal = format!("customer:{customer}");

    // While the server runs: the live log is read without its lock.
    let (code, stdout, stderr) = instance.run(
        &["scope", "--principal", &principal, "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let live: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(customer_ids(&live), vec![customer.clone()]);
    assert!(live["custody"]["live_log"]["records"].as_u64().unwrap() > 0);
    assert_eq!(live["custody"]["coverage"]["gaps"], serde_json::json!([]));

    // Contact channels need the vault, which the server holds: refused, nothing written.
    let out_dir = tempfile::tempdir().unwrap();
    let list = out_dir.path().join("affected.csv");
    let (code, _, stderr) = instance.run(
        &[
            "scope",
            "--principal",
            &principal,
            "--out",
            list.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("haechi serve is running"), "{stderr}");
    assert_eq!(std::fs::read_dir(out_dir.path()).unwrap().count(), 0);
    assert_eq!(server.terminate(), Some(0));

    // Stopped: masked channels by default …
    let both = format!("{principal},customer:{other}");
    let (code, _, stderr) = instance.run(
        &[
            "scope",
            "--principal",
            &both,
            "--out",
            list.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let masked = std::fs::read_to_string(&list).unwrap();
    assert!(
        masked.starts_with(
            "customer_id,fields,first_exposure,last_exposure,reads,email,phone,contact_missing\n"
        ),
        "{masked}"
    );
    assert!(
        !masked.contains("kim@example.com") && masked.contains("k***@example.com"),
        "{masked}"
    );
    assert_eq!(masked.lines().count(), 3);
    // … plaintext for the notices with --notification, each read on the record.
    let notices = out_dir.path().join("notices.jsonl");
    let (code, _, stderr) = instance.run(
        &[
            "scope",
            "--principal",
            &both,
            "--out",
            notices.to_str().unwrap(),
            "--notification",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let text = std::fs::read_to_string(&notices).unwrap();
    assert!(
        text.contains("kim@example.com") && text.contains("lee@example.com"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&notices).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let (code, stdout, stderr) = instance.run(
        &["scope", "--principal", "admin:cli", "--format", "json"],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let operator: Value = serde_json::from_str(&stdout).unwrap();
    // Two masked lookups and two plaintext ones, each recorded as a read of email and phone.
    assert_eq!(operator["summary"]["customers"].as_u64(), Some(2));
    assert_eq!(operator["summary"]["records"].as_u64(), Some(4));
    assert_eq!(
        operator["summary"]["fields"]["email"]["reads"].as_u64(),
        Some(4)
    );
}

const SUPPORT_POLICY: &str = r#"
[[grant]]
service = "shop"
purposes = ["account"]
fields = ["name"]
access = "masked"

[[grant]]
service = "support"
purposes = ["support"]
fields = ["name", "email", "phone"]
access = "masked"

[quota]
window = "1h"
masked = 6
plaintext = 3
"#;

const DESK_AGENT: &str = "support-desk/2.1";
const THIEF_AGENT: &str = "python-requests/2.31";

/// `GET /v1/customers/{id}?purpose=support` as `agent`; returns the status.
async fn support_read(server: &crate::util::Server, token: &str, id: &str, agent: &str) -> u16 {
    server
        .client
        .get(server.url(&format!("/v1/customers/{id}?purpose=support")))
        .bearer_auth(token)
        .header("user-agent", agent)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Runs `haechi scope ARGS --format json`; returns the parsed output.
fn instance_scope(instance: &Instance, args: &[&str]) -> Value {
    let mut all = vec!["scope", "--format", "json"];
    all.extend_from_slice(args);
    let (code, stdout, stderr) = instance.run(&all, None);
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// A stolen service credential: the support desk reads three customers with its client, the
/// thief reads three more with its own tool until the quota stops it and keeps pushing. The
/// server raises `haechi.pii.quota_burst` (group: the principal; context: the thief's agent)
/// and `haechi.pii.quota_exceeded` (likewise). `scope --alert` on either finds exactly the
/// thief's victims; the principal alone, every customer the service read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_of_an_alert_the_server_raised() {
    let instance = Instance::new();
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(instance.data_dir().join("policy.toml"), SUPPORT_POLICY).unwrap();
    let shop_credential = instance.create_service("shop", "account");
    let support_credential = instance.create_service("support", "support");
    let server = instance.serve();
    let shop = server.client_token(&shop_credential).await;
    let support = server.client_token(&support_credential).await;
    let mut ids = Vec::new();
    for index in 0..8 {
        let (status, body) = server
            .post_with(
                "/v1/customers",
                &shop,
                serde_json::json!({
                    "name": "김민준",
                    "email": format!("customer{index}@example.com"),
                    "phone": format!("010-{}-{:04}", 2000 + index, 1000 + index),
                    "password": "correct horse battery",
                }),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }
    for id in &ids[..3] {
        assert_eq!(support_read(&server, &support, id, DESK_AGENT).await, 200);
    }
    for id in &ids[3..6] {
        assert_eq!(support_read(&server, &support, id, THIEF_AGENT).await, 200);
    }
    // The masked budget (6 distinct customers) is spent: five refusals make a burst.
    for attempt in 0..5 {
        let id = &ids[6 + attempt % 2];
        assert_eq!(support_read(&server, &support, id, THIEF_AGENT).await, 429);
    }
    let alert_of = |events: &[Value], rule: &str| {
        events
            .iter()
            .find(|event| event["kind"] == "alert.raised" && event["detail"]["rule_id"] == rule)
            .map(|event| event["detail"]["alert_id"].as_str().unwrap().to_string())
    };
    let events = server.wait_for_events(|events| {
        alert_of(events, "haechi.pii.quota_burst").is_some()
            && alert_of(events, "haechi.pii.quota_exceeded").is_some()
    });
    let burst = alert_of(&events, "haechi.pii.quota_burst").unwrap();
    let exceeded = alert_of(&events, "haechi.pii.quota_exceeded").unwrap();
    let raised = events
        .iter()
        .find(|event| event["detail"]["alert_id"] == burst.as_str())
        .unwrap();
    assert_eq!(raised["detail"]["group_by"], "principal");
    let mut thief_victims = ids[3..6].to_vec();
    thief_victims.sort();
    let mut all_read = ids[..6].to_vec();
    all_read.sort();

    // Beside the running server: the alert is read from the live log.
    let scope = instance_scope(&instance, &["--alert", &burst]);
    assert_eq!(customer_ids(&scope), thief_victims);
    assert_eq!(scope["summary"]["records"].as_u64(), Some(3));
    let query = &scope["custody"]["query"];
    assert_eq!(query["match"], "all");
    assert_eq!(
        query["indicators"]["principals"],
        serde_json::json!(["service:support"])
    );
    assert_eq!(
        query["indicators"]["user_agents"],
        serde_json::json!([THIEF_AGENT])
    );
    let alert = &query["alert"];
    assert_eq!(alert["id"], burst.as_str());
    assert_eq!(alert["rule_id"], "haechi.pii.quota_burst");
    assert_eq!(alert["group_key"], "service:support");
    assert_eq!(alert["group_by_from"], "event");
    assert_eq!(
        alert["indicators"],
        serde_json::json!([
            {"kind": "principal", "value": "service:support", "from": "group"},
            {"kind": "user_agent", "value": THIEF_AGENT, "from": "context"},
        ])
    );
    assert_eq!(alert["skipped"], serde_json::json!([]));

    // The quota_exceeded alert copies the thief's user agent too (its first refusal was the
    // thief's); the principal alone is every read of the service, the desk's included.
    let scope = instance_scope(&instance, &["--alert", &exceeded]);
    assert_eq!(customer_ids(&scope), thief_victims);
    let scope = instance_scope(&instance, &["--principal", "service:support"]);
    assert_eq!(customer_ids(&scope), all_read);

    // Further flags narrow (a network the thief never used), and the table names the alert.
    let scope = instance_scope(&instance, &["--alert", &burst, "--ip", "192.0.2.0/24"]);
    assert_eq!(scope["summary"]["customers"].as_u64(), Some(0));
    let (code, table, stderr) = instance.run(&["scope", "--alert", &burst], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        table.contains(&format!("alert               {burst}"))
            && table.contains(&format!("user_agent {THIEF_AGENT}"))
            && table.contains("customers exposed   3"),
        "{table}"
    );

    // Bad input: an unknown id, the union mode.
    let unknown = "haechi.pii.quota_burst/999999";
    check_refused(&instance, &["--alert", unknown], unknown);
    check_refused(
        &instance,
        &["--alert", &burst, "--match", "any"],
        "--match all",
    );

    // After export and without the live log: the alert is found in the archive.
    assert_eq!(server.terminate(), Some(0));
    let archive = instance.dir.path().join("archive");
    let (code, stdout, stderr) = instance.run(
        &[
            "audit",
            "export",
            "--to",
            archive.to_str().unwrap(),
            "--seal",
        ],
        None,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let scope = instance_scope(
        &instance,
        &[
            "--alert",
            &burst,
            "--no-live-log",
            "--archive",
            archive.to_str().unwrap(),
        ],
    );
    assert_eq!(customer_ids(&scope), thief_victims);
    assert!(scope["custody"]["live_log"].is_null());
    check_refused(
        &instance,
        &[
            "--alert",
            unknown,
            "--no-live-log",
            "--archive",
            archive.to_str().unwrap(),
        ],
        unknown,
    );
}

/// A security team's Sigma tooling works on Haechi's rules and records: pySigma parses every
/// built-in rule file, and its SQL backend turns a single-event rule (the built-in forged-token
/// rule, and a hunt for reads signed by the leaked key) into SQL that DuckDB runs over the
/// Parquet archive — counting exactly what Haechi's own replay of the same rule file counts.
#[test]
fn sigma_tools_read_haechis_rules_and_records() {
    let generated = generated();
    let dir = tempfile::tempdir().unwrap();
    let hunt = leaked_key_hunt(dir.path());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = std::process::Command::new("python3")
        .arg(root.join("tests/interop/sigma_check.py"))
        .arg(root.join("crates/detect/rules"))
        .arg(&hunt)
        .arg(&generated.archive)
        .output()
        .expect("python3 must be installed (scripts/test installs pySigma and duckdb)");
    assert!(
        output.status.success(),
        "pySigma check failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let result: Value = serde_json::from_slice(&output.stdout).unwrap();

    // Every rule Haechi loads from the pack is a Sigma rule pySigma parsed, with the same UUID.
    let parsed = result["rules"].as_object().unwrap();
    for rule in haechi_detect::builtin_rules().rules {
        let sigma = &parsed[rule.id()];
        assert_eq!(sigma["id"].as_str(), rule.sigma_id(), "{}", rule.id());
    }
    assert_eq!(
        result["forged_sql"][0],
        "SELECT * FROM logs WHERE kind='token.forged'"
    );
    assert_eq!(
        result["forged_rows"], 0,
        "the generated breach has no Haechi in front"
    );

    let (code, stdout, stderr) = generated.instance.run(
        &[
            "detect",
            "replay",
            generated.archive.to_str().unwrap(),
            "--no-builtin",
            "--rules",
            hunt.to_str().unwrap(),
            "--format",
            "json",
            "--quiet",
        ],
        None,
    );
    assert_eq!(code, 1, "alerts found exit 1: {stdout}{stderr}");
    let matches: u64 = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|record| record["record"] == "alert")
        .map(|record| record["count"].as_u64().unwrap())
        .sum();
    let reads = attack()["reads"].as_u64().unwrap();
    assert_eq!(matches, reads);
    assert_eq!(result["hunt_rows"].as_u64(), Some(reads));
}

/// A single-event hunt rule for the reads signed by the generated attack's key, written in
/// `dir`: what a security team would write first.
fn leaked_key_hunt(dir: &Path) -> std::path::PathBuf {
    let kid = attack()["kid"].as_str().unwrap();
    let hunt = dir.join("hunt.yaml");
    std::fs::write(
        &hunt,
        format!(
            "title: Reads signed by the leaked key
id: 2f6d8e1a-4b3c-4d5e-9f60-7a8b9c0d1e2f
name: hunt.leaked_key_reads
description: Personal data read with a token signed by the key the attacker holds.
logsource: {{product: haechi, service: audit}}
detection:
  read:
    kind: pii.read
    kid: {kid}
  condition: read
falsepositives: [Tokens the company itself issued with the key before it leaked.]
level: high
"
        ),
    )
    .unwrap();
    hunt
}

/// A hunt over a window: `--from/--to` around the attack find every read of it while skipping
/// the row groups outside (by their time statistics); a window before it finds none; a bad
/// time is refused by name; `--decode-only` reads every record and evaluates nothing.
#[test]
fn replay_windows_prune_row_groups_and_keep_every_event_inside() {
    let generated = generated();
    let dir = tempfile::tempdir().unwrap();
    let hunt = leaked_key_hunt(dir.path());
    let replay = |extra: &[&str]| {
        let mut args = vec![
            "detect",
            "replay",
            generated.archive.to_str().unwrap(),
            "--no-builtin",
            "--rules",
            hunt.to_str().unwrap(),
            "--format",
            "json",
            "--quiet",
        ];
        args.extend_from_slice(extra);
        let (code, stdout, stderr) = generated.instance.run(&args, None);
        let matches: u64 = stdout
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|record| record["record"] == "alert")
            .map(|record| record["count"].as_u64().unwrap())
            .sum();
        (code, matches, stderr)
    };
    let reads = attack()["reads"].as_u64().unwrap();
    let first = attack()["first"].as_str().unwrap();
    let last = attack()["last"].as_str().unwrap();

    let (code, matches, stderr) = replay(&["--from", first, "--to", last]);
    assert_eq!((code, matches), (1, reads), "{stderr}");
    assert!(
        stderr.contains("row groups outside --from/--to not read"),
        "{stderr}"
    );

    let (code, matches, stderr) = replay(&["--to", "2000-01-01"]);
    assert_eq!((code, matches), (0, 0), "{stderr}");

    let (code, _, stderr) = replay(&["--from", "yesterday"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("--from: \"yesterday\" is not a time"),
        "{stderr}"
    );

    let (code, matches, stderr) = replay(&["--decode-only"]);
    assert_eq!((code, matches), (0, 0), "{stderr}");
    assert!(stderr.contains("0 alerts from 60000 records"), "{stderr}");
}

/// A window hunted with the whole pack gives exactly the alerts the whole replay has active in
/// it: the rules first read the history before `--from` they need, so the absence rule that
/// catches reads without a login judges the window as it would in the whole archive (without
/// that history it could claim no absence, and the attack would go unseen).
#[test]
fn a_replay_window_reports_what_the_whole_replay_has_active_in_it() {
    let instance = Instance::new();
    let archive = instance.dir.path().join("archive");
    let archive = archive.to_str().unwrap();
    let (code, _, stderr) = instance.run(
        &[
            "archive",
            "generate",
            "--customers",
            "3000",
            "--events",
            "120000",
            "--days",
            "20",
            "--victims",
            "200",
            "--seed",
            "9",
            "--row-group-rows",
            "4096",
            "--out",
            archive,
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let truth: Value = serde_json::from_slice(
        &std::fs::read(Path::new(archive).join("_ground_truth.json")).unwrap(),
    )
    .unwrap();
    let alerts = |extra: &[&str]| -> (Vec<Value>, String) {
        let mut args = vec!["detect", "replay", archive, "--format", "json", "--quiet"];
        args.extend_from_slice(extra);
        let (_, stdout, stderr) = instance.run(&args, None);
        let alerts = stdout
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|record| record["record"] == "alert")
            .collect();
        (alerts, stderr)
    };
    let key = |alert: &Value| {
        format!(
            "{} {} {} {}",
            alert["rule_id"], alert["group"], alert["first_time"], alert["count"]
        )
    };
    let first = truth["attack"]["first"].as_str().unwrap();
    let last = truth["attack"]["last"].as_str().unwrap();
    let micros = |text: &str| haechi_forensics::parse_time(text).unwrap().as_micros();
    let (from, to) = (micros(first), micros(last));
    let (all, _) = alerts(&[]);
    let whole: std::collections::BTreeSet<String> = all
        .iter()
        .filter(|alert| {
            alert["last_time"].as_i64().unwrap() >= from
                && alert["first_time"].as_i64().unwrap() <= to
        })
        .map(key)
        .collect();
    let (inside, stderr) = alerts(&["--from", first, "--to", last]);
    let window: std::collections::BTreeSet<String> = inside.iter().map(key).collect();
    let victims = truth["attack"]["victims"].as_array().unwrap().len();
    assert_eq!(whole.len(), victims, "one forged session per victim");
    assert_eq!(window, whole);
    assert!(
        stderr.contains("the rules first read the 90.0 days before it"),
        "{stderr}"
    );
    assert!(
        stderr.contains("row groups outside --from/--to not read"),
        "{stderr}"
    );
}
