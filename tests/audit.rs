//! The audit trail through the real binary: events of real requests on the durable log,
//! `haechi audit verify` on an intact and a tampered log, admin search over HTTP, a SIGKILL in
//! the middle of a write load, and the Parquet archive read back by pyarrow.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Instance, Server, files_under, status_and_json};

const PASSWORD: &str = "correct horse battery";

/// The records `haechi audit search ARGS` prints (JSON lines).
fn search(instance: &Instance, args: &[&str]) -> Vec<Value> {
    let mut command = vec!["audit", "search"];
    command.extend_from_slice(args);
    let (code, stdout, stderr) = instance.run(&command, None);
    assert_eq!(code, 0, "audit search failed: {stderr}");
    stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `haechi audit verify ARGS`: (exit code, stdout, stderr).
fn verify(instance: &Instance, args: &[&str]) -> (i32, String, String) {
    let mut command = vec!["audit", "verify"];
    command.extend_from_slice(args);
    instance.run(&command, None)
}

fn segments(instance: &Instance) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = files_under(&instance.data_dir().join("audit"))
        .into_iter()
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy();
            name.starts_with("seg-") && name.ends_with(".log")
        })
        .collect();
    segments.sort();
    segments
}

/// A POST of `form` to `/v1/oauth/token` as `credential`, with our own request id.
async fn client_grant(
    server: &Server,
    credential: &(String, String),
    request_id: &str,
) -> reqwest::Result<reqwest::Response> {
    server
        .client
        .post(server.url("/v1/oauth/token"))
        .header("x-request-id", request_id)
        .basic_auth(&credential.0, Some(&credential.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
}

#[tokio::test]
async fn logins_and_token_use_are_on_the_durable_record_and_verify() {
    let instance = Instance::new();
    let customer = instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();

    let response = server
        .client
        .post(server.url("/v1/auth/login"))
        .json(&json!({"email": "kim@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let login_request = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let (status, pair) = status_and_json(response).await;
    assert_eq!(status, 200, "{pair}");
    let token = pair["access_token"].as_str().unwrap();
    assert_eq!(server.get_with("/v1/auth/session", token).await.0, 200);
    let (status, _) = server
        .post_json(
            "/v1/auth/login",
            json!({"email": "kim@example.com", "password": "wrong horse"}),
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        server.get_with("/v1/auth/session", "not-a-token").await.0,
        401
    );

    // One-shot commands that would write behind the running server's back are refused.
    let (code, _, stderr) = instance.run(&["admin", "create", "late"], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("admin API"), "{stderr}");
    // Reading is safe beside it.
    let (code, stdout, stderr) = verify(&instance, &[]);
    assert_eq!(code, 0, "verify beside a running server: {stdout}{stderr}");
    // The structured log still carries each event, after it is durable.
    server.wait_for_events(|events| events.iter().any(|e| e["kind"] == "auth.login_failed"));
    assert_eq!(server.terminate(), Some(0));

    let (code, stdout, stderr) = verify(&instance, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.starts_with("all "), "{stdout}");
    assert!(stdout.contains("records verify"), "{stdout}");
    assert!(
        !stdout.contains("after the last signed checkpoint"),
        "{stdout}"
    );

    let records = search(&instance, &[]);
    let kinds: Vec<&str> = records
        .iter()
        .map(|record| record["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "key.generated",
        "admin.principal_created",
        "auth.login_ok",
        "token.issued",
        "auth.login_failed",
        "token.rejected",
    ] {
        assert!(kinds.contains(&kind), "{kind} missing from {kinds:?}");
    }
    let seqs: Vec<u64> = records
        .iter()
        .map(|record| record["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>());
    for pair in records.windows(2) {
        assert_eq!(pair[1]["prev_hash"], pair[0]["hash"]);
    }
    let login = search(&instance, &["--kind", "auth.login_ok"]);
    assert_eq!(login.len(), 1, "{login:?}");
    assert_eq!(login[0]["request_id"], login_request.as_str());
    assert_eq!(login[0]["customer_id"], customer.as_str());
    assert_eq!(login[0]["principal"], format!("customer:{customer}"));
    let by_customer = search(&instance, &["--customer", &customer]);
    assert!(by_customer.len() >= 3, "{by_customer:?}");
    let (code, _, stderr) = instance.run(&["audit", "search", "--ip", "nonsense"], None);
    assert_eq!(code, 2);
    assert!(stderr.contains("--ip"), "{stderr}");

    // An auditor holding only the public key verifies the same log.
    let (code, pem, stderr) = instance.run(&["audit", "public-key"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
    let (code, jwk, _) = instance.run(&["audit", "public-key", "--format", "jwk"], None);
    assert_eq!(code, 0);
    let jwk: Value = serde_json::from_str(&jwk).unwrap();
    assert_eq!(jwk["crv"], "Ed25519");
    let key_file = instance.dir.path().join("audit.pem");
    std::fs::write(&key_file, &pem).unwrap();
    let (code, stdout, _) = verify(&instance, &["--key", key_file.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}");
    // A different key: every checkpoint is refused.
    let other = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    std::fs::write(&key_file, hex::encode(other.verifying_key().to_bytes())).unwrap();
    let (code, stdout, _) = verify(&instance, &["--key", key_file.to_str().unwrap()]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("not by the audit key"), "{stdout}");
}

#[tokio::test]
async fn a_tampered_segment_fails_verification_at_the_exact_place_and_the_server_refuses_it() {
    let instance = Instance::new();
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    server.login("kim@example.com", PASSWORD).await;
    assert_eq!(server.terminate(), Some(0));
    assert_eq!(verify(&instance, &[]).0, 0);

    let segment = segments(&instance).remove(0);
    let mut bytes = std::fs::read(&segment).unwrap();
    // The first frame starts right after the 56-byte segment header; change a byte of its
    // record (inside the canonical bytes, past the 8-byte frame header).
    const FIRST_FRAME: usize = 56;
    bytes[FIRST_FRAME + 8 + 20] ^= 0x01;
    std::fs::write(&segment, &bytes).unwrap();

    let (code, stdout, stderr) = verify(&instance, &[]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let name = segment.file_name().unwrap().to_string_lossy().into_owned();
    assert!(stdout.contains("TAMPERING OR DAMAGE"), "{stdout}");
    assert!(
        stdout.contains(&format!("{name} byte {FIRST_FRAME}")),
        "the report must name the frame: {stdout}"
    );

    // The server does not serve on top of a log it cannot trust.
    let (code, _, stderr) = instance.run(&["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("audit"), "{stderr}");
}

#[tokio::test]
async fn administrators_search_the_trail_over_http_and_that_is_recorded_too() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let kim = instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let lee = instance.create_customer("lee@example.com", "010-3456-7890", PASSWORD);
    let server = instance.serve();
    let kim_token = server.login("kim@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    server.login("lee@example.com", PASSWORD).await;
    let admin_token = server.client_token(&admin).await;

    let (status, body) = server
        .get_with(&format!("/v1/admin/audit?customer={kim}"), &admin_token)
        .await;
    assert_eq!(status, 200, "{body}");
    let records = body["records"].as_array().unwrap();
    assert!(!records.is_empty());
    assert!(
        records
            .iter()
            .all(|record| record["customer_id"] == kim.as_str()),
        "{body}"
    );
    assert!(
        records
            .iter()
            .any(|record| record["kind"] == "auth.login_ok"),
        "{body}"
    );
    assert!(
        records
            .iter()
            .all(|record| record["customer_id"] != lee.as_str())
    );
    assert_eq!(body["next_after"], Value::Null);

    // Paging by seq: one record per page, each page after the last.
    let (status, first) = server
        .get_with(
            &format!("/v1/admin/audit?customer={kim}&limit=1"),
            &admin_token,
        )
        .await;
    assert_eq!(status, 200);
    let after = first["next_after"].as_u64().unwrap();
    assert_eq!(first["records"][0]["seq"].as_u64(), Some(after));
    let (_, second) = server
        .get_with(
            &format!("/v1/admin/audit?customer={kim}&limit=1&after={after}"),
            &admin_token,
        )
        .await;
    assert!(second["records"][0]["seq"].as_u64().unwrap() > after);

    let (status, body) = server
        .get_with(
            "/v1/admin/audit?kind=auth.login_ok&principal=customer:nobody",
            &admin_token,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["records"], json!([]));

    for (query, parameter) in [
        ("ip=999.1.1.1", "ip"),
        ("from=yesterday", "from"),
        ("kind=pii.steal", "kind"),
        ("limit=0", "limit"),
        ("principal=root", "principal"),
        ("jti=x", "jti"),
        ("from=2025-06-02&to=2025-06-01", "to"),
    ] {
        let (status, body) = server
            .get_with(&format!("/v1/admin/audit?{query}"), &admin_token)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"], "invalid_parameter", "{body}");
        assert_eq!(body["fields"][0]["field"], parameter, "{query}: {body}");
    }

    // A customer is not an administrator, and no token is no one.
    let (status, body) = server.get_with("/v1/admin/audit", &kim_token).await;
    assert_eq!(status, 403, "{body}");
    let response = server
        .client
        .get(server.url("/v1/admin/audit"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);

    // Reading the trail is on the trail, with whose records were read.
    let (status, body) = server
        .get_with("/v1/admin/audit?kind=admin.audit_read", &admin_token)
        .await;
    assert_eq!(status, 200);
    let reads = body["records"].as_array().unwrap();
    assert!(
        reads
            .iter()
            .any(|record| record["customer_id"] == kim.as_str()
                && record["principal"] == "admin:root"),
        "{body}"
    );
}

#[tokio::test]
async fn every_answered_request_survives_a_sigkill_in_the_middle_of_a_write_load() {
    let instance = Instance::new();
    let service = instance.create_service("shipping", "shipping");
    let mut server = instance.serve();

    // Concurrent writers: each answered client-credentials grant has its token.issued event on
    // the record, tagged with our request id.
    let answered = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let server_ref = Arc::new(server.base.clone());
    let mut tasks = Vec::new();
    for task in 0..32 {
        let answered = Arc::clone(&answered);
        let stop = Arc::clone(&stop);
        let base = Arc::clone(&server_ref);
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let request_id = format!("crash-{task}-{n}");
                let sent = client
                    .post(format!("{base}/v1/oauth/token"))
                    .header("x-request-id", &request_id)
                    .basic_auth(&service.0, Some(&service.1))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status().as_u16() == 200 => {
                        assert_eq!(response.headers()["x-request-id"], request_id.as_str());
                        // The body must arrive too: the response was really sent.
                        if response.bytes().await.is_ok() {
                            answered.lock().unwrap().push(request_id);
                        }
                    }
                    Ok(response) => panic!("unexpected status {}", response.status()),
                    // The server is gone.
                    Err(_) => break,
                }
            }
        }));
    }
    let started = Instant::now();
    while answered.lock().unwrap().len() < 1000 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load did not get going"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = server.child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .unwrap()
            .success()
    );
    server.child.wait().unwrap();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    drop(server);
    let answered = answered.lock().unwrap().clone();

    // The restarted server recovers the log (a torn last frame is cut off and reported) and
    // serves; a grant after the restart continues the same chain.
    let server = instance.serve();
    assert!(
        server
            .log()
            .iter()
            .any(|line| line.contains("after the last signed checkpoint")),
        "the restart must report the records the crash left unsigned"
    );
    let response = client_grant(&server, &service, "after-restart")
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(server.terminate(), Some(0));

    let recorded: HashSet<String> = search(&instance, &["--kind", "token.issued"])
        .into_iter()
        .filter_map(|record| record["request_id"].as_str().map(str::to_string))
        .collect();
    let missing: Vec<&String> = answered
        .iter()
        .filter(|id| !recorded.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} answered requests have no event: {:?}",
        missing.len(),
        answered.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(recorded.contains("after-restart"));
    let (code, stdout, stderr) = verify(&instance, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}

#[tokio::test]
async fn exported_parquet_reads_back_in_pyarrow_with_the_logged_values_and_still_verifies() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let customer = instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    server.login("kim@example.com", PASSWORD).await;
    server.client_token(&admin).await;
    // Nothing is sealed yet and the server holds the log: export of sealed segments works
    // beside it (and finds none), sealing needs it stopped.
    let archive = instance.dir.path().join("archive");
    let archive_arg = archive.to_str().unwrap();
    let (code, stdout, stderr) = instance.run(&["audit", "export", "--to", archive_arg], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("exported 0 segments"), "{stdout}");
    let (code, _, stderr) = instance.run(&["audit", "export", "--to", archive_arg, "--seal"], None);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(server.terminate(), Some(0));

    let (code, stdout, stderr) =
        instance.run(&["audit", "export", "--to", archive_arg, "--seal"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("exported 1 segments"), "{stdout}");
    let logged = search(&instance, &[]);

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/read_audit_parquet.py");
    let output = std::process::Command::new("python3")
        .arg(&script)
        .arg(&archive)
        .output()
        .expect("python3 must be installed (.ci/run installs pyarrow)");
    assert!(
        output.status.success(),
        "pyarrow could not read the archive: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read: Value = serde_json::from_slice(&output.stdout).unwrap();
    let rows = read["records"].as_array().unwrap();
    // Everything up to the seal is in the archive; sealing itself records nothing.
    assert_eq!(read["rows"].as_u64().unwrap(), logged.len() as u64);
    for (row, record) in rows.iter().zip(&logged) {
        for column in [
            "seq",
            "kind",
            "principal",
            "customer_id",
            "request_id",
            "ip",
            "status",
            "decision",
            "fields",
            "prev_hash",
            "hash",
        ] {
            assert_eq!(
                row[column], record[column],
                "{column} of seq {}",
                record["seq"]
            );
        }
        assert_eq!(row["time_micros"], record["time"]);
    }
    let login = rows
        .iter()
        .find(|row| row["kind"] == "auth.login_ok")
        .unwrap();
    assert_eq!(login["customer_id"], customer.as_str());
    assert_eq!(login["ip"], "127.0.0.1");
    assert_eq!(login["ip_bin"], "00000000000000000000ffff7f000001");
    assert!(
        rows.iter()
            .all(|row| row["day"].as_str().unwrap().len() == 10)
    );

    // The archive verifies with the log, and on its own with the auditor's key.
    let (code, stdout, _) = verify(&instance, &["--archive", archive_arg]);
    assert_eq!(code, 0, "{stdout}");
    assert!(stdout.contains("archive files"), "{stdout}");
    let (_, pem, _) = instance.run(&["audit", "public-key"], None);
    let key_file = instance.dir.path().join("audit.pem");
    std::fs::write(&key_file, pem).unwrap();
    let elsewhere = Instance::new();
    let (code, stdout, stderr) = elsewhere.run(
        &[
            "audit",
            "verify",
            "--key",
            key_file.to_str().unwrap(),
            "--archive",
            archive_arg,
        ],
        None,
    );
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("all {} records verify", logged.len())),
        "{stdout}"
    );
}
