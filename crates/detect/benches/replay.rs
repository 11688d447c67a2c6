//! Replay throughput of the built-in pack against the cost of merely decoding or iterating the
//! same events, and the memory a `value_count` window takes per distinct key.
//!
//! `cargo bench -p haechi-detect --bench replay`; the memory report runs first (set
//! `HAECHI_BENCH_MEMORY_KEYS` to change its 10 M keys, 0 to skip it, and
//! `HAECHI_BENCH_MEMORY_GROUPS` to spread them over that many groups instead of one).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, Throughput};
use haechi_detect::{Engine, Limits, NoState, builtin_rules, load_str};
use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};

const EVENTS: usize = 200_000;
/// Event time advances 33 µs per event: about 30 000 events per second of traffic.
const STEP_MICROS: i64 = 33;
const START: i64 = 1_750_000_000_000_000;

/// A small deterministic generator (xorshift), so the stream is the same on every run.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

/// A realistic mix: mostly customers reading their own records in their sessions, some
/// services, logins, token issuance and refusals, a few admin acts, spread over `customers`
/// customers (and about half as many networks). With 100 000 customers in under seven seconds
/// of traffic nearly every read is a new customer for its network: the state-heavy worst case.
fn traffic(count: usize, customers: u64) -> Vec<(u64, SecurityEvent)> {
    let mut random = Random(0x9E37_79B9_7F4A_7C15);
    (0..count)
        .map(|index| {
            let time = Timestamp::from_micros(START + index as i64 * STEP_MICROS);
            let customer = random.below(customers);
            let id = format!("c{customer}");
            let sid = format!("s{customer}");
            let ip = format!("198.51.{}.{}", customer % 200, customer % 251)
                .parse()
                .ok();
            let roll = random.below(100);
            let event = match roll {
                0..=69 => {
                    SecurityEvent::new(time, EventKind::PiiRead, Principal::Customer(id.clone()))
                        .customer(id)
                        .sid(sid)
                        .jti(format!("j{index}"))
                        .kid("k1")
                        .ip(ip)
                        .user_agent(Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0)"))
                        .fields(["address", "name", "phone"])
                        .request_id(Some("r"))
                }
                70..=79 => {
                    let service = ["shipping", "billing", "support"][(roll % 3) as usize];
                    SecurityEvent::new(time, EventKind::PiiRead, Principal::Service(service.into()))
                        .customer(id)
                        .purpose(service)
                        .ip(format!("10.0.0.{}", roll % 3).parse().ok())
                        .user_agent(Some("svc/1.0"))
                        .fields(["address"])
                }
                80..=84 => {
                    SecurityEvent::new(time, EventKind::LoginOk, Principal::Customer(id.clone()))
                        .customer(id)
                        .sid(sid)
                        .ip(ip)
                }
                85..=89 => {
                    SecurityEvent::new(time, EventKind::TokenIssued, Principal::Customer(id))
                        .sid(sid)
                        .kid("k1")
                        .ip(ip)
                }
                90..=92 => SecurityEvent::new(time, EventKind::LoginFailed, Principal::Anonymous)
                    .customer(id)
                    .ip(ip)
                    .outcome(Decision::Deny, 401),
                93..=94 => SecurityEvent::new(time, EventKind::TokenRejected, Principal::Anonymous)
                    .kid("k1")
                    .reason("expired")
                    .ip(ip)
                    .outcome(Decision::Deny, 401),
                95..=98 => SecurityEvent::new(time, EventKind::Refresh, Principal::Customer(id))
                    .sid(sid)
                    .ip(ip),
                _ => SecurityEvent::new(
                    time,
                    EventKind::AdminAuditRead,
                    Principal::Admin("kim".into()),
                )
                .ip("10.9.9.9".parse().ok()),
            };
            (index as u64 + 1, event)
        })
        .collect()
}

