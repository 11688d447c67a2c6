//! The baseline for login throughput: one argon2id password check with the parameters
//! `haechi serve` uses by default (`haechi_token::PasswordParams::default()`: 19 MiB, 2 passes,
//! 1 lane), on one core. A login can be no faster than this; `scripts/bench/http_load.sh`
//! compares the HTTP login rate with `nproc` times this rate.

#![allow(
    clippy::expect_used,
    reason = "benchmark set-up: a failure should stop the run loudly"
)]

use std::hint::black_box;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use criterion::{Criterion, Throughput, criterion_main};
use haechi_token::PasswordParams;

fn bench_password(criterion: &mut Criterion) {
    let defaults = PasswordParams::default();
    let params = Params::new(
        defaults.memory_kib,
        defaults.iterations,
        defaults.parallelism,
        None,
    )
    .expect("argon2 parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(&[7; 16]).expect("salt");
    let phc = argon2
        .hash_password(b"correct horse battery staple", &salt)
        .expect("hash")
        .to_string();
    let parsed = PasswordHash::new(&phc).expect("parse hash");

    let mut group = criterion.benchmark_group("password");
    group.throughput(Throughput::Elements(1));
    group.bench_function("argon2id_verify_default", |bencher| {
        bencher.iter(|| {
            argon2
                .verify_password(black_box(b"correct horse battery staple"), &parsed)
                .expect("password matches");
        });
    });
    group.finish();
}

/// Every benchmark of this file (written out rather than with `criterion_group!`, whose
/// generated function has no doc comment).
fn benches() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .configure_from_args();
    bench_password(&mut criterion);
}

criterion_main!(benches);
