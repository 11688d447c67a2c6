//! Issue 13, item 7: a tail cut is detected by the witness; item 5 (disk): the audit volume's
//! headroom is watched. Real binary, real files, real HTTP.
//!
//! The attacker here has the data directory while the server is stopped and cuts records off
//! the end of the log together with the checkpoints that signed them, so the log's own files
//! are consistent again. Plain `haechi audit verify` cannot tell (it has nothing outside the
//! directory to compare with: the limitation, asserted so it stays documented); with the
//! witness that received every signed checkpoint, it reports the cut.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Instance, files_under};

const PASSWORD: &str = "correct horse battery";
const CHECKPOINT_ENTRY: usize = 128;
const SEGMENT_HEADER: usize = 56;

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

/// The byte offset where each frame of a segment starts, and the seq it holds.
fn frames(segment: &Path) -> Vec<(usize, u64)> {
    let bytes = std::fs::read(segment).unwrap();
    let mut offset = SEGMENT_HEADER;
    let mut frames = Vec::new();
    while offset + 8 <= bytes.len() {
        let len = u32::from_be_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        // Canonical record: u8 version, then u64 seq.
        let seq = u64::from_be_bytes(bytes[offset + 9..offset + 17].try_into().unwrap());
        frames.push((offset, seq));
        offset += 8 + len;
    }
    assert_eq!(
        offset,
        bytes.len(),
        "{} ends in a whole frame",
        segment.display()
    );
    frames
}

/// Drops every entry of the log's own `checkpoints` file that signs a seq above `last_seq`,
/// as an attacker covering a cut would.
fn cut_checkpoints_after(instance: &Instance, last_seq: u64) {
    let path = instance.data_dir().join("audit/checkpoints");
    let bytes = std::fs::read(&path).unwrap();
    let kept: Vec<u8> = bytes
        .chunks_exact(CHECKPOINT_ENTRY)
        .filter(|entry| u64::from_be_bytes(entry[4..12].try_into().unwrap()) <= last_seq)
        .flatten()
        .copied()
        .collect();
    assert!(
        kept.len() < bytes.len(),
        "some checkpoints signed the cut records"
    );
    std::fs::write(&path, kept).unwrap();
}

/// The witness file's entries.
fn witnessed(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

async fn some_logins(instance: &Instance, email: &str, count: usize) {
    let server = instance.serve();
    for _ in 0..count {
        server.login(email, PASSWORD).await;
    }
    assert_eq!(server.terminate(), Some(0));
}

#[tokio::test]
async fn a_cut_tail_passes_plain_verify_but_the_witness_names_it() {
    let witness_dir = tempfile::tempdir().unwrap();
    let witness_file = witness_dir.path().join("checkpoints.jsonl");
    let address = format!("file://{}", witness_file.display());
    let instance = Instance::new().with_env("HAECHI_AUDIT__WITNESS", &address);
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    some_logins(&instance, "kim@example.com", 4).await;

    // The witness holds the head the clean stop signed, and nothing else: checkpoints only.
    let entries = witnessed(&witness_file);
    let head = entries.last().unwrap()["seq"].as_u64().unwrap();
    for entry in &entries {
        let keys: Vec<&str> = entry
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "format",
                "hash",
                "key_id",
                "seq",
                "signature",
                "time_micros"
            ],
            "{entry}"
        );
    }
    let text = std::fs::read_to_string(&witness_file).unwrap();
    assert!(
        // The whole number, in both spellings: a bare "010" turns up by chance in hex.
        !text.contains("kim@example.com")
            && !text.contains("010-2345-6789")
            && !text.contains("01023456789"),
        "{text}"
    );
    let (code, stdout, stderr) = verify(&instance, &["--witness", &address]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("the witnessed head is seq {head}")),
        "{stdout}"
    );
    // Without --key, verify says whose key it trusts and how to give another.
    assert!(
        stderr.contains("trusting the audit key found in this data directory")
            && stderr.contains("--key"),
        "{stderr}"
    );

    // Cut the last three records off the active segment, and their checkpoints.
    let segment = segments(&instance).pop().unwrap();
    let frames = frames(&segment);
    assert_eq!(frames.last().unwrap().1, head);
    let (cut_at, first_cut) = frames[frames.len() - 3];
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap();
    file.set_len(cut_at as u64).unwrap();
    drop(file);
    cut_checkpoints_after(&instance, first_cut - 1);

    // The limitation: the log's own files are consistent again, so plain verify passes.
    let (code, stdout, stderr) = verify(&instance, &[]);
    assert_eq!(
        code, 0,
        "plain verify cannot see a cut tail: {stdout}{stderr}"
    );
    // With the witness, the cut is tampering, and the message names both heads.
    let (code, stdout, stderr) = verify(&instance, &["--witness", &address]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.starts_with("TAMPERING OR DAMAGE"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "holds a signed head at seq {head} (hash {})",
            entries.last().unwrap()["hash"].as_str().unwrap()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("the log ends at seq {}", first_cut - 1))
            && stdout.contains(&format!("records seq {first_cut}..={head} were removed")),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_deleted_last_segment_is_named_by_the_witness() {
    let witness_dir = tempfile::tempdir().unwrap();
    let witness_file = witness_dir.path().join("checkpoints.jsonl");
    let address = format!("file://{}", witness_file.display());
    let instance = Instance::new().with_env("HAECHI_AUDIT__WITNESS", &address);
    instance.create_customer("lee@example.com", "010-3456-7890", PASSWORD);
    some_logins(&instance, "lee@example.com", 2).await;
    // Seal the active segment (the server stopped), so later records go to a new one.
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
    some_logins(&instance, "lee@example.com", 2).await;
    let all = segments(&instance);
    assert_eq!(all.len(), 2, "{all:?}");
    let sealed_end = frames(&all[0]).last().unwrap().1;
    let head = witnessed(&witness_file).last().unwrap()["seq"]
        .as_u64()
        .unwrap();
    assert!(head > sealed_end);

    std::fs::remove_file(&all[1]).unwrap();
    cut_checkpoints_after(&instance, sealed_end);

    let (code, stdout, stderr) = verify(&instance, &[]);
    assert_eq!(
        code, 0,
        "plain verify cannot see a deleted last segment: {stdout}{stderr}"
    );
    let (code, stdout, stderr) = verify(&instance, &["--witness", &address]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("holds a signed head at seq {head}"))
            && stdout.contains(&format!("the log ends at seq {sealed_end}")),
        "{stdout}"
    );
}

