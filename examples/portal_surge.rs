//! An open-loop load generator for the exposure portal (BENCHMARKS.md, "The portal under a
//! surge"). Requests leave on a fixed schedule whatever the server answers — a closed loop
//! slows down with the server and hides its queueing — and each latency is measured from the
//! instant the request was due, not from when it was sent. The mix is the portal's during a
//! breach's news: anonymous checks, the incident page, the signed-in view. Each check comes
//! from an address of its own (`X-Forwarded-For`, the server trusting 127.0.0.1 as its proxy),
//! as a crowd's would. Meanwhile an operator's request (`GET /v1/admin/incidents`) and
//! `/healthz` are timed every 100 ms, and the server's resident memory is sampled.
//!
//! ```text
//! cargo run --release --example portal_surge -- BASE RATE SECONDS COOKIE ADMIN_TOKEN PID [static]
//! ```
//! prints one JSON line. `COOKIE` is a session cookie, or `@FILE` with one per line (each
//! optionally after its customer's address and a space), taken in turn by the signed-in
//! views. With `static`, every request is a GET of `/portal/incident` from
//! `BASE`, a static file server holding a copy of the page: the ceiling. With
//! `SURGE_OPERATOR_BASE` set, the operator's requests and `/healthz` go there (the server's
//! `server.operator_listen`, or its main address when `BASE` is its `portal.listen`) instead
//! of `BASE`. `SURGE_CONNECTIONS` (default 512) bounds the crowd's requests in flight, and so
//! its connections, as a CDN or load balancer in front of the portal would: a request due
//! while all are busy waits for one, and that wait is part of its latency (wrk2's design).
//! Without a bound the generator opens a connection for every request the server is slow to
//! answer, and on two shared cores spends more CPU opening connections than the server spends
//! answering. `SURGE_ONLY` (`check`, `incident_page`, `signed_in_view`) sends that kind alone
//! instead of the mix. The report gives the server's CPU time during the run (user + system,
//! from `/proc`) per request it answered, and the generator's own: what each kind costs.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use rand_core::OsRng;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use voprf::{OprfClient, Ristretto255};

/// A request slower than this counts as a timeout.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Percent of checks, then of incident pages; the rest are signed-in views.
const MIX: (u64, u64) = (80, 15);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Check,
    Incident,
    Me,
    Admin,
    Health,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Check,
        Kind::Incident,
        Kind::Me,
        Kind::Admin,
        Kind::Health,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Check => "check",
            Kind::Incident => "incident_page",
            Kind::Me => "signed_in_view",
            Kind::Admin => "admin_api",
            Kind::Health => "healthz",
        }
    }
}

#[derive(Clone, Debug)]
enum Class {
    /// Answered as asked (2xx).
    Served,
    /// Refused on purpose: 429 or 503 with `Retry-After`.
    Shed,
    /// Anything else: what it was (a status, or where the connection failed).
    Error(String),
    Timeout,
}

struct Outcome {
    kind: Kind,
    class: Class,
    latency: Duration,
}

struct Target {
    client: reqwest::Client,
    base: String,
    /// Where the operator's requests and `/healthz` go.
    operator_base: String,
    /// The signed-in customers' session cookies, taken in turn, each with the address its
    /// customer signed in from, if known.
    cookies: Vec<(Option<String>, String)>,
    admin_token: String,
    bodies: Vec<String>,
    static_only: bool,
}

impl Target {
    /// The session cookie of request `n`: the customers in turn, spread by a hash, since the
    /// signed-in views are every twentieth request or so and `n` modulo the number of
    /// customers would reach only a few of them.
    fn cookie(&self, n: u64) -> &(Option<String>, String) {
        let spread = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
        &self.cookies[usize::try_from(spread).unwrap_or(0) % self.cookies.len()]
    }

    async fn send(&self, kind: Kind, n: u64) -> Class {
        let request = if self.static_only {
            self.client.get(format!("{}/portal/incident", self.base))
        } else {
            match kind {
                Kind::Check => self
                    .client
                    .post(format!("{}/v1/exposure/check", self.base))
                    .header("content-type", "application/json")
                    .header("x-forwarded-for", source_address(n))
                    .body(self.bodies[(n as usize) % self.bodies.len()].clone()),
                Kind::Incident => self.client.get(format!("{}/portal/incident", self.base)),
                Kind::Me => {
                    let (address, cookie) = self.cookie(n);
                    let request = self
                        .client
                        .get(format!("{}/portal/me", self.base))
                        .header("cookie", cookie);
                    match address {
                        Some(address) => request.header("x-forwarded-for", address),
                        None => request,
                    }
                }
                Kind::Admin => self
                    .client
                    .get(format!("{}/v1/admin/incidents?limit=1", self.operator_base))
                    .bearer_auth(&self.admin_token),
                Kind::Health => self.client.get(format!("{}/healthz", self.operator_base)),
            }
        };
        match request.timeout(TIMEOUT).send().await {
            Err(error) if error.is_timeout() => Class::Timeout,
            Err(error) if error.is_connect() => Class::Error("connect".into()),
            Err(error) if error.is_request() => Class::Error("request".into()),
            Err(_) => Class::Error("other".into()),
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().contains_key("retry-after");
                // Read the body: a page not read to its end was not served.
                if response.bytes().await.is_err() {
                    return Class::Error("body".into());
                }
                match status {
                    200..=299 => Class::Served,
                    429 | 503 if retry_after => Class::Shed,
                    _ => Class::Error(format!("status {status}")),
                }
            }
        }
    }
}

