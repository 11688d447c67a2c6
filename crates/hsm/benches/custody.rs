//! What custody in a token costs: a signature (Ed25519 and ES256) by a key in this process's
//! memory beside the same kind of key inside a PKCS#11 token (SoftHSM2: `C_Sign` through the
//! module) on a token-sized message, and a data key's unwrap under a master key in memory beside
//! one in the token (`C_Decrypt`, AES-GCM), in the same run. Operators size a real HSM from the
//! ratios. BENCHMARKS.md, "HSM custody".
//!
//! The token half needs SoftHSM2 and `SOFTHSM2_CONF` (a token directory), as `scripts/test`
//! sets up; without them only the in-process half runs.

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{Criterion, criterion_main};
use haechi_custody::{
    MasterKey, MasterKeyRing, OsRandom, SecretContext, SigningAlgorithm, SigningCustody,
};
use haechi_hsm::{HsmToken, TokenSettings};
use zeroize::Zeroizing;

/// A compact JWT's signing input, as the token authority signs it.
const MESSAGE: &[u8] = b"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLiJ9.eyJpc3MiOiJoYWVjaGkiLCJhdWQiOiJoYWVjaGkiLCJzdWIiOiJjdXN0b21lcjpjLTEiLCJzaWQiOiJzLTEiLCJqdGkiOiJqLTEiLCJpYXQiOjE3OTY2MjMyMDMsImV4cCI6MTc5NjYyNDEwM30";

/// A fresh SoftHSM2 token, or `None` where SoftHSM2 is not set up.
fn token() -> Option<Arc<HsmToken>> {
    let module = "/usr/lib/softhsm/libsofthsm2.so";
    if std::env::var_os("SOFTHSM2_CONF").is_none() || !std::path::Path::new(module).exists() {
        eprintln!("SoftHSM2 not set up: only the in-process half runs");
        return None;
    }
    let label = format!("haechi-bench-{}", std::process::id());
    let made = std::process::Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", &label])
        .args(["--so-pin", "so-pin-0000", "--pin", "user-pin-1234"])
        .output()
        .ok()?;
    if !made.status.success() {
        eprintln!("softhsm2-util: {}", String::from_utf8_lossy(&made.stderr));
        return None;
    }
    HsmToken::open(TokenSettings {
        module: PathBuf::from(module),
        token_label: label,
        pin: Zeroizing::new("user-pin-1234".into()),
        sessions: 1,
    })
    .ok()
    .map(Arc::new)
}

/// A signature of each algorithm: in memory, and by `C_Sign` in the token.
fn signing(c: &mut Criterion, token: Option<&Arc<HsmToken>>) {
    let master = MasterKeyRing::single(MasterKey::generate(&OsRandom));
    for (name, algorithm) in [
        ("ed25519_sign", SigningAlgorithm::EdDsa),
        ("es256_sign", SigningAlgorithm::Es256),
    ] {
        let mut group = c.benchmark_group(name);
        let in_memory = SigningCustody::MasterKey
            .generate(algorithm, &master, &OsRandom)
            .map(|key| key.signer);
        if let Ok(signer) = in_memory {
            group.bench_function("in_process", |b| {
                b.iter(|| black_box(signer.sign(black_box(MESSAGE))));
            });
        }
        let in_token = token.and_then(|token| {
            SigningCustody::Token(token.clone())
                .generate(algorithm, &master, &OsRandom)
                .ok()
        });
        if let Some(key) = in_token {
            group.bench_function("softhsm2_c_sign", |b| {
                b.iter(|| black_box(key.signer.sign(black_box(MESSAGE))));
            });
        }
        group.finish();
    }
}

/// Opening a wrapped data key (what every read of a customer's record does): AES-GCM under the
/// master key in memory, and `C_Decrypt` under the master key in the token.
fn unwrapping(c: &mut Criterion, token: Option<&Arc<HsmToken>>) {
    let mut group = c.benchmark_group("data_key_unwrap");
    let context = SecretContext::customer_data_key("c-1");
    let data_key = [7u8; 32];
    let in_memory = MasterKey::generate(&OsRandom);
    let sealed = in_memory.wrap(&context, &data_key, &OsRandom);
    if let Ok(sealed) = sealed {
        group.bench_function("in_process", |b| {
            b.iter(|| black_box(in_memory.unwrap(&context, black_box(&sealed))));
        });
    }
    let in_token = token.and_then(|token| MasterKey::in_token(token.clone(), "bench", true).ok());
    if let Some(master) = in_token
        && let Ok(sealed) = master.wrap(&context, &data_key, &OsRandom)
    {
        group.bench_function("softhsm2_c_decrypt", |b| {
            b.iter(|| black_box(master.unwrap(&context, black_box(&sealed))));
        });
    }
    group.finish();
}

/// Every benchmark of this file (written out rather than with `criterion_group!`, whose
/// generated function has no doc comment).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    let token = token();
    signing(&mut criterion, token.as_ref());
    unwrapping(&mut criterion, token.as_ref());
}

criterion_main!(benches);
