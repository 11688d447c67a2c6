//! `PolicyStore` over files: the live `policy.toml` and every version beside it in
//! `policy.d/<version>.toml`.
//!
//! A save writes the version file, then replaces the live file — each through a temporary
//! file that is fsynced and renamed, then the directory fsynced — so a crash at any point
//! leaves the old or the new policy in force. The newest [`KEPT_VERSIONS`] versions are kept.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use haechi_events::StoreError;
use haechi_vault::PolicyStore;

/// Versions kept in `policy.d/` (older ones are deleted after a save).
pub const KEPT_VERSIONS: usize = 100;

/// Every kept policy version (number, text), and the live file's text.
pub(crate) type PolicyTexts = (Vec<(u64, String)>, Option<String>);

/// The policy file and its history directory.
#[derive(Debug, Clone)]
pub struct PolicyFiles {
    live: PathBuf,
    history: PathBuf,
}

impl PolicyFiles {
    /// Keeps the policy at `live`, with versions in `policy.d/` beside it.
    pub fn new(live: impl Into<PathBuf>) -> Self {
        let live = live.into();
        let history = live
            .parent()
            .map(|dir| dir.join("policy.d"))
            .unwrap_or_else(|| PathBuf::from("policy.d"));
        PolicyFiles { live, history }
    }

    /// The versions kept, in order.
    pub fn versions(&self) -> Result<Vec<u64>, StoreError> {
        let entries = match fs::read_dir(&self.history) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(io("cannot list the policy versions", &error)),
        };
        let mut versions: Vec<u64> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                entry
                    .file_name()
                    .to_str()?
                    .strip_suffix(".toml")?
                    .parse()
                    .ok()
            })
            .collect();
        versions.sort_unstable();
        Ok(versions)
    }

    /// Every kept version's text, oldest first, and the live file's text (`None` without a
    /// live file): what a move to the cluster store copies.
    pub(crate) fn read_all(&self) -> Result<PolicyTexts, StoreError> {
        let mut kept = Vec::new();
        for version in self.versions()? {
            let path = self.history.join(format!("{version}.toml"));
            let text = fs::read_to_string(&path)
                .map_err(|error| io(&format!("cannot read {}", path.display()), &error))?;
            kept.push((version, text));
        }
        let live = match fs::read_to_string(&self.live) {
            Ok(text) => Some(text),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
            Err(error) => {
                let what = format!("cannot read {}", self.live.display());
                return Err(io(&what, &error));
            }
        };
        Ok((kept, live))
    }

    fn save_blocking(&self, text: &str) -> Result<u64, StoreError> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.history)
            .map_err(|error| io("cannot create the policy history directory", &error))?;
        let mut versions = self.versions()?;
        // The policy in force before the first save through the API is kept as version 1.
        if versions.is_empty()
            && let Ok(previous) = fs::read_to_string(&self.live)
        {
            write_atomically(&self.history.join("1.toml"), &previous)?;
            versions.push(1);
        }
        let version = versions.last().map_or(1, |last| last + 1);
        write_atomically(&self.history.join(format!("{version}.toml")), text)?;
        write_atomically(&self.live, text)?;
        versions.push(version);
        let excess = versions.len().saturating_sub(KEPT_VERSIONS);
        for old in &versions[..excess] {
            // A version left behind costs a few bytes; the save itself succeeded.
            let _ = fs::remove_file(self.history.join(format!("{old}.toml")));
        }
        Ok(version)
    }
}

#[async_trait]
impl PolicyStore for PolicyFiles {
    async fn save(&self, text: &str) -> Result<u64, StoreError> {
        let files = self.clone();
        let text = text.to_string();
        tokio::task::spawn_blocking(move || files.save_blocking(&text))
            .await
            .map_err(|_| StoreError::Backend("the policy writer stopped".into()))?
    }
}

/// Writes `text` to `path` through a fsynced temporary file renamed over it, then fsyncs the
/// directory so the rename itself is durable.
fn write_atomically(path: &Path, text: &str) -> Result<(), StoreError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("policy");
    let temporary = dir.join(format!(".{name}.tmp"));
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(|error| io("cannot write the policy file", &error))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|error| io("cannot write the policy file", &error))?;
    drop(file);
    fs::rename(&temporary, path).map_err(|error| io("cannot replace the policy file", &error))?;
    File::open(dir)
        .and_then(|directory| directory.sync_all())
        .map_err(|error| io("cannot sync the policy directory", &error))
}

/// An IO failure, for operators (the API answers without it).
fn io(what: &str, error: &std::io::Error) -> StoreError {
    StoreError::Backend(format!("{what}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_save_replaces_the_live_file_and_keeps_every_version() {
        let dir = tempfile::tempdir().unwrap();
        let live = dir.path().join("policy.toml");
        fs::write(&live, "# first\n").unwrap();
        let files = PolicyFiles::new(&live);
        assert_eq!(files.save("# second\n").await.unwrap(), 2);
        assert_eq!(files.save("# third\n").await.unwrap(), 3);
        assert_eq!(fs::read_to_string(&live).unwrap(), "# third\n");
        assert_eq!(files.versions().unwrap(), vec![1, 2, 3]);
        let kept = |version: u64| {
            fs::read_to_string(dir.path().join(format!("policy.d/{version}.toml"))).unwrap()
        };
        assert_eq!(kept(1), "# first\n");
        assert_eq!(kept(2), "# second\n");
        assert!(!dir.path().join(".policy.toml.tmp").exists());
    }

    #[tokio::test]
    async fn the_first_save_without_a_file_is_version_one() {
        let dir = tempfile::tempdir().unwrap();
        let files = PolicyFiles::new(dir.path().join("policy.toml"));
        assert_eq!(files.save("# only\n").await.unwrap(), 1);
        assert_eq!(
            fs::read_to_string(dir.path().join("policy.toml")).unwrap(),
            "# only\n"
        );
    }
}
