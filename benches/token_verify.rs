//! Token verification throughput per core, against bare signature verification of the same
//! tokens (issue 2: target ≥ 0.8 of the baseline).
//!
//! One authority over a real `SqliteStore` in a temporary directory issues `HAECHI_BENCH_TOKENS`
//! tokens (default 10 000) through the client-credentials grant. Then, on one thread:
//!
//! - `token_verify/warm`: `Verifier::verify` of tokens this process has already checked
//!   (signature cached on the ledger entry): header parse, key state, SHA-256 of the token,
//!   ledger and session lookups.
//! - `token_verify/first_use`: `verify` on a freshly opened authority, whose ledger was loaded
//!   from the database and has checked no signature yet; every token is verified exactly once
//!   per authority (opening is not timed), so each measurement pays signature + ledger.
//! - `token_verify/bare_signature`: the baseline, `haechi_custody::PublicKey::verify` over the
//!   signing input of the same tokens (the jsonwebtoken call the authority makes).
//!
//! The machine is shared, so measurements taken one after another can see different load. After
//! criterion, an **interleaved** pass measures the three side by side: every token of a batch is
//! verified under (a), (b) and (c) one right after the other, each call timed, and the medians
//! over rounds are printed as a `PAIRED` line. `scripts/bench/token_verify.sh` runs this and prints a
//! table with both.

#![allow(
    clippy::expect_used,
    reason = "benchmark set-up: a failure should stop the run loudly"
)]

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use criterion::{Criterion, Throughput, criterion_main};
use haechi_custody::{KeyState, MasterKey, MasterKeyRing, OsRandom, PublicKey, SecureRandom as _};
use haechi_events::{
    EventReceipt, EventSink, RequestContext, SecurityEvent, SinkError, SystemClock,
};
use haechi_store::SqliteStore;
use haechi_token::{AuthorityParts, ClientKind, PasswordParams, TokenAuthority, TokenPolicy};
use tokio::runtime::Runtime;

/// Tokens issued unless `HAECHI_BENCH_TOKENS` says otherwise.
const DEFAULT_TOKENS: usize = 10_000;
/// Rounds of the interleaved pass (odd, so the median is one round's value).
const PAIRED_ROUNDS: usize = 41;
/// Tokens per measurement in one round of the interleaved pass.
const PAIRED_BATCH: usize = 1_000;

/// A sink that drops every event, so neither logging nor a growing buffer is measured.
#[derive(Debug)]
struct DiscardSink;

#[async_trait]
impl EventSink for DiscardSink {
    async fn record(&self, _event: SecurityEvent) -> Result<EventReceipt, SinkError> {
        Ok(EventReceipt { seq: None })
    }
}

/// The parts an authority is opened from; the same store and master key every time.
struct Fixture {
    store: Arc<SqliteStore>,
    master_key: Arc<MasterKeyRing>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    async fn new() -> Self {
        // tmpfs when there is one: issuing 10 000 tokens costs 20 000 fsyncs on a disk, and the
        // database's speed is not what is measured here.
        let dir = if Path::new("/dev/shm").is_dir() {
            tempfile::tempdir_in("/dev/shm")
        } else {
            tempfile::tempdir()
        }
        .expect("temporary directory");
        let store = SqliteStore::open(&dir.path().join("haechi.db"))
            .await
            .expect("open store");
        Fixture {
            store: Arc::new(store),
            master_key: Arc::new(MasterKeyRing::single(MasterKey::from_bytes(
                OsRandom.bytes32(),
            ))),
            _dir: dir,
        }
    }

    async fn open_authority(&self) -> TokenAuthority {
        let policy = TokenPolicy {
            // Long enough that no token expires during a run.
            access_ttl: Duration::from_secs(3600),
            verify_window: Duration::from_secs(2 * 3600),
            ..TokenPolicy::default()
        };
        TokenAuthority::open(AuthorityParts {
            store: self.store.clone(),
            custody: haechi_custody::SigningCustody::MasterKey,
            master_key: self.master_key.clone(),
            clock: Arc::new(SystemClock),
            events: Arc::new(DiscardSink),
            random: Arc::new(OsRandom),
            policy,
            // Only the decoy hash made at open uses these; no password is checked here.
            password_params: PasswordParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            operator_access: haechi_token::OperatorAccess::LocalOperator,
            sign_in_limits: Arc::new(haechi_token::MemorySignInLimits::default()),
        })
        .await
        .expect("open authority")
    }
}

