//! `[leakwatch]` and its `[[leakwatch.source]]` entries: leak watch as a service
//! (docs/leak-watch.md, "Watching sources").

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// `[leakwatch]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LeakWatchSection {
    /// Between two polls of a source.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// The largest item read, in MiB; larger ones are quarantined.
    pub max_item_mib: u64,
    /// Items fetched from one source in one poll.
    pub items_per_poll: usize,
    /// Matched items of one source per UTC day that each open an incident; the day's later
    /// matches of that source share one (a hostile feed cannot flood the incident list).
    pub incidents_per_source_per_day: u32,
    /// The longest one request (a listing, an item) may take.
    #[serde(with = "humantime_serde")]
    pub fetch_timeout: Duration,
    /// The longest one item's matching may take before it is quarantined.
    #[serde(with = "humantime_serde")]
    pub item_timeout: Duration,
    /// How long a finished item is remembered (the same bytes posted again later are
    /// examined, and raised, again).
    #[serde(with = "humantime_serde")]
    pub remember_for: Duration,
    /// The sources; none means no watch.
    #[serde(rename = "source")]
    pub sources: Vec<LeakSourceSection>,
}

impl Default for LeakWatchSection {
    fn default() -> Self {
        LeakWatchSection {
            interval: Duration::from_secs(300),
            max_item_mib: 256,
            items_per_poll: 50,
            incidents_per_source_per_day: 50,
            fetch_timeout: Duration::from_secs(60),
            item_timeout: Duration::from_secs(600),
            remember_for: Duration::from_secs(400 * 86_400),
            sources: Vec::new(),
        }
    }
}

/// `[[leakwatch.source]]`: a drop directory or a feed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeakSourceSection {
    /// Its name in records and metrics (letters, digits, `-`, `_`, `.`).
    pub name: String,
    /// A local directory that analysts and crawlers save files into.
    #[serde(default)]
    pub directory: Option<PathBuf>,
    /// A feed listing items: JSON lines (`{"url": …}`) or a directory-style index.
    #[serde(default)]
    pub url: Option<String>,
    /// A file holding the `Authorization` header's value for the feed (`Bearer …`), sent to
    /// the feed's own origin only.
    #[serde(default)]
    pub authorization_file: Option<PathBuf>,
    /// Also trust this CA (PEM) for the feed's certificate.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Trust only `ca_file`.
    #[serde(default)]
    pub ca_file_only: bool,
}

impl LeakWatchSection {
    /// Checks what can be checked without the sources.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.remember_for < Duration::from_secs(86_400) {
            anyhow::bail!("leakwatch.remember_for must be at least 1day");
        }
        if self.interval < Duration::from_secs(1) {
            anyhow::bail!("leakwatch.interval must be at least 1s");
        }
        if !(1..=4096).contains(&self.max_item_mib) {
            anyhow::bail!("leakwatch.max_item_mib must be 1 to 4096");
        }
        if !(1..=10_000).contains(&self.items_per_poll) {
            anyhow::bail!("leakwatch.items_per_poll must be 1 to 10000");
        }
        if !(1..=10_000).contains(&self.incidents_per_source_per_day) {
            anyhow::bail!("leakwatch.incidents_per_source_per_day must be 1 to 10000");
        }
        for (name, value) in [
            ("fetch_timeout", self.fetch_timeout),
            ("item_timeout", self.item_timeout),
        ] {
            if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&value) {
                anyhow::bail!("leakwatch.{name} must be 1s to 1d");
            }
        }
        let mut names = std::collections::HashSet::new();
        for source in &self.sources {
            let name = &source.name;
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                anyhow::bail!(
                    "leakwatch.source name {name:?}: 1 to 64 letters, digits, '-', '_' or '.'"
                );
            }
            if !names.insert(name.clone()) {
                anyhow::bail!("leakwatch.source {name:?} is named twice");
            }
            match (&source.directory, &source.url) {
                (Some(_), None) => {
                    if source.authorization_file.is_some() || source.ca_file.is_some() {
                        anyhow::bail!(
                            "leakwatch.source {name:?}: authorization_file and ca_file are for feeds"
                        );
                    }
                }
                (None, Some(url)) => {
                    let parsed = url::Url::parse(url).map_err(|error| {
                        anyhow::anyhow!("leakwatch.source {name:?}: url: {error}")
                    })?;
                    if !parsed.username().is_empty() || parsed.password().is_some() {
                        anyhow::bail!(
                            "leakwatch.source {name:?}: the url carries a credential; put it in \
                             authorization_file instead (it is kept out of logs and sent over \
                             https only)"
                        );
                    }
                    let loopback = parsed.host_str().is_some_and(|host| {
                        host == "localhost"
                            || host
                                .trim_matches(['[', ']'])
                                .parse::<std::net::IpAddr>()
                                .is_ok_and(|ip| ip.is_loopback())
                    });
                    match parsed.scheme() {
                        "https" => {}
                        "http" if source.authorization_file.is_none() || loopback => {}
                        "http" => anyhow::bail!(
                            "leakwatch.source {name:?}: a feed's credential is sent over https \
                             only (or to this machine)"
                        ),
                        other => anyhow::bail!(
                            "leakwatch.source {name:?}: a feed is http or https, not {other}"
                        ),
                    }
                }
                _ => anyhow::bail!(
                    "leakwatch.source {name:?}: give exactly one of directory and url"
                ),
            }
        }
        Ok(())
    }
}
