//! The cluster's archive through the real binary: reads served by two nodes are exported from
//! the stream, `haechi scope` over the export finds exactly the customers read (precision =
//! recall = 1 against what the test did), a second export adds only what is new, and prune
//! refuses what is not archived, purges what is, and leaves a stream that verifies.

use std::collections::BTreeSet;

use serde_json::Value;

use super::Cluster;
use crate::util::{Instance, Server};

/// Reads customer `id` as the shop; the read must be answered.
async fn read(server: &Server, token: &str, id: &str) {
    let (status, body) = server
        .get_with(&format!("/v1/customers/{id}?purpose=support"), token)
        .await;
    assert_eq!(status, 200, "{body}");
}

/// The customers `haechi scope` finds exposed to the shop in the archive `dir` alone.
fn scoped(ops: &Instance, dir: &str) -> BTreeSet<String> {
    let (code, stdout, stderr) = ops.run(
        &[
            "scope",
            "--archive",
            dir,
            "--no-live-log",
            "--principal",
            "service:shop",
            "--format",
            "json",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let scope: Value = serde_json::from_str(&stdout).unwrap();
    assert!(
        scope["custody"]["coverage_by_node"]
            .as_object()
            .is_some_and(|nodes| nodes
                .values()
                .all(|node| node["gaps"] == Value::Array(vec![]))),
        "{stdout}"
    );
    scope["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|row| row["customer_id"].as_str().unwrap().to_string())
        .collect()
}

/// A prune cuts a chain only after a signed checkpoint, which a node's audit writer signs
/// `audit.checkpoint_interval` (100 ms here) after its last one while records wait: waits
/// out several intervals so the reads before it are checkpointed.
async fn let_the_writers_checkpoint() {
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
}

/// Runs `haechi ARGS` on the operator's machine; returns exit code and both outputs.
fn run(ops: &Instance, args: &[&str]) -> (i32, String, String) {
    ops.run(args, None)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_exported_scoped_and_pruned() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let ops = cluster
        .node_instance("operator")
        .with_env("HAECHI_BUS__RETENTION", "archive");
    let policy = cluster.write_policy("shop", "masked = 100000");
    let shop = ops.create_service("shop", "support,account");
    let servers: Vec<Server> = ["api-a", "api-b"]
        .iter()
        .map(|id| {
            let node = cluster
                .node_instance(id)
                .with_env("HAECHI_BUS__RETENTION", "archive")
                .with_env("HAECHI_AUDIT__CHECKPOINT_INTERVAL", "100ms")
                .with_env("HAECHI_VAULT__POLICY_FILE", &policy);
            cluster.start_node(&node, "api")
        })
        .collect();
    let token = servers[0].client_token(&shop).await;
    let mut ids = Vec::new();
    for index in 0..12 {
        let (status, body) = servers[(index % 2) as usize]
            .post_with("/v1/customers", &token, super::customer(index))
            .await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_string());
    }

    // Customers 0..6 read: the even ones on A, the odd ones on B (so both chains hold reads
    // and the same seqs occur in both); 6..12 are never read before the first export.
    for (index, id) in ids.iter().enumerate().take(6) {
        read(&servers[index % 2], &token, id).await;
        read(&servers[(index + 1) % 2], &token, id).await;
    }
    let_the_writers_checkpoint().await;
    let archive = ops.dir.path().join("cluster-archive");
    let archive_text = archive.display().to_string();
    let (code, first, stderr) = run(&ops, &["audit", "export", "--to", &archive_text]);
    assert_eq!(code, 0, "{first}{stderr}");
    assert!(
        first.contains("node api-a") && first.contains("node api-b"),
        "{first}"
    );
    let expected: BTreeSet<String> = ids[..6].iter().cloned().collect();
    assert_eq!(scoped(&ops, &archive_text), expected);

    // Nothing new: nothing written. New reads: only they are exported.
    let (code, again, _) = run(&ops, &["audit", "export", "--to", &archive_text]);
    assert_eq!(code, 0);
    assert!(again.contains(": 0 records"), "{again}");
    for id in &ids[6..9] {
        read(&servers[1], &token, id).await;
    }
    let_the_writers_checkpoint().await;
    let (code, second, _) = run(&ops, &["audit", "export", "--to", &archive_text]);
    assert_eq!(code, 0);
    assert!(!second.contains(": 0 records"), "{second}");
    assert!(
        second.contains("node api-b") && !second.contains("node api-a"),
        "{second}"
    );
    let expected: BTreeSet<String> = ids[..9].iter().cloned().collect();
    assert_eq!(scoped(&ops, &archive_text), expected);

    // Prune: refused beyond the export, accepted within it; verify passes either way.
    let through: u64 = second
        .split("..=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .expect("the export names the last sequence");
    for id in &ids[9..] {
        read(&servers[0], &token, id).await;
    }
    // Everything up to now is older than zero seconds: beyond the export.
    let (code, _, stderr) = run(
        &ops,
        &[
            "audit",
            "prune",
            "--archive",
            &archive_text,
            "--older-than",
            "0s",
        ],
    );
    assert_eq!(code, 2);
    assert!(
        stderr.contains("nothing pruned") && stderr.contains("export"),
        "{stderr}"
    );
    let bound = (through + 1).to_string();
    let (code, dry, stderr) = run(
        &ops,
        &[
            "audit",
            "prune",
            "--archive",
            &archive_text,
            "--before-sequence",
            &bound,
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(dry.contains("would prune"), "{dry}");
    let (code, pruned, stderr) = run(
        &ops,
        &[
            "audit",
            "prune",
            "--archive",
            &archive_text,
            "--before-sequence",
            &bound,
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(pruned.contains("records and"), "{pruned}");
    let (code, verified, stderr) = run(&ops, &["audit", "verify"]);
    assert_eq!(code, 0, "{verified}{stderr}");
    assert!(verified.contains("were pruned from here"), "{verified}");
    let (code, verified, stderr) = run(&ops, &["audit", "verify", "--archive", &archive_text]);
    assert_eq!(code, 0, "{verified}{stderr}");
    assert!(verified.contains("with archive"), "{verified}");

    // The export goes on after the prune; scope still finds exactly the customers read.
    let (code, third, stderr) = run(&ops, &["audit", "export", "--to", &archive_text]);
    assert_eq!(code, 0, "{third}{stderr}");
    let everyone: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(scoped(&ops, &archive_text), everyone);
    // Without a bus, the archive's node directories verify one by one.
    let offline = Instance::new();
    let key_file = ops.dir.path().join("audit.pem");
    let (code, pem, stderr) = run(&ops, &["audit", "public-key"]);
    assert_eq!(code, 0, "{stderr}");
    std::fs::write(&key_file, pem).unwrap();
    let (code, verified, stderr) = offline.run(
        &[
            "audit",
            "verify",
            "--archive",
            &archive_text,
            "--key",
            key_file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{verified}{stderr}");
    assert!(verified.contains("node api-a: all"), "{verified}");

    // Hostile input: clear errors, nothing done.
    for (args, says) in [
        (vec!["--before-sequence", "0"], "at least 1"),
        (vec!["--before-sequence", "x"], "invalid value"),
        (vec!["--before", "5"], "--before-sequence"),
        (vec![], "prune what?"),
    ] {
        let mut all = vec!["audit", "prune", "--archive", &archive_text];
        all.extend(args);
        let (code, _, stderr) = run(&ops, &all);
        assert_eq!(code, 2, "{all:?}: {stderr}");
        assert!(stderr.contains(says), "{all:?}: {stderr}");
    }
    let output = ops
        .command(&["audit", "export", "--to", &archive_text])
        .env("HAECHI_BUS", "nats://127.0.0.1:1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot reach the bus at nats://127.0.0.1:1"),
        "{stderr}"
    );
}