/// `COOKIE`: one session cookie, or `@FILE` with one per line, each `ADDRESS COOKIE` or
/// `COOKIE` (a crowd of customers, each viewing their own page from where they signed in; one
/// customer viewing it hundreds of times a second is refused by the vault's per-customer limit
/// and then suspended as a scraper).
fn session_cookies(argument: &str) -> anyhow::Result<Vec<(Option<String>, String)>> {
    let cookies: Vec<_> = match argument.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("COOKIE: cannot read {path}"))?
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty())
            .map(|line| match line.split_once(' ') {
                Some((address, cookie)) => (Some(address.to_string()), cookie.to_string()),
                None => (None, line.to_string()),
            })
            .collect(),
        None => vec![(None, argument.to_string())],
    };
    anyhow::ensure!(
        !cookies.is_empty(),
        "COOKIE: no session cookie in {argument}"
    );
    Ok(cookies)
}

/// The address request `n` comes from: a crowd of 2^24 distinct sources.
fn source_address(n: u64) -> String {
    let n = n.wrapping_mul(2_654_435_761) % (1 << 24);
    format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255)
}

/// Blinded check requests for random identifiers: what browsers would send.
fn check_bodies(count: usize) -> anyhow::Result<Vec<String>> {
    (0..count)
        .map(|_| {
            let hash: [u8; 20] = rand::thread_rng().r#gen();
            let blind = OprfClient::<Ristretto255>::blind(&hash, &mut OsRng)
                .map_err(|error| anyhow::anyhow!("blind: {error:?}"))?;
            Ok(json!({
                "bucket": hex::encode(&hash[..2]),
                "blinded": URL_SAFE_NO_PAD.encode(blind.message.serialize()),
            })
            .to_string())
        })
        .collect()
}

/// CPU time (user + system) process `pid` and its children (nginx's workers) have used, in
/// clock ticks; `"self"` for this one.
fn cpu_ticks(pid: &str) -> Option<u64> {
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let mut total = process_cpu_ticks(pid)?;
    for child in children.split_whitespace() {
        total += process_cpu_ticks(child).unwrap_or(0);
    }
    Some(total)
}

fn process_cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields 14 and 15 follow its `)`.
    let after_name = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Microseconds of CPU per request between two readings of [`cpu_ticks`].
fn cpu_us_per_request(before: Option<u64>, after: Option<u64>, requests: usize) -> Value {
    let ticks_per_second = rustix::param::clock_ticks_per_second();
    match (before, after) {
        (Some(before), Some(after)) if requests > 0 => {
            #[allow(clippy::cast_precision_loss, reason = "ticks and requests of one run")]
            let per_request =
                (after - before) as f64 * 1e6 / ticks_per_second as f64 / requests as f64;
            json!(per_request)
        }
        _ => Value::Null,
    }
}

fn resident_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[Duration], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a list of at most millions"
    )]
    let index = ((sorted.len() as f64 - 1.0) * fraction).round() as usize;
    sorted[index].as_secs_f64() * 1000.0
}

/// How many errors of each kind.
fn error_kinds(outcomes: &[&Outcome]) -> Value {
    let mut kinds = std::collections::BTreeMap::<&str, u64>::new();
    for outcome in outcomes {
        if let Class::Error(kind) = &outcome.class {
            *kinds.entry(kind).or_default() += 1;
        }
    }
    json!(kinds)
}

