//! The watches `haechi serve` runs beside the API when configured: the custody watch (an HSM
//! holding keys, `src/custody_watch.rs`) and the leak watch (leak sources polled
//! continuously, `haechi_leakwatch::LeakWatch`).

use anyhow::Context as _;
use haechi_leakwatch::{
    LeakWatch, SourceKind, SourceSettings, WatchHealth, WatchServices, WatchSettings,
};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use crate::config::Config;
use crate::runtime::Runtime;

/// Starts the watches this configuration asks for.
/// The leak watch reports its sources' health on `board` (the console reads it).
pub fn start(
    config: &Config,
    runtime: &Runtime,
    board: &WatchHealth,
) -> anyhow::Result<Vec<JoinHandle<()>>> {
    let mut watches = Vec::new();
    if let Some(token) = runtime.custody_token.clone() {
        let watch = crate::custody_watch::run(token, runtime.events.clone(), runtime.clock.clone());
        watches.push(tokio::spawn(watch));
    }
    if !config.leakwatch.sources.is_empty() {
        let grant = runtime
            .authority
            .take_leak_watch_grant()
            .context("the leak watch's grant was already taken")?;
        let watch = LeakWatch::open(leak_watch_settings(config)?, board.clone())?;
        tracing::info!(
            sources = config.leakwatch.sources.len(),
            "leak watch started"
        );
        watches.push(tokio::spawn(watch.run(services(runtime), grant)));
    }
    Ok(watches)
}

/// What the watch reaches in this data directory.
pub fn services(runtime: &Runtime) -> WatchServices {
    WatchServices {
        vault: runtime.vault.clone(),
        events: runtime.events.clone(),
        exposures: runtime.store.clone(),
    }
}

/// `[leakwatch]` as the watch takes it: secrets read from their files now.
pub fn leak_watch_settings(config: &Config) -> anyhow::Result<WatchSettings> {
    let section = &config.leakwatch;
    let mut sources = Vec::new();
    for source in &section.sources {
        let kind = match (&source.directory, &source.url) {
            (Some(path), _) => SourceKind::Directory { path: path.clone() },
            (None, Some(url)) => SourceKind::Feed {
                url: url::Url::parse(url)
                    .with_context(|| format!("leakwatch.source {:?}: url", source.name))?,
                authorization: match &source.authorization_file {
                    Some(path) => Some(read_secret(path).with_context(|| {
                        format!("leakwatch.source {:?}: authorization_file", source.name)
                    })?),
                    None => None,
                },
                trust: haechi_outbound::Trust {
                    ca_file: source.ca_file.clone(),
                    ca_file_only: source.ca_file_only,
                },
            },
            (None, None) => {
                anyhow::bail!("leakwatch.source {:?}: no directory or url", source.name)
            }
        };
        sources.push(SourceSettings {
            name: source.name.clone(),
            kind,
        });
    }
    Ok(WatchSettings {
        interval: section.interval,
        max_item_bytes: section.max_item_mib.saturating_mul(1024 * 1024),
        items_per_poll: section.items_per_poll,
        incidents_per_day: section.incidents_per_source_per_day,
        fetch_timeout: section.fetch_timeout,
        item_timeout: section.item_timeout,
        state_file: section
            .state_file
            .clone()
            .unwrap_or_else(|| config.data_dir.join("leakwatch-state.json")),
        sources,
    })
}

fn read_secret(path: &std::path::Path) -> anyhow::Result<Zeroizing<String>> {
    if crate::config::is_group_or_world_readable(path) {
        tracing::warn!(path = %path.display(), "a leak feed's credential file is readable by group or others; chmod 600 it");
    }
    let text = Zeroizing::new(std::fs::read_to_string(path)?);
    let value = text.trim();
    if value.is_empty() {
        anyhow::bail!("{} is empty", path.display());
    }
    Ok(Zeroizing::new(value.to_string()))
}
