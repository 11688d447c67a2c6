//! The anonymous exposure check in `haechi serve`: its key from custody, its directory loaded
//! before the server listens and kept fresh while it runs.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use haechi_leak::private_check::CheckKey;
use haechi_leakwatch::ExposureCheck;

use crate::runtime::Runtime;

/// The name of the check key's seed among the wrapped secrets.
const CHECK_KEY_SECRET: &str = "exposure-check-key";

/// How often newly recorded exposures are tagged and served.
const REFRESH_EVERY: Duration = Duration::from_secs(10);

/// Opens the check: the key (its seed made and wrapped under the master key on first use,
/// shared by every node of a cluster through the store) and, on a node that serves the portal,
/// every tag already kept; exposures not yet tagged are tagged now, on every core. A
/// detection node answers no check, so it loads and tags nothing.
pub async fn open(runtime: &Runtime, serves_portal: bool) -> anyhow::Result<Arc<ExposureCheck>> {
    let seed = runtime
        .authority
        .keys()
        .named_secret(CHECK_KEY_SECRET)
        .await
        .context("cannot open the exposure check's key")?;
    let key = CheckKey::from_seed(&seed).context("cannot derive the exposure check's key")?;
    let check = Arc::new(ExposureCheck::new(key, runtime.store.clone())?);
    if !serves_portal {
        return Ok(check);
    }
    let refresh = check
        .refresh()
        .await
        .context("cannot load the exposure check's directory")?;
    tracing::info!(
        key = check.key_id(),
        serving = refresh.serving,
        tagged = refresh.tagged,
        dropped = refresh.dropped,
        "exposure check ready"
    );
    Ok(check)
}

/// Tags and serves exposures recorded since (by `haechi leak match`, on any node), every
/// [`REFRESH_EVERY`]. A failed round is logged and retried at the next.
pub async fn keep_fresh(check: Arc<ExposureCheck>) {
    let mut ticker = tokio::time::interval(REFRESH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await;
    loop {
        ticker.tick().await;
        match check.refresh().await {
            Ok(refresh) if refresh.tagged > 0 => tracing::info!(
                tagged = refresh.tagged,
                serving = refresh.serving,
                "exposure check: new exposures served"
            ),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "exposure check: refresh failed"),
        }
    }
}