/// Issues `count` service tokens.
async fn issue_tokens(authority: &TokenAuthority, count: usize) -> Vec<String> {
    let context = RequestContext::local();
    let credential = authority
        .clients()
        .create(
            ClientKind::Service,
            "bench",
            &["shipping".to_string()],
            &authority.operator_grant().expect("operator grant"),
        )
        .await
        .expect("create service");
    let mut tokens = Vec::with_capacity(count);
    for _ in 0..count {
        let pair = authority
            .clients()
            .client_credentials(
                &credential.client_id,
                &credential.client_secret,
                None,
                &context,
            )
            .await
            .expect("client credentials");
        tokens.push(pair.access_token);
    }
    tokens
}

/// The public key of the active signing key, built the way the authority builds its own.
fn active_public_key(authority: &TokenAuthority) -> PublicKey {
    let record = authority
        .keys()
        .records()
        .into_iter()
        .find(|record| record.state == KeyState::Active)
        .expect("an active key");
    PublicKey::from_jwk(record.algorithm, &record.public_jwk).expect("public key")
}

fn token_count() -> usize {
    std::env::var("HAECHI_BENCH_TOKENS")
        .ok()
        .and_then(|text| text.parse().ok())
        .filter(|&count| count > 0)
        .unwrap_or(DEFAULT_TOKENS)
}

fn bench_verify(criterion: &mut Criterion) {
    // One thread: the numbers are per core.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let fixture = runtime.block_on(Fixture::new());
    let issuer = runtime.block_on(fixture.open_authority());
    let count = token_count();
    let started = Instant::now();
    let tokens = runtime.block_on(issue_tokens(&issuer, count));
    eprintln!("issued {count} tokens in {:.1?}", started.elapsed());
    let public = active_public_key(&issuer);
    let context = RequestContext::local();

    // Every token must verify, or the loops below would measure refusals.
    runtime.block_on(async {
        for token in &tokens {
            issuer
                .verifier()
                .verify(token, &context)
                .await
                .expect("issued token verifies");
        }
    });

    let mut group = criterion.benchmark_group("token_verify");
    group.throughput(Throughput::Elements(1));

    group.bench_function("warm", |bencher| {
        bencher.iter_custom(|iterations| {
            measure_verify(&runtime, &issuer, &tokens, &context, iterations)
        });
    });

    group.bench_function("first_use", |bencher| {
        bencher.iter_custom(|iterations| {
            measure_first_use(&runtime, &fixture, &tokens, &context, iterations)
        });
    });

    group.bench_function("bare_signature", |bencher| {
        let mut next = tokens.iter().cycle();
        bencher.iter(|| {
            let token = next.next().expect("tokens cycle");
            assert!(verify_bare(&public, token));
        });
    });
    group.finish();

    if std::env::args().any(|argument| argument == "--bench") {
        paired_pass(&runtime, &fixture, &issuer, &public, &tokens, &context);
    }
}

