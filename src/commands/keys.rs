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
            KeysAction::RotateMaster { new_key_file } => {
                rotate_master(&runtime, config, &new_key_file).await?;
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

/// Re-wraps every data key, signing key and named secret under the new master key, with a
/// progress bar; then installs the new key if the old one was the generated key file.
async fn rotate_master(
    runtime: &Runtime,
    config: &Config,
    new_key_file: &std::path::Path,
) -> anyhow::Result<()> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(new_key_file)
            .with_context(|| format!("cannot read {}", new_key_file.display()))?,
    );
    let next = haechi_custody::MasterKey::parse(&text).context("new master key")?;
    if next.id() == runtime.master_key.id() {
        anyhow::bail!("the new master key is the one already in use");
    }
    let total = runtime.vault.customer_count().await?;
    let progress = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "re-wrapping data keys {wide_bar} {pos}/{len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let data_keys = runtime
        .vault
        .rewrap_data_keys(&next, |done, _| progress.set_position(done))
        .await?;
    progress.finish_and_clear();
    let others = runtime.authority.rewrap_under(&next).await?;
    runtime
        .authority
        .record_master_rotation(&next, &operator(), &RequestContext::local())
        .await?;
    println!(
        "re-wrapped {data_keys} customer data keys and {others} signing keys and secrets under {} \
         (no field was re-encrypted)",
        next.id()
    );
    let generated = config.master_key.is_none() && config.master_key_file.is_none();
    if generated {
        let path = config.master_key_path();
        let staging = path.with_extension("key.new");
        {
            use std::io::Write as _;
            use std::os::unix::fs::OpenOptionsExt as _;
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&staging)?;
            file.write_all(next.to_hex().as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
        }
        std::fs::rename(&staging, &path)?;
        println!("installed the new master key at {}", path.display());
    } else {
        println!(
            "now start Haechi with the new master key (HAECHI_MASTER_KEY or master_key_file); \
             the old key opens nothing any more"
        );
    }
    Ok(())
}