#[tokio::test]
async fn a_witness_inside_the_data_directory_is_refused() {
    let instance = Instance::new();
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    let inside = format!("file://{}/witness.jsonl", instance.data_dir().display());
    let instance = instance.with_env("HAECHI_AUDIT__WITNESS", &inside);
    let (code, _, stderr) = instance.run(&["admin", "create", "root"], None);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("inside the data directory"), "{stderr}");
}

#[tokio::test]
async fn an_unreachable_http_witness_does_not_stop_the_log_but_readyz_and_metrics_say_so() {
    // A port nothing listens on: bind, note, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let instance = Instance::new().with_env(
        "HAECHI_AUDIT__WITNESS",
        &format!("http://127.0.0.1:{port}/checkpoints"),
    );
    instance.create_customer("park@example.com", "010-4567-8901", PASSWORD);
    let admin = instance.create_admin("root");
    let server = instance.serve();
    // The log goes on: logins are recorded and answered.
    server.login("park@example.com", PASSWORD).await;
    let ready = wait_for_warning(&server, "audit witness").await;
    assert!(
        !ready.to_string().contains("127.0.0.1"),
        "no address in /readyz: {ready}"
    );
    server.login("park@example.com", PASSWORD).await;
    let token = server.client_token(&admin).await;
    let alert = wait_for_alert(&server, &token, "haechi.audit.witness_failing").await;
    assert_eq!(alert["severity"], "high", "{alert}");
    // /metrics counts the failures.
    let metrics = server.get_text("/metrics", &token).await;
    assert!(
        metrics.contains("haechi_audit_witness_failures_total"),
        "{metrics}"
    );
}

/// Polls /readyz until its `warnings` mention `needle`; it stays 200 throughout.
async fn wait_for_warning(server: &crate::util::Server, needle: &str) -> Value {
    let started = Instant::now();
    loop {
        let response = server
            .client
            .get(server.url("/readyz"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let body: Value = response.json().await.unwrap();
        if body["warnings"].as_array().is_some_and(|warnings| {
            warnings
                .iter()
                .any(|w| w.as_str().unwrap().contains(needle))
        }) {
            assert_eq!(body["status"], "ready");
            return body;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no warning about {needle}: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls /v1/admin/alerts until an alert of `rule` is there; returns it.
async fn wait_for_alert(server: &crate::util::Server, token: &str, rule: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = server.get_with("/v1/admin/alerts", token).await;
        assert_eq!(status, 200, "{body}");
        if let Some(alert) = body["alerts"]
            .as_array()
            .and_then(|alerts| alerts.iter().find(|alert| alert["rule_id"] == rule))
        {
            return alert.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no {rule} alert: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_volume_below_its_headroom_warns_in_readyz_and_raises_one_alert() {
    // No real volume is 100 % free: the headroom is crossed at the first check.
    let instance = Instance::new().with_env("HAECHI_AUDIT__MIN_FREE_HEADROOM", "100%");
    let admin = instance.create_admin("root");
    let server = instance.serve();
    let ready = wait_for_warning(&server, "audit volume").await;
    assert!(
        ready["warnings"][0]
            .as_str()
            .unwrap()
            .contains("min_free_headroom"),
        "{ready}"
    );
    let token = server.client_token(&admin).await;
    let alert = wait_for_alert(&server, &token, "haechi.audit.disk_low").await;
    assert_eq!(alert["severity"], "high", "{alert}");
    // Once per crossing: later checks (every 5 s) do not record it again.
    let events = server.events_of("audit.disk_low");
    assert_eq!(events.len(), 1, "{events:#?}");
}