fn replay(c: &mut Criterion) {
    let events = traffic(EVENTS, 100_000);
    let lines: Vec<String> = events
        .iter()
        .map(|(_, event)| serde_json::to_string(event).unwrap_or_default())
        .collect();
    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(8));

    group.bench_function("iterate only", |b| {
        b.iter_batched(
            || events.clone(),
            |events| {
                let mut sum = 0u64;
                for (seq, event) in events {
                    sum = sum.wrapping_add(seq ^ u64::from(event.status));
                    black_box(&event);
                }
                sum
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("decode only (JSON lines)", |b| {
        b.iter(|| {
            let mut count = 0usize;
            for line in &lines {
                let event: SecurityEvent = serde_json::from_str(line).unwrap_or_else(|_| {
                    SecurityEvent::new(Timestamp::EPOCH, EventKind::PiiRead, Principal::Anonymous)
                });
                count += event.fields.len();
                black_box(&event);
            }
            count
        });
    });
    group.bench_function("built-in pack", |b| {
        b.iter_batched(
            || (events.clone(), builtin_rules().rules),
            |(events, rules)| {
                let mut engine =
                    Engine::new(rules, Limits::default()).unwrap_or_else(|_| unreachable!());
                engine.replay(events, &NoState)
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("built-in pack, no reorder window (sorted archive)", |b| {
        b.iter_batched(
            || (events.clone(), builtin_rules().rules),
            |(events, rules)| {
                let limits = Limits {
                    allowed_lateness: Duration::ZERO,
                    ..Limits::default()
                };
                let mut engine = Engine::new(rules, limits).unwrap_or_else(|_| unreachable!());
                engine.replay(events, &NoState)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

/// Resident memory of this process, in bytes (Linux; 0 elsewhere).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Fills one `value_count` window with `keys` distinct customer ids in `groups` groups and
/// prints the resident memory per state entry.
fn memory_report(keys: u64, groups: u64) {
    let rule = "id: bench.distinct
title: distinct customers per address per day
description: memory measurement
false_positives: none
severity: low
detection:
  read: {kind: pii.read}
  condition: read
correlation:
  type: value_count
  group-by: [ip]
  timespan: 1d
  condition: {field: customer_id, gte: 1000000000}
";
    let mut report = load_str("bench.yaml", rule);
    let limits = Limits {
        allowed_lateness: Duration::ZERO,
        max_state_entries: u64::MAX,
    };
    let Ok(mut engine) = Engine::new(std::mem::take(&mut report.rules), limits) else {
        return;
    };
    let before = resident_bytes();
    let started = Instant::now();
    for seq in 0..keys {
        let group = seq % groups;
        let address = std::net::Ipv4Addr::from(0x0A00_0000 + u32::try_from(group).unwrap_or(0));
        let event = SecurityEvent::new(
            Timestamp::from_micros(START + i64::try_from(seq).unwrap_or(0)),
            EventKind::PiiRead,
            Principal::Customer("reader".into()),
        )
        .customer(format!("c{seq:09}"))
        .ip(Some(address.into()));
        black_box(engine.process_owned(seq + 1, event, &NoState));
    }
    let elapsed = started.elapsed();
    let after = resident_bytes();
    let entries = engine.stats().state_entries;
    #[allow(clippy::cast_precision_loss, reason = "a report")]
    let per_entry = after.saturating_sub(before) as f64 / entries.max(1) as f64;
    println!(
        "memory: value_count, {keys} distinct 10-byte customer ids in {groups} groups: {entries} \
         entries, {:.0} MiB resident, {per_entry:.1} bytes per entry ({:.2} M events/s while \
         filling)",
        after.saturating_sub(before) as f64 / (1024.0 * 1024.0),
        keys as f64 / elapsed.as_secs_f64() / 1e6,
    );
    drop(engine);
}

/// Nanoseconds this thread has spent on a CPU (Linux; falls back to wall time): on a shared
/// two-core machine, events per CPU-second is the per-core figure, whatever else is running.
fn cpu_nanos() -> u128 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|text| text.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|elapsed| elapsed.as_nanos())
                .unwrap_or(0)
        })
}

/// Events per CPU-second for each pass, best of three runs, printed before criterion's
/// wall-clock figures.
fn cpu_report() {
    for customers in [100_000, 2_000] {
        cpu_report_for(customers);
    }
}

/// [`cpu_report`] for traffic over `customers` customers.
fn cpu_report_for(customers: u64) {
    let events = traffic(EVENTS, customers);
    let lines: Vec<String> = events
        .iter()
        .map(|(_, event)| serde_json::to_string(event).unwrap_or_default())
        .collect();
    let best = |pass: &mut dyn FnMut()| -> f64 {
        (0..3)
            .map(|_| {
                let started = cpu_nanos();
                pass();
                EVENTS as f64 / ((cpu_nanos() - started) as f64 / 1e9)
            })
            .fold(0.0, f64::max)
    };
    let iterate = best(&mut || {
        let copy = events.clone();
        let started = cpu_nanos();
        for (seq, event) in copy {
            black_box((seq, &event));
        }
        black_box(started);
    });
    let decode = best(&mut || {
        for line in &lines {
            black_box(serde_json::from_str::<SecurityEvent>(line).ok());
        }
    });
    let pack = |lateness: Duration| {
        best(&mut || {
            let copy = events.clone();
            let limits = Limits {
                allowed_lateness: lateness,
                ..Limits::default()
            };
            if let Ok(mut engine) = Engine::new(builtin_rules().rules, limits) {
                black_box(engine.replay(copy, &NoState));
            }
        })
    };
    let with_reorder = pack(Limits::default().allowed_lateness);
    let long_reorder = pack(Duration::from_secs(5));
    let without_reorder = pack(Duration::ZERO);
    println!(
        "cpu: events per CPU-second over {EVENTS} events of {customers} customers: iterate+drop {:.2} M, decode JSON {:.2} M, \
         built-in pack {:.2} M (default 250 ms watermark) / {:.2} M (5 s) / {:.2} M (none); the \
         pack passes include cloning the input (part of iterate+drop)",
        iterate / 1e6,
        decode / 1e6,
        with_reorder / 1e6,
        long_reorder / 1e6,
        without_reorder / 1e6,
    );
}

/// Changing the rules of an engine that holds the pack's state after `EVENTS` events: the same
/// rules (every window carried), one rule changed (its window dropped, its entries given back),
/// beside building an empty engine over the pack in the same run.
fn rule_change(c: &mut Criterion) {
    let events = traffic(EVENTS, 100_000);
    let warmed = || {
        let mut engine = Engine::new(builtin_rules().rules, Limits::default())
            .unwrap_or_else(|_| unreachable!());
        engine.replay(events.clone(), &NoState);
        engine
    };
    let mut edited = builtin_rules().rules;
    for rule in &mut edited {
        if rule.id() == "haechi.read.network_customers_10m" {
            rule.set_count_threshold(51);
        }
    }
    let mut group = c.benchmark_group("rule change");
    group.sample_size(10);
    group.bench_function("new engine over the pack (baseline)", |b| {
        b.iter_batched(
            || builtin_rules().rules,
            |rules| Engine::new(rules, Limits::default()),
            BatchSize::LargeInput,
        );
    });
    group.bench_function("the same pack, state carried", |b| {
        b.iter_batched(
            || (warmed(), builtin_rules().rules),
            // The engine is returned so that dropping it is not timed.
            |(mut engine, rules)| {
                let swap = engine.replace_rules(rules);
                (engine, swap)
            },
            BatchSize::LargeInput,
        );
    });
    group.bench_function("one rule changed, its shared window dropped", |b| {
        b.iter_batched(
            || (warmed(), edited.clone()),
            |(mut engine, rules)| {
                let swap = engine.replace_rules(rules);
                (engine, swap)
            },
            BatchSize::LargeInput,
        );
    });
    group.finish();
}

/// Every benchmark of this file (written out rather than with `criterion_group!`, whose
/// generated function has no documentation).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    replay(&mut criterion);
    rule_change(&mut criterion);
}

fn main() {
    let keys = std::env::var("HAECHI_BENCH_MEMORY_KEYS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(10_000_000u64);
    // One shape per process: freed memory stays resident, so a second measurement in the same
    // process would read low.
    let groups = std::env::var("HAECHI_BENCH_MEMORY_GROUPS")
        .ok()
        .and_then(|text| text.parse().ok())
        .unwrap_or(1u64);
    if keys > 0 {
        memory_report(keys, groups.max(1));
    }
    cpu_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}
