//! The exposure portal in `haechi serve`: its statement key from custody, and the current
//! incident statements loaded before the server listens and kept fresh while it runs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use haechi_server::portal::Portal;

use crate::config::Config;
use crate::runtime::Runtime;

/// The name of the statement key's Ed25519 seed among the wrapped secrets: a key of its own,
/// which signs nothing but incident statements.
const STATEMENT_KEY_SECRET: &str = "incident-statement-key";

/// How often the statements are read again: another node may have published one, or closed
/// an incident.
const REFRESH_EVERY: Duration = Duration::from_secs(5);

/// Opens the portal: the statement key (made and wrapped under the master key on first use,
/// shared by every node of a cluster through the store) and the current statements.
pub async fn open(config: &Config, runtime: &Runtime) -> anyhow::Result<Arc<Portal>> {
    let seed = runtime
        .authority
        .keys()
        .named_secret(STATEMENT_KEY_SECRET)
        .await
        .context("cannot open the incident statement key")?;
    let portal = Arc::new(
        Portal::new(
            ed25519_dalek::SigningKey::from_bytes(&seed),
            config.portal.admission()?,
        )
        .context("cannot load the portal's pages")?,
    );
    portal
        .refresh(runtime.store.as_ref())
        .await
        .context("cannot read the incident statements")?;
    Ok(portal)
}

/// Reads the current statements every [`REFRESH_EVERY`]; a failed read is logged, and the
/// statements shown stay as they were until the next succeeds.
pub async fn keep_fresh(portal: Arc<Portal>, store: Arc<dyn haechi_store::Store>) {
    let mut ticker = tokio::time::interval(REFRESH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        if let Err(error) = portal.refresh(store.as_ref()).await {
            tracing::warn!(%error, "portal: reading the incident statements failed");
        }
    }
}
