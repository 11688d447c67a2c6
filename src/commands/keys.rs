//! `haechi keys list|rotate|revoke|import`.

use anyhow::Context as _;
use haechi_events::{Principal, RequestContext};

use crate::Outcome;
use crate::cli::KeysAction;
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::{DataDirLock, Runtime};

/// The principal recorded for acts done from this machine's command line.
fn operator() -> Principal {
    Principal::Admin("cli".into())
}

pub fn run(action: KeysAction, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    let _lock = DataDirLock::acquire(config, "key changes")?;
    block_on(async {
        let runtime = Runtime::open(config).await?;
        let authority = &runtime.authority;
        let context = RequestContext::local();
        match action {
            KeysAction::List => {
                println!(
                    "{:<45} {:<6} {:<9} {:<9} {:<28} {}",
                    "KID", "ALG", "STATE", "ORIGIN", "CREATED", "VERIFIES UNTIL"
                );
                for key in authority.keys() {
                    println!(
                        "{:<45} {:<6} {:<9} {:<9} {:<28} {}",
                        key.kid,
                        key.algorithm.jws_name(),
                        key.state.as_str(),
                        key.origin.as_str(),
                        key.created_at.to_rfc3339(),
                        key.verify_until
                            .map(|until| until.to_rfc3339())
                            .unwrap_or_else(|| "-".into())
                    );
                }
            }
            KeysAction::Rotate => {
                let active = authority.rotate_keys(&operator(), &context).await?;
                println!("rotated: {} is now the active signing key", active.kid);
            }
            KeysAction::Revoke { kid } => {
                let revoked = authority.revoke_key(&kid, &operator(), &context).await?;
                println!(
                    "revoked {}: every token it signed is refused from now on",
                    revoked.kid
                );
                println!("sessions that held its tokens: {}", revoked.sessions.len());
                for sid in &revoked.sessions {
                    println!("  {sid}");
                }
                if let Some(active) = revoked.replaced_by {
                    println!("{active} is now the active signing key");
                }
            }
            KeysAction::Import { file, pending } => {
                let text = zeroize::Zeroizing::new(
                    std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?,
                );
                let record = authority
                    .import_key(&text, !pending, &operator(), &context)
                    .await?;
                println!(
                    "imported {} ({}), now {}",
                    record.kid,
                    record.algorithm.jws_name(),
                    record.state.as_str()
                );
            }
        }
        runtime.store.close().await;
        Ok(Outcome::Clean)
    })?
}
