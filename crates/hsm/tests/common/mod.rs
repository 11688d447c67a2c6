//! A fresh SoftHSM2 token for each test.

use std::path::PathBuf;
use std::process::Command;

use haechi_hsm::TokenSettings;
use zeroize::Zeroizing;

/// A fresh token in SoftHSM2, or `None` where SoftHSM2 is not set up (then the test says so;
/// with `HAECHI_REQUIRE_SERVERS` it fails instead, as CI runs it).
pub fn fresh_token(label: &str) -> Option<TokenSettings> {
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
        sessions: 2,
    })
}

/// Held for a whole test: PKCS#11 state is the process's, and a module lists only the tokens
/// there were when it was initialised, so tests that make tokens take turns.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
