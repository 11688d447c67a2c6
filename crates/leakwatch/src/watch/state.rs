//! What the watch remembers between polls and across restarts: per source, the digests of the
//! items it finished (matched, clean or quarantined), what it already fetched, and a feed's
//! validators. Kept as one JSON file written atomically (a temporary file renamed over it), so
//! a restart resumes without scanning — or alerting — again. It holds digests, names and
//! addresses, never an item's content.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Digests (and fetched addresses) kept per source; the oldest are forgotten past it.
const REMEMBERED: usize = 200_000;

/// The state of every source.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct WatchState {
    #[serde(default)]
    sources: BTreeMap<String, SourceState>,
}

/// One source's state.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct SourceState {
    /// SHA-256 of every item finished, oldest first.
    #[serde(default)]
    digests: VecDeque<String>,
    #[serde(skip)]
    digest_set: HashSet<String>,
    /// What was already fetched: a directory's `name|size|mtime`, a feed item's address.
    #[serde(default)]
    fetched: VecDeque<String>,
    #[serde(skip)]
    fetched_set: HashSet<String>,
    /// A feed's `ETag` and `Last-Modified`, for conditional requests.
    #[serde(default)]
    pub etag: Option<String>,
    #[serde(default)]
    pub last_modified: Option<String>,
}

impl SourceState {
    fn index(&mut self) {
        self.digest_set = self.digests.iter().cloned().collect();
        self.fetched_set = self.fetched.iter().cloned().collect();
    }

    /// Whether an item with this digest was finished before.
    pub fn knows_digest(&self, digest: &str) -> bool {
        self.digest_set.contains(digest)
    }

    /// Whether this listing entry was fetched before.
    pub fn fetched(&self, key: &str) -> bool {
        self.fetched_set.contains(key)
    }

    /// Remembers a finished item.
    pub fn finish(&mut self, digest: &str) {
        remember(&mut self.digests, &mut self.digest_set, digest);
    }

    /// Remembers a listing entry as fetched.
    pub fn mark_fetched(&mut self, key: &str) {
        remember(&mut self.fetched, &mut self.fetched_set, key);
    }
}

fn remember(order: &mut VecDeque<String>, set: &mut HashSet<String>, value: &str) {
    if set.insert(value.to_string()) {
        order.push_back(value.to_string());
        while order.len() > REMEMBERED {
            if let Some(oldest) = order.pop_front() {
                set.remove(&oldest);
            }
        }
    }
}

impl WatchState {
    /// The state in `path`, or an empty one if there is none yet. A file that does not parse
    /// is an error: starting from nothing would scan (and alert on) everything again.
    pub fn load(path: &Path) -> std::io::Result<Self> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(WatchState::default());
            }
            Err(error) => return Err(error),
        };
        let mut state: WatchState = serde_json::from_str(&text).map_err(|error| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{} is not the watch's state: {error}", path.display()),
            )
        })?;
        for source in state.sources.values_mut() {
            source.index();
        }
        Ok(state)
    }

    /// Writes the state to `path` atomically.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let staging: PathBuf = path.with_extension("json.new");
        {
            let mut file = std::fs::File::create(&staging)?;
            file.write_all(&serde_json::to_vec(self).map_err(std::io::Error::other)?)?;
            file.sync_all()?;
        }
        std::fs::rename(&staging, path)
    }

    /// The state of source `name`.
    pub fn source(&mut self, name: &str) -> &mut SourceState {
        self.sources.entry(name.to_string()).or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_was_finished_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut state = WatchState::load(&path).unwrap();
        state.source("drop").finish("abc");
        state.source("drop").mark_fetched("dump.csv|10|1");
        state.source("feed").etag = Some("\"v1\"".into());
        state.save(&path).unwrap();
        let mut again = WatchState::load(&path).unwrap();
        assert!(again.source("drop").knows_digest("abc"));
        assert!(again.source("drop").fetched("dump.csv|10|1"));
        assert!(!again.source("feed").knows_digest("abc"));
        assert_eq!(again.source("feed").etag.as_deref(), Some("\"v1\""));
        std::fs::write(&path, "not json").unwrap();
        assert!(WatchState::load(&path).is_err());
    }

    #[test]
    fn the_oldest_are_forgotten_past_the_bound() {
        let mut source = SourceState::default();
        for n in 0..REMEMBERED + 10 {
            source.finish(&n.to_string());
        }
        assert!(!source.knows_digest("0"));
        assert!(source.knows_digest(&(REMEMBERED + 9).to_string()));
        assert_eq!(source.digests.len(), REMEMBERED);
    }
}
