//! The configuration file (TOML), through the binary's own `Config::from_file_provider` (the
//! function `Config::load` calls with the file): `src/config/` is compiled in by path, global
//! flags unset.
//!
//! Holds: no panic; an accepted configuration yields its token policy and HTTP settings and
//! renders as redacted TOML.

#![no_main]

#[allow(dead_code, unused_imports, clippy::all)]
#[path = "../../src/config/mod.rs"]
mod config;

use figment::providers::{Format as _, Toml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let global = config::GlobalArgs {
        data_dir: None,
        config: None,
        store: None,
        bus: None,
        node_id: None,
    };
    if let Ok(config) = config::Config::from_file_provider(Toml::string(text), "fuzz.toml", &global)
    {
        assert!(config.token_policy().is_ok());
        let _ = config.server_settings();
        let _ = config.password_params();
        let _ = config.redacted_toml();
    }
});
