//! `haechi keys list|rotate|revoke|import`.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Subcommand;
use haechi_events::{Principal, RequestContext};

use crate::Outcome;
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::{DataDirLock, Runtime};

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// List signing keys and their states (never private material).
    List,
    /// Rotate now: the pending key signs, the active key retires.
    Rotate,
    /// Revoke a compromised key: every token it signed stops working at once.
    Revoke {
        /// The key id.
        kid: String,
    },
    /// Re-wrap every stored key under a new master key (no data is re-encrypted). Run with
    /// the server stopped; then start it with the new key.
    RotateMaster {
        /// File holding the new master key (64 hex digits or base64 of 32 bytes).
        #[arg(long)]
        new_key_file: PathBuf,
    },
    /// Import the signing key of an existing identity provider (PKCS#8/SEC1 PEM or JWK).
    Import {
        /// File holding the private key.
        file: PathBuf,
        /// Keep it pending (published, not signing) instead of making it the active key.
        #[arg(long)]
        pending: bool,
    },
}

/// The principal recorded for acts done from this machine's command line.
fn operator() -> Principal {
    Principal::Admin("cli".into())
}

pub fn run(action: KeysAction, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    let _lock = DataDirLock::acquire(config, "key changes")?;
    if let KeysAction::RotateMaster { new_key_file } = &action {
        block_on(rotate_master(config, new_key_file))??;
        return Ok(Outcome::Clean);
    }
    block_on(async {
        let runtime = Runtime::open(config).await?;
        let authority = &runtime.authority;
        let grant = authority.operator_grant()?;
        match action {
            KeysAction::List => {
                println!(
                    "{:<45} {:<6} {:<9} {:<9} {:<28} VERIFIES UNTIL",
                    "KID", "ALG", "STATE", "ORIGIN", "CREATED"
                );
                for key in authority.keys().records() {
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
                let active = authority.keys().rotate(&grant).await?;
                println!("rotated: {} is now the active signing key", active.kid);
            }
            KeysAction::Revoke { kid } => {
                let revoked = authority.keys().revoke(&kid, &grant).await?;
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
            KeysAction::RotateMaster { .. } => unreachable!("handled before the runtime opens"),
            KeysAction::Import { file, pending } => {
                let text = zeroize::Zeroizing::new(
                    std::fs::read_to_string(&file)
                        .with_context(|| format!("cannot read {}", file.display()))?,
                );
                let record = authority.keys().import(&text, !pending, &grant).await?;
                println!(
                    "imported {} ({}), now {}",
                    record.kid,
                    record.algorithm.jws_name(),
                    record.state.as_str()
                );
            }
        }
        runtime.close().await?;
        Ok(Outcome::Clean)
    })?
}

/// Re-wraps every data key, signing key and named secret that is not under the current master
/// key, reporting progress. Used offline by `keys rotate-master` and online by `serve` when
/// started with a previous master key. Returns how many items were re-wrapped.
pub(crate) async fn rewrap_to_current(
    vault: &haechi_vault::Vault,
    authority: &haechi_token::TokenAuthority,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<u64> {
    let data_keys = vault
        .data_key_rewrap()
        .rewrap_data_keys(&mut progress)
        .await?;
    let others = authority.keys().rewrap_to_current().await? as u64;
    authority
        .keys()
        .record_master_rotation(data_keys + others, &operator(), &RequestContext::local())
        .await?;
    Ok(data_keys + others)
}

/// `keys rotate-master`: opens the data directory with the new key as current and the old ones
/// as previous, re-wraps everything, then installs the new key if the old one was the
/// generated key file.
async fn rotate_master(config: &Config, new_key_file: &std::path::Path) -> anyhow::Result<()> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(new_key_file)
            .with_context(|| format!("cannot read {}", new_key_file.display()))?,
    );
    let next = haechi_custody::MasterKey::parse(&text).context("new master key")?;
    let token = crate::custody::open_token(config)?;
    let (current, mut previous) =
        crate::runtime::load_master_keys(config, token.as_ref())?.into_keys();
    if current.is_in_token() {
        anyhow::bail!(
            "the master key is in the PKCS#11 token (keys.pkcs11.master_key): Haechi does not \
             move it back out into a file"
        );
    }
    if next.id() == current.id() {
        anyhow::bail!("the new master key is the one already in use");
    }
    previous.insert(0, current);
    let next_id = next.id().to_string();
    let ring = haechi_custody::MasterKeyRing::new(next, previous)?;
    let runtime = Runtime::open_with_keys(
        config,
        ring,
        token,
        haechi_token::OperatorAccess::LocalOperator,
    )
    .await?;
    let total = runtime.vault.customer_count().await?;
    let progress = indicatif::ProgressBar::new(total).with_style(
        indicatif::ProgressStyle::with_template(
            "re-wrapping data keys {wide_bar} {pos}/{len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let rewrapped = rewrap_to_current(&runtime.vault, &runtime.authority, |done, _| {
        progress.set_position(done)
    })
    .await?;
    progress.finish_and_clear();
    println!(
        "re-wrapped {rewrapped} data keys, signing keys and secrets under {next_id} \
         (no field was re-encrypted)"
    );
    let next_hex = runtime
        .master_key
        .current()
        .to_hex()
        .context("the new master key has no value to write")?;
    runtime.close().await?;
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
            file.write_all(next_hex.as_bytes())?;
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
