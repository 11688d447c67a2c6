//! Live alert latency of `haechi serve` (issue 5): event durable → alert visible on the SSE
//! stream, under a background load of audited requests. Driven by
//! `scripts/bench/detect_latency.sh`, which starts the server with a probe rule (one alert per
//! `token.rejected` whose user agent starts with `probe-`, grouped by user agent).
//!
//! Each probe is a request with a malformed token and a fresh `probe-N` user agent: Haechi
//! writes and syncs its `token.rejected` event before it answers, so the moment the answer
//! arrives is (just after) the moment the event is durable. The latency is from then until the
//! `raised` notice for `probe-N` arrives on the alert stream. Meanwhile background tasks send
//! other refused requests (each one an audited, synced event) at a fixed rate.
//!
//! Environment: `BENCH_BASE` (server URL), `BENCH_ADMIN_TOKEN`, `BENCH_PROBES` (200),
//! `BENCH_PROBE_INTERVAL_MS` (100), `BENCH_BACKGROUND_RPS` (500). Prints one `RESULT` line.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark driver fails loudly"
)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let base = std::env::var("BENCH_BASE").expect("BENCH_BASE");
    let admin = std::env::var("BENCH_ADMIN_TOKEN").expect("BENCH_ADMIN_TOKEN");
    let probes = setting("BENCH_PROBES", 200);
    let interval = Duration::from_millis(setting("BENCH_PROBE_INTERVAL_MS", 100));
    let background_rps = setting("BENCH_BACKGROUND_RPS", 500);
    let client = reqwest::Client::new();

    // The alert stream, read on its own task: probe number → when its alert arrived.
    let arrived: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let mut stream = client
        .get(format!("{base}/v1/admin/alerts/stream"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert!(stream.status().is_success(), "stream: {}", stream.status());
    let seen = arrived.clone();
    tokio::spawn(async move {
        let mut pending = String::new();
        while let Ok(Some(chunk)) = stream.chunk().await {
            let now = Instant::now();
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find("\n\n") {
                let message: String = pending.drain(..end + 2).collect();
                if !message.contains("event: raised") {
                    continue;
                }
                if let Some(number) = message
                    .split("\"user_agent\":\"probe-")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .and_then(|digits| digits.parse::<u64>().ok())
                {
                    seen.lock().await.insert(number, now);
                }
            }
        }
    });

    // Background load: refused requests (each an audited event) at a fixed total rate.
    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let workers = 8;
    let mut background = Vec::new();
    for worker in 0..workers {
        let client = client.clone();
        let url = format!("{base}/v1/auth/session");
        let stop = stop.clone();
        let sent = sent.clone();
        let period = Duration::from_secs_f64(workers as f64 / background_rps.max(1) as f64);
        background.push(tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            while !stop.load(Ordering::Relaxed) {
                ticker.tick().await;
                let _ = client
                    .get(&url)
                    .header("user-agent", format!("background-{worker}"))
                    .bearer_auth("not.a.token")
                    .send()
                    .await;
                sent.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let started = Instant::now();
    let sent_before = sent.load(Ordering::Relaxed);
    let mut durable: HashMap<u64, Instant> = HashMap::new();
    for number in 0..probes {
        let response = client
            .get(format!("{base}/v1/auth/session"))
            .header("user-agent", format!("probe-{number}"))
            .bearer_auth("not.a.token")
            .send()
            .await
            .unwrap();
        durable.insert(number, Instant::now());
        assert_eq!(response.status().as_u16(), 401);
        tokio::time::sleep(interval).await;
    }
    let load_rate =
        (sent.load(Ordering::Relaxed) - sent_before) as f64 / started.elapsed().as_secs_f64();
    // Wait for the last alerts.
    let deadline = Instant::now() + Duration::from_secs(10);
    while arrived.lock().await.len() < probes as usize && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in background {
        let _ = task.await;
    }

    let arrived = arrived.lock().await;
    let mut latencies: Vec<f64> = durable
        .iter()
        .filter_map(|(number, at)| {
            arrived
                .get(number)
                .map(|seen| seen.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((latencies.len() as f64 - 1.0) * q).round() as usize;
        latencies[index]
    };
    println!(
        "RESULT probes={probes} seen={} background_rps={load_rate:.0} p50_ms={:.0} p90_ms={:.0} \
         p99_ms={:.0} max_ms={:.0}",
        latencies.len(),
        quantile(0.5),
        quantile(0.9),
        quantile(0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
}