/// The interleaved pass. Each round opens a fresh authority, then takes every token of a batch
/// through warm `verify` (the issuing authority), first-use `verify` (the fresh one) and bare
/// signature verification, one right after the other in rotating order, timing each call: a
/// burst of load from other work hits all three alike. Prints medians over rounds of the
/// per-token times and of the throughput ratios to the baseline.
fn paired_pass(
    runtime: &Runtime,
    fixture: &Fixture,
    issuer: &TokenAuthority,
    public: &PublicKey,
    tokens: &[String],
    context: &RequestContext,
) {
    let batch_len = PAIRED_BATCH.min(tokens.len());
    let per_token = |elapsed: Duration| elapsed.as_secs_f64() * 1e9 / batch_len as f64;
    let mut warm_ns = Vec::with_capacity(PAIRED_ROUNDS);
    let mut first_use_ns = Vec::with_capacity(PAIRED_ROUNDS);
    let mut bare_ns = Vec::with_capacity(PAIRED_ROUNDS);
    let mut warm_ratio = Vec::with_capacity(PAIRED_ROUNDS);
    let mut first_use_ratio = Vec::with_capacity(PAIRED_ROUNDS);
    for round in 0..PAIRED_ROUNDS {
        let start = (round * batch_len) % (tokens.len() - batch_len + 1);
        let batch = &tokens[start..start + batch_len];
        let fresh = runtime.block_on(fixture.open_authority());
        let elapsed = runtime.block_on(async {
            let mut elapsed = [Duration::ZERO; 3];
            for (index, token) in batch.iter().enumerate() {
                for step in 0..3 {
                    let which = (index + step) % 3;
                    let started = Instant::now();
                    match which {
                        0 => assert!(
                            black_box(issuer.verifier().verify(token, context).await).is_ok()
                        ),
                        1 => assert!(
                            black_box(fresh.verifier().verify(token, context).await).is_ok()
                        ),
                        _ => assert!(verify_bare(public, token)),
                    }
                    elapsed[which] += started.elapsed();
                }
            }
            elapsed
        });
        let [warm, first_use, bare] = elapsed.map(per_token);
        warm_ns.push(warm);
        first_use_ns.push(first_use);
        bare_ns.push(bare);
        warm_ratio.push(bare / warm);
        first_use_ratio.push(bare / first_use);
    }
    println!(
        "PAIRED rounds={PAIRED_ROUNDS} batch={batch_len} warm_ns={:.1} first_use_ns={:.1} \
         bare_ns={:.1} warm_ratio={:.3} first_use_ratio={:.3}",
        median(&mut warm_ns),
        median(&mut first_use_ns),
        median(&mut bare_ns),
        median(&mut warm_ratio),
        median(&mut first_use_ratio),
    );
}

/// The baseline: the signature check alone, as the authority makes it.
fn verify_bare(public: &PublicKey, token: &str) -> bool {
    let (signing_input, signature) = token.rsplit_once('.').expect("three parts");
    public.verify(black_box(signing_input.as_bytes()), black_box(signature))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// `iterations` verifications by `authority`, round-robin over `tokens`.
fn measure_verify(
    runtime: &Runtime,
    authority: &TokenAuthority,
    tokens: &[String],
    context: &RequestContext,
    iterations: u64,
) -> Duration {
    runtime.block_on(async {
        let mut next = tokens.iter().cycle();
        let started = Instant::now();
        for _ in 0..iterations {
            let token = next.next().expect("tokens cycle");
            let verified = authority.verifier().verify(black_box(token), context).await;
            assert!(black_box(verified).is_ok());
        }
        started.elapsed()
    })
}

/// `iterations` first-time verifications: each authority, freshly opened over the store (not
/// timed), verifies every token at most once.
fn measure_first_use(
    runtime: &Runtime,
    fixture: &Fixture,
    tokens: &[String],
    context: &RequestContext,
    iterations: u64,
) -> Duration {
    let mut remaining = usize::try_from(iterations).unwrap_or(usize::MAX);
    let mut elapsed = Duration::ZERO;
    while remaining > 0 {
        let authority = runtime.block_on(fixture.open_authority());
        let batch = remaining.min(tokens.len());
        elapsed += runtime.block_on(async {
            let started = Instant::now();
            for token in &tokens[..batch] {
                let verified = authority.verifier().verify(black_box(token), context).await;
                assert!(black_box(verified).is_ok());
            }
            started.elapsed()
        });
        remaining -= batch;
    }
    elapsed
}

/// Every benchmark of this file (written out rather than with `criterion_group!`, whose
/// generated function has no doc comment).
fn benches() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    bench_verify(&mut criterion);
}

criterion_main!(benches);
