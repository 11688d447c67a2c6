//! Where the audit trail is: the archive directories and the live log.

use std::path::{Path, PathBuf};

use crate::Error;

/// Where the audit trail is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// Parquet archive directories.
    pub archives: Vec<PathBuf>,
    /// The live log directory (`<data_dir>/audit`), if there is one to read.
    pub live_log: Option<PathBuf>,
}

impl Sources {
    /// The live log in `log_dir` (unless `with_live_log` is false), the archives `given`, and
    /// the archives its `archived` manifest names that are not among them: what `haechi scope`
    /// and the console's "who was exposed" read.
    pub fn of_log(log_dir: &Path, given: &[PathBuf], with_live_log: bool) -> Result<Self, Error> {
        let mut archives = given.to_vec();
        for dir in manifest_archives(log_dir)? {
            let known = archives.iter().any(|given| same_dir(given, &dir));
            if !known {
                archives.push(dir);
            }
        }
        let live_log = (with_live_log && log_dir.is_dir()).then(|| log_dir.to_path_buf());
        Ok(Sources { archives, live_log })
    }

    /// Whether there is nothing to read.
    pub fn is_empty(&self) -> bool {
        self.archives.is_empty() && self.live_log.is_none()
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The archive directories the live log was exported to (its `archived` manifest, JSON
/// lines with an `archive_dir` each; see the audit crate's SCHEMA.md).
fn manifest_archives(log_dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let path = log_dir.join("archived");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(Error::io(path, error)),
    };
    let mut dirs: Vec<PathBuf> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry: serde_json::Value = serde_json::from_str(line)
            .map_err(|error| Error::bad_file(&path, format!("line {}: {error}", index + 1)))?;
        if let Some(dir) = entry.get("archive_dir").and_then(|dir| dir.as_str()) {
            let dir = PathBuf::from(dir);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    Ok(dirs)
}
