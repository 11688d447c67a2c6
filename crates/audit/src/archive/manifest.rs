//! The manifest in the log directory, `archived` (JSON lines): which segment went to which
//! files of which archive directory. Retention and the verifier read it.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::segment::write_atomically;

/// Name of the manifest of archived segments in the log directory.
pub(crate) const MANIFEST_FILE: &str = "archived";

/// One line of the `archived` manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ManifestEntry {
    /// The segment's file name.
    pub segment: String,
    /// Its first seq.
    pub first_seq: u64,
    /// Its last seq (`first_seq - 1` for a segment without records).
    pub last_seq: u64,
    /// The archive directory (absolute).
    pub archive_dir: PathBuf,
    /// The Parquet files, relative to `archive_dir`, in seq order.
    pub files: Vec<PathBuf>,
}

/// Reads the manifest of archived segments (empty if there is none).
pub(crate) fn read_manifest(log_dir: &Path) -> Result<Vec<ManifestEntry>, Error> {
    let path = log_dir.join(MANIFEST_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if crate::segment::is_not_found(&error) => return Ok(Vec::new()),
        Err(error) => return Err(Error::io(path, error)),
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            serde_json::from_str(line)
                .map_err(|error| Error::archive(&path, format!("bad manifest line: {error}")))
        })
        .collect()
}

pub(super) fn write_manifest(log_dir: &Path, entries: &[ManifestEntry]) -> Result<(), Error> {
    let mut text = String::new();
    for entry in entries {
        let line = serde_json::to_string(entry)
            .map_err(|error| Error::archive(log_dir.join(MANIFEST_FILE), error))?;
        text.push_str(&line);
        text.push('\n');
    }
    write_atomically(&log_dir.join(MANIFEST_FILE), text.as_bytes())
}
