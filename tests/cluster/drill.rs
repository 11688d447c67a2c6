//! A breach drill of a cluster through the real binaries: three API nodes and one detection
//! node (`haechi serve --role api|detect`), each on its own drill clock, on one PostgreSQL
//! database and one NATS stream; `haechi drill coupang --target API,API,API --detection DET`
//! plays its traffic round robin over the API nodes and settles the whole cluster on every
//! clock move. It must score what the single-node drill scores: nobody exposed, every
//! forged request refused, the attacker contained within a simulated second.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::Cluster;
use crate::util::{Instance, Server, haechi_binary, status_and_json};

/// The scenario's simulated start (the built-in scenarios' `start`).
const START: &str = "2025-06-24T00:00:00Z";

/// Node `node_id` of `cluster` on its own drill clock, as `docs/drills.md` says to start a
/// cluster for a drill.
fn drill_node(cluster: &Cluster, node_id: &str) -> Instance {
    cluster
        .node_instance(node_id)
        .with_env("HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK", "true")
        .with_env("HAECHI_DRILL__START", START)
        .with_env("HAECHI_DETECT__RESPONSE", "enforce")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        )
        // The host's disk is not the drill's business (as on the drill's own server).
        .with_env("HAECHI_AUDIT__MIN_FREE_HEADROOM", "0%")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupang_against_a_cluster_exposes_nobody_as_on_a_single_node() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let (id, secret) = cluster.ops.create_admin("drill");
    let api: Vec<Server> = ["api-1", "api-2", "api-3"]
        .iter()
        .map(|node| cluster.start_node(&drill_node(&cluster, node), "api"))
        .collect();
    let detector = cluster.start_node(&drill_node(&cluster, "detect-1"), "detect");
    wait_until_leading(&detector).await;

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("reports");
    let targets: Vec<&str> = api.iter().map(|server| server.base.as_str()).collect();
    let started = Instant::now();
    let output = Command::new(haechi_binary())
        .args(["drill", "coupang", "--customers", "210", "--quiet"])
        .arg("--target")
        .arg(targets.join(","))
        .arg("--detection")
        .arg(&detector.base)
        .arg("--admin")
        .arg(format!("{id}:{secret}"))
        .arg("--out")
        .arg(&out)
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let markdown =
        std::fs::read_to_string(out.join("coupang").join("report.md")).unwrap_or_default();
    assert_eq!(
        output.status.code(),
        Some(0),
        "the cluster drill did not pass: {stdout}\n{stderr}\n{markdown}\nnodes' warnings:\n{}",
        warnings(api.iter().chain([&detector]))
    );
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("coupang").join("report.json")).unwrap(),
    )
    .unwrap();
    eprintln!("cluster drill in {elapsed:.1?}:\n{markdown}");

    // What the single-node drill asserts (tests/drill.rs), for the cluster.
    assert_eq!(report["passed"], true, "{report}");
    assert!(
        report["deployment"]
            .as_str()
            .unwrap()
            .starts_with("a cluster of 3 API nodes (http://"),
        "{report}"
    );
    assert!(markdown.contains("and 1 detection node ("), "{markdown}");
    assert!(report["partial"].is_null(), "{report}");
    assert_eq!(report["customers_exposed"], 0, "{report}");
    assert_eq!(
        report["customers_exposed_before_containment"], 0,
        "{report}"
    );
    assert_eq!(report["attacker_refused"], report["attacker_requests"]);
    assert!(report["attacker_requests"].as_u64().unwrap() > 0);
    assert!(
        report["time_to_first_alert_secs"].as_f64().unwrap() <= 1.0,
        "{report}"
    );
    assert!(
        report["time_to_containment_secs"].as_f64().unwrap() <= 1.0,
        "{report}"
    );
    assert!(report["attacker_gave_up_at"].is_string(), "{report}");
    assert_eq!(
        report["false_positives"].as_array().unwrap().len(),
        0,
        "{report}"
    );
    let rules: Vec<&str> = report["true_positives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|alert| alert["rule_id"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"haechi.token.forged"), "{rules:?}");

    // Every API node served the drill's traffic (round robin): legitimate reads, and forged
    // tokens it refused, each still ready.
    for server in &api {
        let events = server.events();
        for kind in ["pii.read", "token.forged"] {
            assert!(
                events.iter().any(|event| event["kind"] == kind),
                "{} recorded no {kind}",
                server.base
            );
        }
        let (status, body) = status_and_json(
            server
                .client
                .get(server.url("/readyz"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let ready = readiness(&detector).await;
    assert_eq!(ready["detection"]["state"], "leading", "{ready}");
    drop(api);
}

/// A cluster node without a detection engine refuses a clock move it cannot settle, and a
/// single node refuses a change-log position it does not follow; the drill names a cluster
/// given without its detection node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_move_a_node_cannot_settle_is_refused_before_the_clock_moves() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let admin = cluster.ops.create_admin("drill");
    let api = cluster.start_node(&drill_node(&cluster, "api-1"), "api");
    let token = api.client_token(&admin).await;
    let later = serde_json::json!({ "now": "2025-06-25T00:00:00Z" });
    let (status, body) = api.post_with("/v1/admin/drill/clock", &token, later).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("--detection"),
        "{body}"
    );
    let (status, body) = api.get_with("/v1/admin/drill/clock", &token).await;
    assert_eq!(status, 200);
    assert_eq!(body["now"], "2025-06-24T00:00:00.000000Z", "not moved");
    // With the position the detection nodes answered, it moves and applies the log (a
    // day later, so a fresh token for what follows).
    let (status, body) = api
        .post_with(
            "/v1/admin/drill/clock",
            &token,
            serde_json::json!({ "now": "2025-06-25T00:00:00Z", "changes_through": 0 }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["changes_through"].as_i64().is_some(), "{body}");
    let token = api.client_token(&admin).await;
    let (status, body) = api
        .post_with(
            "/v1/admin/drill/clock",
            &token,
            serde_json::json!({ "now": "2025-06-26T00:00:00Z", "changes_through": -1 }),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(haechi_binary())
        .args(["drill", "coupang", "--quiet", "--target"])
        .arg(format!("{},{}", api.base, api.base))
        .arg("--admin")
        .arg(format!("{}:{}", admin.0, admin.1))
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--detection"), "{stderr}");
}

/// The warnings and errors the nodes logged, for a failure's message.
fn warnings<'a>(servers: impl Iterator<Item = &'a Server>) -> String {
    let mut lines = Vec::new();
    for server in servers {
        for line in server.log() {
            if line.contains("\"level\":\"WARN\"") || line.contains("\"level\":\"ERROR\"") {
                lines.push(format!("{}: {line}", server.base));
            }
        }
    }
    lines.join("\n")
}

/// Waits (at most 20 s) for the detection node to lead.
async fn wait_until_leading(server: &Server) {
    let started = Instant::now();
    while readiness(server).await["detection"]["state"] != "leading" {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "detection does not lead: {}\nits log:\n{}",
            readiness(server).await,
            server.log().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn readiness(server: &Server) -> Value {
    let response = server
        .client
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap();
    status_and_json(response).await.1
}
