//! HSM custody against a real PKCS#11 token: SoftHSM2 (Debian's `softhsm2`), its tokens in the
//! directory `SOFTHSM2_CONF` names (`scripts/test` makes one). An Ed25519 key generated in the
//! token signs through `C_Sign`, the signature verifies with the public half the token gives,
//! and the private half is sensitive, not extractable, and its value unreadable.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::path::PathBuf;
use std::process::Command;

use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use haechi_custody::pkcs11::{HsmToken, TokenSettings};
use zeroize::Zeroizing;

/// A fresh token in SoftHSM2, or `None` where SoftHSM2 is not set up (then the test says so;
/// with `HAECHI_REQUIRE_SERVERS` it fails instead, as CI runs it).
fn fresh_token(label: &str) -> Option<TokenSettings> {
    let module = std::env::var("HAECHI_PKCS11_MODULE")
        .unwrap_or_else(|_| "/usr/lib/softhsm/libsofthsm2.so".into());
    let ready =
        std::env::var_os("SOFTHSM2_CONF").is_some() && std::path::Path::new(&module).exists();
    if !ready {
        assert!(
            std::env::var_os("HAECHI_REQUIRE_SERVERS").is_none(),
            "SoftHSM2 is required: apt-get install softhsm2, and run through scripts/test"
        );
        eprintln!("skipped: SoftHSM2 is not set up (SOFTHSM2_CONF, {module})");
        return None;
    }
    let output = Command::new("softhsm2-util")
        .args([
            "--init-token",
            "--free",
            "--label",
            label,
            "--so-pin",
            "so-pin-0000",
            "--pin",
            "user-pin-1234",
        ])
        .output()
        .expect("softhsm2-util");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(TokenSettings {
        module: PathBuf::from(module),
        token_label: label.to_string(),
        pin: Zeroizing::new("user-pin-1234".to_string()),
    })
}

#[test]
fn a_key_generated_in_the_token_signs_there_and_never_leaves() {
    let label = format!("haechi-test-{}", std::process::id());
    let Some(settings) = fresh_token(&label) else {
        return;
    };
    let token = HsmToken::open(&settings).unwrap();
    let key = token
        .generate_ed25519(b"kid-1", "haechi signing key")
        .unwrap();

    // The token signs; the signature verifies with the public half it gave.
    let message = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJjdXN0b21lcjpjLTEifQ";
    let signature = token.sign_ed25519(&key.id, message).unwrap();
    let public = VerifyingKey::from_bytes(&key.public).unwrap();
    public
        .verify(message, &Signature::from_bytes(&signature))
        .expect("the token's signature verifies");
    assert!(
        public
            .verify(b"another message", &Signature::from_bytes(&signature))
            .is_err()
    );

    // The private half cannot be exported: sensitive, not extractable, its value refused.
    let custody = token.custody_of(&key.id).unwrap();
    assert!(custody.sensitive, "{custody:?}");
    assert!(!custody.extractable, "{custody:?}");
    assert!(!custody.value_readable, "{custody:?}");

    // A wrong PIN does not log in, and its error does not carry the PIN.
    let mut wrong = settings.clone();
    wrong.pin = Zeroizing::new("not-the-pin".into());
    let error = HsmToken::open(&wrong).unwrap_err().to_string();
    assert!(!error.contains("not-the-pin"), "{error}");
    // No such key: an error, not a signature.
    assert!(token.sign_ed25519(b"kid-unknown", message).is_err());
}