fn summary(outcomes: &[Outcome], kind: Kind) -> Value {
    let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.kind == kind).collect();
    let latencies = |class: fn(&Class) -> bool| {
        let mut list: Vec<Duration> = mine
            .iter()
            .filter(|o| class(&o.class))
            .map(|o| o.latency)
            .collect();
        list.sort();
        list
    };
    let served = latencies(|c| matches!(c, Class::Served));
    let shed = latencies(|c| matches!(c, Class::Shed));
    let count = |class: fn(&Class) -> bool| mine.iter().filter(|o| class(&o.class)).count();
    json!({
        "sent": mine.len(),
        "served": served.len(),
        "shed": shed.len(),
        "errors": count(|c| matches!(c, Class::Error(_))),
        "error_kinds": error_kinds(&mine),
        "timeouts": count(|c| matches!(c, Class::Timeout)),
        "served_p50_ms": percentile(&served, 0.5),
        "served_p99_ms": percentile(&served, 0.99),
        "shed_p50_ms": percentile(&shed, 0.5),
        "shed_p99_ms": percentile(&shed, 0.99),
    })
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: portal_surge BASE RATE SECONDS COOKIE ADMIN_TOKEN PID [static]";
    let [base, rate, seconds, cookie, admin_token, pid, rest @ ..] = args.as_slice() else {
        anyhow::bail!(usage);
    };
    let rate: f64 = rate.parse().context("RATE: requests a second")?;
    let seconds: u64 = seconds.parse().context("SECONDS")?;
    let pid: u32 = pid.parse().context("PID: the server's process id")?;
    let static_only = rest.first().is_some_and(|word| word == "static");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let target = std::sync::Arc::new(Target {
            client: haechi_outbound::plain_builder()?
                .pool_max_idle_per_host(4096)
                // A redirect is an answer of its own: the signed-in view sends a signed-out
                // browser to the start page, and following it would count that as the view.
                .redirect(reqwest::redirect::Policy::none())
                .build()?,
            base: base.trim_end_matches('/').to_string(),
            operator_base: std::env::var("SURGE_OPERATOR_BASE")
                .unwrap_or_else(|_| base.clone())
                .trim_end_matches('/')
                .to_string(),
            cookies: session_cookies(cookie)?,
            admin_token: admin_token.clone(),
            bodies: check_bodies(512)?,
            static_only,
        });
        let connections: usize = match std::env::var("SURGE_CONNECTIONS") {
            Ok(text) => text.parse().context("SURGE_CONNECTIONS: a number")?,
            Err(_) => 512,
        };
        let in_flight = std::sync::Arc::new(tokio::sync::Semaphore::new(connections.max(1)));
        let (outcomes_tx, mut outcomes_rx) = mpsc::unbounded_channel::<Outcome>();
        let only = match std::env::var("SURGE_ONLY") {
            Ok(name) => Some(
                Kind::ALL
                    .into_iter()
                    .find(|kind| kind.name() == name)
                    .context("SURGE_ONLY: check, incident_page or signed_in_view")?,
            ),
            Err(_) => None,
        };
        let rss_before = resident_kib(pid);
        let server_cpu_before = cpu_ticks(&pid.to_string());
        let own_cpu_before = cpu_ticks("self");
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds);
        // The operator's view, every 100 ms, while the surge runs.
        let probe = {
            let target = target.clone();
            let outcomes = outcomes_tx.clone();
            tokio::spawn(async move {
                let mut max_rss = 0;
                let mut ticker = tokio::time::interval(Duration::from_millis(100));
                while Instant::now() < deadline {
                    ticker.tick().await;
                    for kind in [Kind::Admin, Kind::Health] {
                        if target.static_only {
                            continue;
                        }
                        let due = Instant::now();
                        let class = target.send(kind, 0).await;
                        let _ = outcomes.send(Outcome {
                            kind,
                            class,
                            latency: due.elapsed(),
                        });
                    }
                    max_rss = max_rss.max(resident_kib(pid).unwrap_or(0));
                }
                max_rss
            })
        };
        let interval = Duration::from_secs_f64(1.0 / rate);
        let total = (rate * seconds as f64) as u64;
        let mut tasks = tokio::task::JoinSet::new();
        for n in 0..total {
            let due = started + interval.mul_f64(n as f64);
            tokio::time::sleep_until(due.into()).await;
            let share = n.wrapping_mul(37) % 100;
            let kind = if let Some(only) = only {
                only
            } else if share < MIX.0 {
                Kind::Check
            } else if share < MIX.0 + MIX.1 {
                Kind::Incident
            } else {
                Kind::Me
            };
            let target = target.clone();
            let outcomes = outcomes_tx.clone();
            let in_flight = in_flight.clone();
            tasks.spawn(async move {
                let Ok(_connection) = in_flight.acquire_owned().await else {
                    return;
                };
                let class = target.send(kind, n).await;
                let _ = outcomes.send(Outcome {
                    kind,
                    class,
                    latency: due.elapsed(),
                });
            });
            // Finished tasks are let go as the surge runs: memory stays flat.
            while tasks.try_join_next().is_some() {}
        }
        let scheduled_in = started.elapsed();
        while tasks.join_next().await.is_some() {}
        let server_cpu_after = cpu_ticks(&pid.to_string());
        let own_cpu_after = cpu_ticks("self");
        let max_rss = probe.await.unwrap_or(0);
        drop(outcomes_tx);
        let mut outcomes = Vec::new();
        while let Some(outcome) = outcomes_rx.recv().await {
            outcomes.push(outcome);
        }
        let mut report = json!({
            "base": target.base,
            "operator_base": target.operator_base,
            "connections": connections,
            "rate": rate,
            "seconds": seconds,
            "scheduled_in_s": scheduled_in.as_secs_f64(),
            "static": static_only,
            "rss_kib_before": rss_before,
            "rss_kib_max": max_rss,
            "rss_kib_after": resident_kib(pid),
            "only": only.map(Kind::name),
            "server_cpu_us_per_request": cpu_us_per_request(server_cpu_before, server_cpu_after, outcomes.len()),
            "generator_cpu_us_per_request": cpu_us_per_request(own_cpu_before, own_cpu_after, outcomes.len()),
        });
        for kind in Kind::ALL {
            report[kind.name()] = summary(&outcomes, kind);
        }
        println!("{report}");
        anyhow::Ok(())
    })
}
