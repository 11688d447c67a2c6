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
pub(crate) fn search(instance: &Instance, args: &[&str]) -> Vec<Value> {
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
            let client = haechi_outbound::plain_builder().unwrap().build().unwrap();
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

/// The segment files of the live log, by file name.
fn segment_names(instance: &Instance) -> Vec<String> {
    segments(instance)
        .iter()
        .map(|path| path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// Seals the active segment and leaves it unarchived, as a segment sealed at its size limit
/// is: only `export --seal` seals on request, so export to a scratch directory, then remove it
/// and the manifest that names it.
fn seal_without_archive(instance: &Instance) {
    let scratch = instance.dir.path().join("scratch-archive");
    let (code, _, stderr) = instance.run(
        &[
            "audit",
            "export",
            "--to",
            scratch.to_str().unwrap(),
            "--seal",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    std::fs::remove_dir_all(&scratch).unwrap();
    std::fs::remove_file(instance.data_dir().join("audit/archived")).unwrap();
}

#[tokio::test]
async fn prune_deletes_only_archived_segments_and_the_log_still_verifies_with_its_archive() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let server = instance.serve();
    server.client_token(&admin).await;
    assert_eq!(server.terminate(), Some(0));
    let archive = instance.dir.path().join("archive");
    let archive_arg = archive.to_str().unwrap();

    // No bound given and no audit.retention configured: refused, not "prune everything".
    let (code, _, stderr) = instance.run(&["audit", "prune"], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--older-than"), "{stderr}");
    // Only the active segment: nothing to prune, and it is never touched.
    let (code, stdout, stderr) = instance.run(&["audit", "prune", "--before", "1000000"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("nothing to prune"), "{stdout}");
    assert_eq!(segment_names(&instance), ["seg-000000000001.log"]);

    // A sealed segment whose archive copy is gone is refused by name, and nothing is deleted.
    seal_without_archive(&instance);
    let before = segment_names(&instance);
    assert_eq!(before.len(), 2, "{before:?}");
    let (code, _, stderr) = instance.run(&["audit", "prune", "--before", "1000000"], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("not in the Parquet archive"), "{stderr}");
    assert!(stderr.contains("seg-000000000001.log"), "{stderr}");
    assert_eq!(segment_names(&instance), before);

    // Archived: a dry run reports it and keeps it; the server running refuses the real thing.
    let (code, stdout, stderr) = instance.run(&["audit", "export", "--to", archive_arg], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("exported 1 segments"), "{stdout}");
    let (code, stdout, stderr) = instance.run(
        &["audit", "prune", "--before", "1000000", "--dry-run"],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("would delete 1 segments"), "{stdout}");
    assert_eq!(segment_names(&instance), before);
    let server = instance.serve();
    server.client_token(&admin).await;
    let (code, _, stderr) = instance.run(&["audit", "prune", "--before", "1000000"], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("haechi serve is running"), "{stderr}");
    assert_eq!(server.terminate(), Some(0));

    let records = search(&instance, &[]).len();
    let sealed_last = before[1]
        .trim_start_matches("seg-")
        .trim_end_matches(".log")
        .parse::<u64>()
        .unwrap()
        - 1;
    let (code, stdout, stderr) = instance.run(&["audit", "prune", "--before", "1000000"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "deleted 1 segments ({sealed_last} records, seq 1..={sealed_last})"
        )),
        "{stdout}"
    );
    assert_eq!(segment_names(&instance), before[1..]);

    // The pruned records are in the archive: the log verifies whole with it, given or found
    // through the log's manifest; an auditor's copy of the key checks it the same way.
    for args in [&["--archive", archive_arg][..], &[][..]] {
        let (code, stdout, stderr) = verify(&instance, args);
        assert_eq!(code, 0, "{args:?}: {stdout}{stderr}");
        assert!(
            stdout.contains(&format!("all {records} records verify")),
            "{args:?}: {stdout}"
        );
    }
}

#[tokio::test]
async fn the_server_archives_and_prunes_by_the_configured_retention() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let server = instance.serve();
    server.client_token(&admin).await;
    assert_eq!(server.terminate(), Some(0));
    // A sealed segment in no archive yet: the server exports it first, then prunes it.
    seal_without_archive(&instance);
    let sealed = segment_names(&instance)[0].clone();
    let archive = instance.dir.path().join("archive");
    let instance = instance
        .with_env("HAECHI_AUDIT__ARCHIVE_DIR", archive.to_str().unwrap())
        .with_env("HAECHI_AUDIT__RETENTION", "1s");
    let server = instance.serve();
    let started = Instant::now();
    while segment_names(&instance).contains(&sealed) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server did not prune {sealed}: {:#?}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let log = server.log();
    assert!(
        log.iter()
            .any(|line| line.contains("exported sealed audit segments to the archive")),
        "{log:#?}"
    );
    assert!(
        log.iter()
            .any(|line| line.contains("pruned archived audit segments")),
        "{log:#?}"
    );
    // The segment being written to is never pruned, however old its records get.
    server.client_token(&admin).await;
    assert_eq!(server.terminate(), Some(0));
    assert!(!segment_names(&instance).is_empty());
    let records = search(&instance, &[]).len();
    let (code, stdout, stderr) = verify(&instance, &["--archive", archive.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("all "), "{stdout}");
    assert!(records > 0);
}

/// The 503 the API answers when the audit trail cannot record an act.
fn assert_refused_unaudited(what: &str, status: u16, body: &Value) {
    assert_eq!(status, 503, "{what}: {body}");
    assert_eq!(body["error"], "unavailable", "{what}: {body}");
    assert!(
        body["message"].as_str().unwrap().contains("audit trail"),
        "{what}: {body}"
    );
}

#[tokio::test]
async fn a_full_disk_fails_closed_with_503s_and_the_log_verifies_after_a_restart() {
    // Detection off: its engine persists its position in the database, which would grow the
    // database's write-ahead log alongside the audit segment; here only the segment grows.
    let instance = Instance::new().with_env("HAECHI_DETECT__ENABLED", "false");
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(
        instance.data_dir().join("policy.toml"),
        // The per-customer read rate is lifted: the reads below must reach the disk's limit.
        "[[grant]]\nservice = \"shop\"\npurposes = [\"account\"]\nfields = [\"name\"]\naccess = \"masked\"\n\n\
         [quota]\ncustomer_requests_per_minute = 1000000\n",
    )
    .unwrap();
    let credential = instance.create_service("shop", "account");
    let server = instance.serve();
    let shop = server.client_token(&credential).await;
    let (status, created) = server
        .post_with(
            "/v1/customers",
            &shop,
            json!({"name": "김민준", "email": "kim@example.com", "phone": "010-2345-6789",
                   "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let customer = created["id"].as_str().unwrap().to_string();
    assert_eq!(server.terminate(), Some(0));

    // Room for 64 KiB beyond the largest file there is: the one file that grows with every
    // read is the active audit segment, so it is the one that hits the limit.
    let largest = files_under(&instance.data_dir())
        .iter()
        .map(|path| path.metadata().unwrap().len())
        .max()
        .unwrap();
    let server = instance.serve_with_file_size_limit(largest + 64 * 1024);
    let token = server.login("kim@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let shop = server.client_token(&credential).await;

    // Read until the audit write fails: every read before it was answered and recorded, the
    // one it failed for is refused.
    let mut answered = 0_u64;
    let (status, body) = loop {
        let (status, body) = server.get_with("/v1/customers/me", &token).await;
        if status != 200 {
            break (status, body);
        }
        answered += 1;
        assert!(
            answered < 100_000,
            "the audit segment never reached the file-size limit"
        );
    };
    assert_refused_unaudited("the read whose event could not be written", status, &body);

    // Fail closed for good: no data read is served unaudited, by the customer or a service,
    // and nothing else that must be recorded happens.
    for _ in 0..3 {
        let (status, body) = server.get_with("/v1/customers/me", &token).await;
        assert_refused_unaudited("the customer's own read", status, &body);
        let (status, body) = server
            .get_with(&format!("/v1/customers/{customer}?purpose=account"), &shop)
            .await;
        assert_refused_unaudited("a service read", status, &body);
    }
    let (status, body) = server
        .post_json(
            "/v1/auth/login",
            json!({"email": "kim@example.com", "password": PASSWORD}),
        )
        .await;
    assert_refused_unaudited("a login", status, &body);
    let response = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("audit log"),
        "{body}"
    );
    // Not killed by SIGXFSZ, and no panic: it stops when told to.
    assert!(server.terminate().is_some());

    // Restarted with room on the disk, the log recovers (cutting off the torn frame the failed
    // write left), serves, and every answered read is on the record.
    let server = instance.serve();
    let token = server.login("kim@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(server.get_with("/v1/customers/me", &token).await.0, 200);
    assert_eq!(server.terminate(), Some(0));
    let reads = search(
        &instance,
        &["--kind", "pii.read", "--customer", customer.as_str()],
    );
    assert!(
        reads.len() as u64 > answered,
        "{answered} reads answered before the failure, {} on the record",
        reads.len()
    );
    let (code, stdout, stderr) = verify(&instance, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
}
