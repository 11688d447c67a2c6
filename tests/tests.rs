//! Integration tests: the real `haechi` binary, started on a random port with a temporary data
//! dir, driven over real HTTP. One test binary, as in ripgrep; the harness is in `util`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

mod util;

mod abuse_server;
mod abuse_token;
mod abuse_vault;
mod architecture;
mod audit;
mod audit_witness;
mod browser;
mod cluster;
mod console;
mod containment;
mod contract;
mod detection;
mod drill;
mod evidence;
mod exposure_check;
mod forensics;
mod gateway;
mod hostile;
mod hsm;
mod import;
mod incidents;
mod leak;
mod leak_watch;
mod notices;
mod portal;
mod rules;
mod tls_listener;
mod token;
mod vault;
