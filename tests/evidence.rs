//! Auditor evidence end to end: a month reviewed and acknowledged through the API on a live
//! server, the signed report served and checked by an auditor's own tools (python-jsonschema,
//! pyca/cryptography); and the report of a real data directory after a drill, written by the
//! command line, checked, rendered in Chromium, and broken by tampering.

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::util::{Instance, haechi_binary};

const POLICY: &str = r#"
[[grant]]
service = "shipping"
purposes = ["shipping"]
fields = ["name", "addresses"]
access = "plaintext"
"#;

fn schema_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/evidence.schema.json")
}

/// The auditor's check (`tests/interop/evidence_check.py`): exit code and output.
fn auditor_check(key_pem: &Path, report: &Path, signed: &[(&Path, &Path)]) -> (bool, String) {
    let mut command = Command::new("python3");
    command
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/evidence_check.py"))
        .arg(schema_path())
        .arg(key_pem)
        .arg(report);
    for (file, signature) in signed {
        command.arg(file).arg(signature);
    }
    let output = command
        .output()
        .expect("python3 with jsonschema and cryptography (tests/requirements.txt)");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn requirement<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|requirement| requirement["id"] == id)
        .unwrap_or_else(|| panic!("{id} is in the report"))
}

/// Every control has evidence, and every status short of met says why with findings.
fn assert_every_control_shows_its_case(report: &Value) {
    let requirements = report["requirements"].as_array().unwrap();
    assert_eq!(requirements.len(), 11);
    for requirement in requirements {
        let id = &requirement["id"];
        assert!(
            !requirement["evidence"].as_array().unwrap().is_empty(),
            "{id} shows evidence"
        );
        assert!(
            !requirement["status_reason"].as_str().unwrap().is_empty(),
            "{id} says why"
        );
        if requirement["status"] == "not_met" || requirement["status"] == "partly" {
            assert!(
                !requirement["findings"].as_array().unwrap().is_empty(),
                "{id} is {} with findings",
                requirement["status"]
            );
        }
    }
}

