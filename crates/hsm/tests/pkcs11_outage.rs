//! A token that is not there: every operation fails closed with `HsmUnavailable` (at once,
//! between reconnection attempts), and the token is used again once it is back. A test binary
//! of its own, since reconnecting finalises the PKCS#11 module for the whole process.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use haechi_custody::{Error, SigningAlgorithm};
use haechi_hsm::{HsmToken, RECONNECT_INTERVAL, TokenSettings};
use zeroize::Zeroizing;

#[test]
fn a_token_that_is_gone_fails_closed_and_is_used_again_once_it_is_back() {
    let _turn = common::one_at_a_time();
    let label = format!("haechi-late-{}", std::process::id());
    // Where SoftHSM2 is set up this makes a token; the token under test is another one, made
    // later.
    let Some(other) = common::fresh_token(&format!("{label}-other")) else {
        return;
    };
    let token = HsmToken::new(TokenSettings {
        module: PathBuf::from(&other.module),
        token_label: label.clone(),
        pin: Zeroizing::new("user-pin-1234".into()),
        sessions: 2,
    });
    assert!(!token.is_available());
    match token.generate_key(SigningAlgorithm::EdDsa, b"k", "k") {
        Err(Error::HsmUnavailable(reason)) => assert!(reason.contains(&label), "{reason}"),
        other => panic!("expected HsmUnavailable, got {other:?}"),
    }
    assert!(token.outage().is_some());
    // Between attempts an operation fails at once, without touching the module.
    let started = Instant::now();
    assert!(matches!(token.check(), Err(Error::HsmUnavailable(_))));
    assert!(started.elapsed() < RECONNECT_INTERVAL);

    // The token appears; after the reconnection interval it is found and used.
    common::fresh_token(&label).unwrap();
    std::thread::sleep(RECONNECT_INTERVAL + Duration::from_millis(100));
    token.check().unwrap();
    assert!(token.is_available() && token.outage().is_none());
    let key = token
        .generate_key(SigningAlgorithm::EdDsa, b"k", "k")
        .unwrap();
    assert_eq!(
        token
            .sign_with(SigningAlgorithm::EdDsa, &key.id, b"m")
            .unwrap()
            .len(),
        64
    );
}

#[test]
fn a_refused_pin_is_not_tried_again() {
    let _turn = common::one_at_a_time();
    let label = format!("haechi-pin-{}", std::process::id());
    let Some(mut settings) = common::fresh_token(&label) else {
        return;
    };
    settings.pin = Zeroizing::new("not-the-pin".into());
    let token = HsmToken::new(settings);
    let first = token.check().unwrap_err().to_string();
    assert!(first.contains("refused the PIN"), "{first}");
    assert!(!first.contains("not-the-pin"), "{first}");
    // Past the reconnection interval it still fails at once, without a second login: a real
    // HSM locks a PIN after a few wrong ones.
    std::thread::sleep(RECONNECT_INTERVAL + Duration::from_millis(100));
    let started = Instant::now();
    let again = token.check().unwrap_err().to_string();
    assert!(again.contains("not tried again"), "{again}");
    assert!(started.elapsed() < Duration::from_millis(100));
}
