//! What a signature costs: an Ed25519 key in this process's memory beside the same kind of key
//! inside a PKCS#11 token (SoftHSM2: `C_Sign` through the module), in the same run, on a
//! token-sized message. Operators size a real HSM from the ratio. BENCHMARKS.md, "HSM custody".
//!
//! The token half needs SoftHSM2 and `SOFTHSM2_CONF` (a token directory), as `scripts/test`
//! sets up; without them only the in-process half runs.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_main};
use haechi_custody::pkcs11::{HsmToken, TokenSettings};
use haechi_custody::{OsRandom, SigningAlgorithm, SigningKeyMaterial};
use zeroize::Zeroizing;

/// A compact JWT's signing input, as the token authority signs it.
const MESSAGE: &[u8] = b"eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLiJ9.eyJpc3MiOiJoYWVjaGkiLCJhdWQiOiJoYWVjaGkiLCJzdWIiOiJjdXN0b21lcjpjLTEiLCJzaWQiOiJzLTEiLCJqdGkiOiJqLTEiLCJpYXQiOjE3OTY2MjMyMDMsImV4cCI6MTc5NjYyNDEwM30";

fn token() -> Option<(HsmToken, Vec<u8>)> {
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
    let token = HsmToken::open(TokenSettings {
        module: PathBuf::from(module),
        token_label: label,
        pin: Zeroizing::new("user-pin-1234".into()),
        sessions: 1,
    })
    .ok()?;
    let key = token.generate_ed25519(b"bench", "bench").ok()?;
    Some((token, key.id))
}

fn signing(c: &mut Criterion) {
    let mut group = c.benchmark_group("ed25519_sign");
    let in_memory = SigningKeyMaterial::generate(SigningAlgorithm::EdDsa, &OsRandom);
    group.bench_function("in_process", |b| {
        b.iter(|| black_box(in_memory.sign(black_box(MESSAGE))));
    });
    if let Some((token, id)) = token() {
        group.bench_function("softhsm2_c_sign", |b| {
            b.iter(|| black_box(token.sign_ed25519(&id, black_box(MESSAGE))));
        });
    }
    group.finish();
}

/// Every benchmark of this file (written out rather than with `criterion_group!`, whose
/// generated function has no doc comment).
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    signing(&mut criterion);
}

criterion_main!(benches);