#[tokio::test]
async fn a_month_is_reviewed_and_the_signed_report_is_served() {
    let instance = Instance::new()
        .with_env("HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK", "true")
        .with_env("HAECHI_DRILL__START", "2026-10-30T00:00:00Z")
        .with_env("HAECHI_EVIDENCE__ORGANISATION", "해치몰");
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(instance.data_dir().join("policy.toml"), POLICY).unwrap();
    let admin = instance.create_admin("auditor");
    // The review job's name (like detection's and the local operator's) is no person's.
    for reserved in ["haechi-review", "haechi-detect", "cli"] {
        let (code, _, stderr) = instance.run(&["admin", "create", reserved], None);
        assert_ne!(code, 0, "{reserved}");
        assert!(stderr.contains("reserved"), "{stderr}");
    }
    let shipping = instance.create_service("shipping", "shipping");
    // Three customers in the vault, through the bulk path.
    let (code, generated, stderr) = instance.run(
        &["customers", "generate", "--count", "3", "--seed", "7"],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let ids = instance.dir.path().join("ids.tsv");
    let (code, _, stderr) = instance.run(
        &[
            "customers",
            "import",
            "-",
            "--ids-out",
            ids.to_str().unwrap(),
        ],
        Some(&generated),
    );
    assert_eq!(code, 0, "{stderr}");
    let customers: Vec<String> = std::fs::read_to_string(&ids)
        .unwrap()
        .lines()
        .map(|line| line.split('\t').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(customers.len(), 3);
    let server = instance.serve();
    let credential = admin;
    let admin = server.client_token(&credential).await;
    let shipping = server.client_token(&shipping).await;
    for customer in &customers {
        let (status, body) = server
            .get_with(
                &format!("/v1/customers/{customer}?purpose=shipping"),
                &shipping,
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    // October is not over: its review cannot be acknowledged yet.
    let (status, review) = server
        .get_with("/v1/admin/evidence/reviews/2026-10", &admin)
        .await;
    assert_eq!(status, 200, "{review}");
    assert_eq!(review["review"]["closed"], false);
    let digest = review["review"]["digest"].as_str().unwrap().to_string();
    let (status, body) = server
        .post_with(
            "/v1/admin/evidence/reviews/2026-10",
            &admin,
            json!({"digest": digest, "note": "early"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"], "conflict");

    // November 2nd: October is over.
    let (status, body) = server
        .post_with(
            "/v1/admin/drill/clock",
            &admin,
            json!({"now": "2026-11-02T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // Three days on, the token has expired; a fresh one.
    let admin = server.client_token(&credential).await;
    let (status, review) = server
        .get_with("/v1/admin/evidence/reviews/2026-10", &admin)
        .await;
    assert_eq!(status, 200, "{review}");
    assert_eq!(review["review"]["closed"], true);
    let lines = review["review"]["principals"].as_array().unwrap();
    assert!(
        lines
            .iter()
            .any(|line| line["principal"] == "service:shipping" && line["accesses"] == 3),
        "{review}"
    );
    let digest = review["review"]["digest"].as_str().unwrap().to_string();
    for (month, body, status) in [
        ("2026-13", json!({"digest": digest}), 400),
        ("2026-10", json!({"digest": "0".repeat(64)}), 409),
        ("2026-11", json!({"digest": digest}), 409),
        (
            "2026-10",
            json!({"digest": digest, "note": "x".repeat(501)}),
            422,
        ),
        (
            "2026-10",
            json!({"digest": digest, "note": "a\u{7}bell"}),
            422,
        ),
        ("2026-10", json!({"digest": digest, "extra": 1}), 422),
    ] {
        let (found, answer) = server
            .post_with(
                &format!("/v1/admin/evidence/reviews/{month}"),
                &admin,
                body.clone(),
            )
            .await;
        assert_eq!(found, status, "{month} {body}: {answer}");
        assert!(answer["error"].is_string() && answer["message"].is_string());
    }
    let (status, acknowledged) = server
        .post_with(
            "/v1/admin/evidence/reviews/2026-10",
            &admin,
            json!({"digest": digest, "note": "Shipping label run only; no bulk reads."}),
        )
        .await;
    assert_eq!(status, 201, "{acknowledged}");
    assert_eq!(acknowledged["reviewer"], "admin:auditor");
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "audit.review_acknowledged")
    });
    let recorded = events
        .iter()
        .find(|event| event["kind"] == "audit.review_acknowledged")
        .unwrap();
    assert_eq!(recorded["detail"]["month"], "2026-10");
    assert_eq!(recorded["detail"]["digest"], digest.as_str());
    // The review job prepared October once it ended, pinning the same summary.
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "audit.review_prepared")
    });
    let prepared: Vec<&Value> = events
        .iter()
        .filter(|event| event["kind"] == "audit.review_prepared")
        .collect();
    assert_eq!(prepared.len(), 1, "{prepared:?}");
    assert_eq!(prepared[0]["principal"], "admin:haechi-review");
    assert_eq!(prepared[0]["detail"]["month"], "2026-10");
    assert_eq!(prepared[0]["detail"]["digest"], digest.as_str());
    let (status, review) = server
        .get_with("/v1/admin/evidence/reviews/2026-10", &admin)
        .await;
    assert_eq!(status, 200);
    assert_eq!(review["prepared_digest"], digest.as_str());
    assert_eq!(review["acknowledgements"][0]["digest_matches"], true);
    assert_eq!(review["overdue"], false);
    let reads = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "admin.audit_read" && event["detail"]["what"] == "review")
    });
    assert!(
        reads
            .iter()
            .any(|event| event["detail"]["what"] == "review"
                && event["detail"]["month"] == "2026-10"),
        "reading a review is on the record"
    );

    // An audit search says why it reads; a reason is one printable line, given once.
    let (status, body) = server
        .get_with(
            "/v1/admin/audit?kind=pii.read&reason=ISMS-P%20sample%20of%20reads",
            &admin,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    for query in ["kind=pii.read&reason=a&reason=b", "reason=%0A", "reason="] {
        let (status, body) = server
            .get_with(&format!("/v1/admin/audit?{query}"), &admin)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
    }

    // The report of October, JSON and HTML, each signed by the audit key.
    let (_, key_pem, stderr) = instance.run(&["audit", "public-key"], None);
    assert!(key_pem.contains("BEGIN PUBLIC KEY"), "{stderr}");
    let key_file = instance.dir.path().join("audit.pem");
    std::fs::write(&key_file, &key_pem).unwrap();
    let client = haechi_outbound::plain_builder().unwrap().build().unwrap();
    let fetch = |query: &str| {
        client
            .get(server.url(&format!("/v1/admin/evidence?{query}")))
            .bearer_auth(&admin)
            .send()
    };
    let response = fetch("from=2026-10-01&to=2026-10-31&reason=ISMS-P%20renewal%202026")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let signature = base64::engine::general_purpose::STANDARD
        .decode(response.headers()["x-haechi-signature"].as_bytes())
        .unwrap();
    let body = response.bytes().await.unwrap();
    let dir = instance.dir.path();
    std::fs::write(dir.join("report.json"), &body).unwrap();
    std::fs::write(dir.join("report.json.sig"), &signature).unwrap();
    let (ok, output) = auditor_check(
        &key_file,
        &dir.join("report.json"),
        &[(&dir.join("report.json"), &dir.join("report.json.sig"))],
    );
    assert!(ok, "{output}");

    let report: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["format"], "haechi.evidence.v1");
    assert_eq!(report["organisation"], "해치몰");
    assert_eq!(report["generated_by"], "admin:auditor");
    assert_every_control_shows_its_case(&report);
    // October was reviewed and acknowledged by a named reviewer: both review controls met.
    assert_eq!(
        report["reviews"][0]["acknowledged"]["reviewer"],
        "admin:auditor"
    );
    assert_eq!(report["reviews"][0]["acknowledged"]["digest_matches"], true);
    assert_eq!(
        requirement(&report, "2.9.5")["status"],
        "met",
        "{}",
        requirement(&report, "2.9.5")
    );
    assert_eq!(requirement(&report, "2.5.6")["status"], "met");
    // No drill reports are configured: 2.11.4 says so, in red.
    let drills = requirement(&report, "2.11.4");
    assert_eq!(drills["status"], "not_met");
    assert!(
        drills["status_reason"]
            .as_str()
            .unwrap()
            .contains("drill_reports")
    );
    // The trail verifies and nothing personal lies in the data directory.
    assert_eq!(
        requirement(&report, "2.7.1")["status"],
        "met",
        "{}",
        requirement(&report, "2.7.1")
    );
    let generator = haechi_korean::CustomerGenerator::new(7);
    for index in 0..3 {
        let customer = generator.customer(index);
        for value in [&customer.name, &customer.email, &customer.phone] {
            assert!(
                !crate::util::contains(&body, value.as_bytes()),
                "customer {index} named"
            );
        }
    }

    let response = fetch("from=2026-10-01&to=2026-10-31&format=html")
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/html; charset=utf-8"
    );
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .starts_with("default-src 'none'")
    );
    let signature = base64::engine::general_purpose::STANDARD
        .decode(response.headers()["x-haechi-signature"].as_bytes())
        .unwrap();
    let html = response.bytes().await.unwrap();
    std::fs::write(dir.join("report.html"), &html).unwrap();
    std::fs::write(dir.join("report.html.sig"), &signature).unwrap();
    let (ok, output) = auditor_check(
        &key_file,
        &dir.join("report.json"),
        &[(&dir.join("report.html"), &dir.join("report.html.sig"))],
    );
    assert!(ok, "{output}");

    // Hostile parameters: a clear 400 each.
    for query in [
        "",
        "from=2026-10-01",
        "from=2026-10-31&to=2026-10-01",
        "from=2020-01-01&to=2026-10-01",
        "from=2026-10-01&to=2026-10-31&format=pdf",
        "from=2026-10-01&to=2026-10-31&reason=a%0Ab",
        "from=2026-10-01&to=2026-10-31&unknown=1",
        "from=..%2F..%2Fetc&to=2026-10-31",
        "from=2027-01-01&to=2027-01-31",
        "from=9999-12-01&to=9999-12-31",
        "from=2026-10-01&to=2026-10-31&reason=customer%20010-2345-6789%20asked",
        "from=2026-10-01&to=2026-10-31&reason=a%E2%80%AEb",
    ] {
        let response = fetch(query).await.unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_parameter", "{query}: {body}");
    }
    // Every download is on the record, with its reason when one was given.
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .filter(|event| {
                event["kind"] == "admin.audit_read" && event["detail"]["what"] == "evidence"
            })
            .count()
            >= 2
    });
    let downloads: Vec<&Value> = events
        .iter()
        .filter(|event| {
            event["kind"] == "admin.audit_read" && event["detail"]["what"] == "evidence"
        })
        .collect();
    assert_eq!(downloads[0]["reason"], "ISMS-P renewal 2026");
    assert_eq!(downloads[0]["detail"]["period"], "2026-10-01..2026-10-31");
    assert_eq!(downloads[1]["reason"], Value::Null);

    // December 9th: November ended eight days ago and nobody acknowledged its review. The job
    // records it overdue once, and the built-in rule raises it.
    let (status, body) = server
        .post_with(
            "/v1/admin/drill/clock",
            &admin,
            json!({"now": "2026-12-09T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "audit.review_overdue")
    });
    let overdue: Vec<&Value> = events
        .iter()
        .filter(|event| event["kind"] == "audit.review_overdue")
        .collect();
    assert_eq!(overdue[0]["detail"]["month"], "2026-11");
    let admin = server.client_token(&credential).await;
    // Settle detection past the record.
    let (status, body) = server
        .post_with(
            "/v1/admin/drill/clock",
            &admin,
            json!({"now": "2026-12-09T00:00:05Z"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, alerts) = server
        .get_with("/v1/admin/alerts?rule=haechi.audit.review_overdue", &admin)
        .await;
    assert_eq!(status, 200, "{alerts}");
    assert_eq!(alerts["total"], 1, "{alerts}");
    let response = client
        .get(server.url("/v1/admin/evidence?from=2026-10-01&to=2026-11-30"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let report: Value = response.json().await.unwrap();
    let review = requirement(&report, "2.9.5");
    assert_eq!(review["status"], "partly", "{review}");
    assert!(
        review["status_reason"]
            .as_str()
            .unwrap()
            .contains("2026-11: the access review was not acknowledged"),
        "{review}"
    );
    // The searches and downloads of November, with their reasons or the lack of one.
    let downloads = &review["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| {
            item["title"]
                .as_str()
                .unwrap()
                .contains("Searches and exports")
        })
        .unwrap()["table"]["rows"];
    let rows = downloads.as_array().unwrap();
    assert!(
        rows.iter()
            .any(|row| row[3] == "ISMS-P sample of reads" && row[2] == "search"),
        "{downloads}"
    );
    assert!(
        rows.iter()
            .any(|row| row[3] == "ISMS-P renewal 2026" && row[2] == "evidence"),
        "{downloads}"
    );
    assert!(
        review["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|finding| finding["text"]
                .as_str()
                .unwrap()
                .contains("without a recorded reason")),
        "{review}"
    );
    let events = server.events();
    assert_eq!(
        events
            .iter()
            .filter(|event| event["kind"] == "audit.review_overdue")
            .count(),
        1,
        "recorded once"
    );
}

/// `haechi evidence ARGS` against `data` with `env`; (exit code, stdout, stderr).
fn evidence(data: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut command = Command::new(haechi_binary());
    command
        .arg("evidence")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env_remove("HAECHI_CONFIG")
        .env_remove("HAECHI_MASTER_KEY");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_report_of_a_drilled_data_directory_is_signed_checked_and_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let reports = dir.path().join("reports");
    let kept = dir.path().join("kept");
    let output = Command::new(haechi_binary())
        .args(["drill", "coupang", "--customers", "200", "--quiet", "--out"])
        .arg(&reports)
        .arg("--keep-data")
        .arg(&kept)
        .env_remove("HAECHI_CONFIG")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let data = kept.join("coupang");
    let out = dir.path().join("evidence");
    let (code, stdout, stderr) = evidence(
        &data,
        &[
            ("HAECHI_EVIDENCE__DRILL_REPORTS", reports.to_str().unwrap()),
            ("HAECHI_EVIDENCE__ORGANISATION", "해치몰 (drill)"),
        ],
        &[
            "--from",
            "2025-06-01",
            "--to",
            "2025-07-31",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("2.11.4"), "{stdout}");

    let report: Value =
        serde_json::from_slice(&std::fs::read(out.join("report.json")).unwrap()).unwrap();
    assert_every_control_shows_its_case(&report);
    // The drill is on record, passed, within the year.
    let drills = requirement(&report, "2.11.4");
    assert_eq!(drills["status"], "met", "{drills}");
    let drill_rows = &drills["evidence"][0]["table"]["rows"];
    assert_eq!(drill_rows[0][1], "coupang", "{drills}");
    // The forged-token attack's alert is listed with how fast it was contained.
    let response = requirement(&report, "2.11.5");
    let alerts = response["evidence"][0]["table"]["rows"].as_array().unwrap();
    assert!(
        alerts
            .iter()
            .any(|row| row[1].as_str().unwrap().contains("forged")),
        "{response}"
    );
    // The data directory holds no plaintext personal data; the chain verifies.
    let encryption = requirement(&report, "2.7.1");
    assert_eq!(encryption["status"], "met", "{encryption}");
    let keeping = requirement(&report, "2.9.4");
    assert!(
        keeping["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|finding| finding["severity"] != "failure"),
        "{keeping}"
    );
    // A trial install's master key lies in the data directory: shown in red, not hidden.
    let keys = requirement(&report, "2.7.2");
    assert_eq!(keys["status"], "not_met");
    assert!(
        keys["status_reason"]
            .as_str()
            .unwrap()
            .contains("beside what it protects")
    );
    assert_eq!(report["figures"].as_array().unwrap().len(), 3);

    // The command's own check, and the auditor's: schema and signatures.
    let (code, stdout, stderr) = evidence(&data, &[], &["verify", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let key = dir.path().join("audit.pem");
    let public_key = Command::new(haechi_binary())
        .args(["audit", "public-key", "--data-dir"])
        .arg(&data)
        .env_remove("HAECHI_MASTER_KEY")
        .output()
        .unwrap();
    std::fs::write(&key, &public_key.stdout).unwrap();
    let mut signed: Vec<(std::path::PathBuf, std::path::PathBuf)> =
        ["report.json", "report.html", "manifest.json"]
            .iter()
            .map(|name| (out.join(name), out.join(format!("{name}.sig"))))
            .collect();
    if out.join("report.pdf").exists() {
        assert!(
            std::fs::read(out.join("report.pdf"))
                .unwrap()
                .starts_with(b"%PDF")
        );
        signed.push((out.join("report.pdf"), out.join("report.pdf.sig")));
    }
    let pairs: Vec<(&Path, &Path)> = signed
        .iter()
        .map(|(a, b)| (a.as_path(), b.as_path()))
        .collect();
    let (ok, output) = auditor_check(&key, &out.join("report.json"), &pairs);
    assert!(ok, "{output}");

    // No drill customer's personal data in any file written.
    let drill: Value =
        serde_json::from_slice(&std::fs::read(reports.join("coupang/report.json")).unwrap())
            .unwrap();
    let generator = haechi_korean::CustomerGenerator::new(drill["seed"].as_u64().unwrap());
    let files: Vec<Vec<u8>> = ["report.json", "report.html"]
        .iter()
        .map(|name| std::fs::read(out.join(name)).unwrap())
        .collect();
    for index in 0..200 {
        let customer = generator.customer(index);
        for file in &files {
            for value in [&customer.name, &customer.email, &customer.phone] {
                assert!(
                    !crate::util::contains(file, value.as_bytes()),
                    "customer {index}'s data in the report"
                );
            }
        }
    }

    // The report in Chromium: every control rendered, the red ones with their reason.
    render_in_browser(&out.join("report.html"));

    // A customer export left in the data directory turns encryption red, naming the file.
    let leaked = generator.customer(3);
    std::fs::create_dir_all(data.join("exports")).unwrap();
    std::fs::write(
        data.join("exports/customers.csv"),
        format!(
            "name,email,phone\n{},{},{}\n",
            leaked.name, leaked.email, leaked.phone
        ),
    )
    .unwrap();
    let rescanned = dir.path().join("rescanned");
    let (code, stdout, stderr) = evidence(
        &data,
        &[],
        &[
            "--from",
            "2025-06-01",
            "--to",
            "2025-07-31",
            "--out",
            rescanned.to_str().unwrap(),
            "--pdf",
            "never",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let again: Value =
        serde_json::from_slice(&std::fs::read(rescanned.join("report.json")).unwrap()).unwrap();
    let encryption = requirement(&again, "2.7.1");
    assert_eq!(encryption["status"], "not_met", "{encryption}");
    let reason = encryption["status_reason"].as_str().unwrap();
    assert!(reason.contains("exports/customers.csv"), "{reason}");
    assert!(
        reason.contains("mobile") && reason.contains("email"),
        "{reason}"
    );
    let written = std::fs::read(rescanned.join("report.json")).unwrap();
    for value in [&leaked.name, &leaked.email, &leaked.phone] {
        assert!(
            !crate::util::contains(&written, value.as_bytes()),
            "the report repeats the leak"
        );
    }
    std::fs::remove_dir_all(data.join("exports")).unwrap();
    // A file of another report beside this one is not part of it.
    let (code, stdout, _) = evidence(&data, &[], &["verify", rescanned.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    std::fs::copy(out.join("report.html"), rescanned.join("report.pdf")).unwrap();
    std::fs::copy(
        out.join("report.html.sig"),
        rescanned.join("report.pdf.sig"),
    )
    .unwrap();
    let (code, stdout, _) = evidence(&data, &[], &["verify", rescanned.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("report.pdf: not part of this report"),
        "{stdout}"
    );

    // A leak-watch pass is on the record whatever it found: one that matched nobody is
    // listed in today's report.
    let dump = dir.path().join("nobody.csv");
    std::fs::write(&dump, "email,phone\nnobody@example.org,010-9999-0000\n").unwrap();
    let output = Command::new(haechi_binary())
        .args(["leak", "match"])
        .arg(&dump)
        .arg("--data-dir")
        .arg(&data)
        .env_remove("HAECHI_CONFIG")
        .env_remove("HAECHI_MASTER_KEY")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let today = std::process::Command::new("date")
        .args(["+%F"])
        .env("TZ", "Asia/Seoul")
        .output()
        .unwrap();
    let today = String::from_utf8(today.stdout).unwrap().trim().to_string();
    let daily = dir.path().join("daily");
    let (code, stdout, stderr) = evidence(
        &data,
        &[],
        &[
            "--from",
            &today,
            "--to",
            &today,
            "--out",
            daily.to_str().unwrap(),
            "--pdf",
            "never",
            "--quiet",
        ],
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    let daily: Value =
        serde_json::from_slice(&std::fs::read(daily.join("report.json")).unwrap()).unwrap();
    let response = requirement(&daily, "2.11.5");
    let passes = response["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|item| {
            item["title"]
                .as_str()
                .unwrap()
                .contains("Leak-watch passes")
        })
        .unwrap();
    assert!(
        passes["table"]["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|row| row[2] == "nobody.csv" && row[4] == "0"),
        "{passes}"
    );

    // Tampering: a status made better breaks the signature and, made up, the schema.
    let original = std::fs::read_to_string(out.join("report.json")).unwrap();
    let tampered = original.replacen("\"status\": \"not_met\"", "\"status\": \"met\"", 1);
    assert_ne!(tampered, original);
    std::fs::write(out.join("report.json"), &tampered).unwrap();
    let (code, stdout, _) = evidence(&data, &[], &["verify", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("report.json: the signature does not match"),
        "{stdout}"
    );
    let (ok, output) = auditor_check(
        &key,
        &out.join("report.json"),
        &[(&out.join("report.json"), &out.join("report.json.sig"))],
    );
    assert!(!ok && output.contains("signature BAD"), "{output}");
    let invented = original.replacen("\"status\": \"not_met\"", "\"status\": \"fine\"", 1);
    std::fs::write(out.join("report.json"), &invented).unwrap();
    let (ok, output) = auditor_check(&key, &out.join("report.json"), &[]);
    assert!(!ok && output.contains("schema:"), "{output}");
    std::fs::write(out.join("report.json"), &original).unwrap();
    let mut html = std::fs::read(out.join("report.html")).unwrap();
    let last = html.len() - 2;
    html[last] ^= 0x20;
    std::fs::write(out.join("report.html"), &html).unwrap();
    let (code, stdout, _) = evidence(&data, &[], &["verify", out.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("report.json: signature good"), "{stdout}");
    assert!(
        stdout.contains("report.html: the signature does not match"),
        "{stdout}"
    );

    // Bad periods are named.
    let (code, _, stderr) = evidence(
        &data,
        &[],
        &["--from", "2025-07-31", "--to", "2025-06-01", "--out", "x"],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("is before"), "{stderr}");
    let (code, _, stderr) = evidence(
        &data,
        &[],
        &["--from", "June", "--to", "2025-06-01", "--out", "x"],
    );
    assert_eq!(code, 2);
    assert!(stderr.contains("is not a date"), "{stderr}");
}

/// `tests/browser/evidence.mjs` in Debian's Chromium; screenshots in `docs/screenshots/` with
/// `UPDATE_SCREENSHOTS=1`.
fn render_in_browser(html: &Path) {
    let update = std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1");
    let temporary = tempfile::tempdir().unwrap();
    let shots = if update {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        temporary.path().to_path_buf()
    };
    std::fs::create_dir_all(&shots).unwrap();
    let output = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/evidence.mjs"))
        .arg(html)
        .arg(&shots)
        .output()
        .expect("node must be installed (scripts/test installs playwright-core)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for shot in [
        "evidence-report.png",
        "evidence-figures.png",
        "evidence-print.png",
    ] {
        let bytes = std::fs::read(shots.join(shot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot}");
    }
}
