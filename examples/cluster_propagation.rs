//! Revocation propagation across a cluster, measured over real HTTP: a service token is issued
//! on one node and seen active on every node, then revoked (RFC 7009) on the next node; every
//! other node is polled (RFC 7662 introspection, every 2 ms) until it reports the token
//! inactive. Prints the distribution of "revoked on B → refused on A" times as JSON.
//!
//! ```sh
//! cargo run --release --example cluster_propagation -- \
//!     --nodes http://127.0.0.1:8731,http://127.0.0.1:8732,http://127.0.0.1:8733 \
//!     --client ID:SECRET --rounds 200
//! ```
//!
//! Run it beside a load (scripts/bench/cluster_load.sh does) to see propagation under load.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a measurement tool"
)]

use std::time::{Duration, Instant};

use serde_json::Value;

struct Args {
    nodes: Vec<String>,
    client: (String, String),
    rounds: usize,
}

fn args() -> Args {
    let mut nodes = Vec::new();
    let mut client = None;
    let mut rounds = 100;
    let mut arguments = std::env::args().skip(1);
    while let Some(flag) = arguments.next() {
        let value = arguments.next().expect("every flag takes a value");
        match flag.as_str() {
            "--nodes" => nodes = value.split(',').map(str::to_string).collect(),
            "--client" => {
                let (id, secret) = value.split_once(':').expect("--client ID:SECRET");
                client = Some((id.to_string(), secret.to_string()));
            }
            "--rounds" => rounds = value.parse().expect("--rounds N"),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(nodes.len() >= 2, "--nodes needs at least two URLs");
    Args {
        nodes,
        client: client.expect("--client ID:SECRET"),
        rounds,
    }
}

async fn issue(http: &reqwest::Client, node: &str, client: &(String, String)) -> String {
    let response = http
        .post(format!("{node}/v1/oauth/token"))
        .basic_auth(&client.0, Some(&client.1))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "token: {}",
        response.status()
    );
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_string()
}

/// `Some(active)` from introspection, `None` when the node refused to answer (503: not fresh).
async fn active(http: &reqwest::Client, node: &str, bearer: &str, token: &str) -> Option<bool> {
    let response = http
        .post(format!("{node}/v1/oauth/introspect"))
        .bearer_auth(bearer)
        .form(&[("token", token)])
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    let body: Value = response.json().await.ok()?;
    body["active"].as_bool()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args = args();
    let http = reqwest::Client::new();
    // The caller of introspection on every node: a token of its own, never revoked.
    let bearer = issue(&http, &args.nodes[0], &args.client).await;
    let mut times = Vec::new();
    let mut refused_503 = 0u64;
    for round in 0..args.rounds {
        let issuer = &args.nodes[round % args.nodes.len()];
        let revoker = &args.nodes[(round + 1) % args.nodes.len()];
        let token = issue(&http, issuer, &args.client).await;
        for node in &args.nodes {
            assert_eq!(active(&http, node, &bearer, &token).await, Some(true));
        }
        // A random pause, so revocations do not fall in step with the followers' polls (each
        // round starts right after one, which would measure nearly a whole interval each time).
        tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 100)).await;
        let response = http
            .post(format!("{revoker}/v1/oauth/revoke"))
            .bearer_auth(&bearer)
            .form(&[("token", token.as_str())])
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "revoke: {}",
            response.status()
        );
        let revoked_at = Instant::now();
        let others: Vec<&String> = args.nodes.iter().filter(|node| *node != revoker).collect();
        let polls = others.iter().map(|node| {
            let (http, bearer, token) = (&http, &bearer, &token);
            async move {
                let mut refused = 0u64;
                loop {
                    match active(http, node, bearer, token).await {
                        Some(false) => return (revoked_at.elapsed(), refused),
                        None => refused += 1,
                        Some(true) => {}
                    }
                    assert!(
                        revoked_at.elapsed() < Duration::from_secs(10),
                        "{node} still accepts a token revoked 10 s ago"
                    );
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        });
        for (elapsed, refused) in futures::future::join_all(polls).await {
            times.push(elapsed);
            refused_503 += refused;
        }
    }
    times.sort();
    let report = serde_json::json!({
        "nodes": args.nodes.len(),
        "rounds": args.rounds,
        "samples": times.len(),
        "p50_ms": percentile(&times, 0.50),
        "p99_ms": percentile(&times, 0.99),
        "max_ms": percentile(&times, 1.0),
        "polls_answered_503": refused_503,
    });
    println!("{report}");
}
