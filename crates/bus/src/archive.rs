//! The cluster's archive directory: one ordinary archive per node, and the marker that says
//! how far the stream was exported into it.
//!
//! ```text
//! <archive>/_cluster_export                      the marker (JSON, written last, atomically)
//! <archive>/node=<id>/_checkpoints               node <id>'s signed checkpoints
//! <archive>/node=<id>/day=YYYY-MM-DD/part-<first>-<last>.parquet
//! ```
//!
//! Each `node=<id>` directory is exactly the archive a single log's export writes (same schema,
//! day partitions, file names, `_checkpoints`), holding that node's chain from seq 1; its files
//! also carry the footer key `haechi.audit.node`. Seqs repeat across nodes, so readers identify
//! a record by node and seq: `haechi scope` does, and DuckDB's hive partitioning turns the
//! directory into a `node` column.
//!
//! The marker is the commit point. Everything the export wrote beyond it (a crash after the
//! Parquet files, before the marker) is removed by the next export before it writes, and
//! never trusted by prune.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use haechi_audit::{Checkpoint, read_archive_checkpoints, write_archive_checkpoints};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::names::NodeId;

/// Name of the export marker in the cluster's archive directory. The leading underscore keeps
/// dataset readers (DuckDB, pyarrow, `haechi scope`) from reading it as data.
pub const EXPORT_MARKER: &str = "_cluster_export";

/// The version of the marker's format.
const MARKER_FORMAT: u32 = 1;

/// How far the stream is exported: every message up to `through` is reflected in the archive,
/// and each node's chain is archived from seq 1 through its `last_seq`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ExportMarker {
    /// Always [`MARKER_FORMAT`].
    pub format: u32,
    /// The stream exported.
    pub stream: String,
    /// The last stream sequence exported (0: nothing yet).
    pub through: u64,
    /// Each node's archived head.
    pub nodes: BTreeMap<String, NodeHead>,
}

/// The end of a node's archived chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeHead {
    /// The last seq archived.
    pub last_seq: u64,
    /// Its record's hash, hex.
    #[serde(with = "hex_hash")]
    pub last_hash: [u8; 32],
}

impl ExportMarker {
    /// The marker of an archive nothing was exported to yet.
    pub fn empty(stream: &str) -> Self {
        ExportMarker {
            format: MARKER_FORMAT,
            stream: stream.to_string(),
            through: 0,
            nodes: BTreeMap::new(),
        }
    }

    /// The last seq archived of `node` (0: none).
    pub fn last_seq(&self, node: &str) -> u64 {
        self.nodes.get(node).map_or(0, |head| head.last_seq)
    }
}

/// Node `node`'s archive directory inside the cluster's archive `archive`.
pub fn node_archive_dir(archive: &Path, node: &NodeId) -> PathBuf {
    archive.join(format!("node={node}"))
}

/// The nodes whose chains the cluster archive in `archive` holds, with their directories, in
/// node order; `None` when `archive` has no export marker (it is not a cluster archive).
pub fn cluster_archive_nodes(archive: &Path) -> Result<Option<Vec<(NodeId, PathBuf)>>, Error> {
    if read_marker(archive)?.is_none() {
        return Ok(None);
    }
    Ok(Some(node_dirs(archive)?))
}

/// Every `node=<id>` directory under `archive`.
pub(crate) fn node_dirs(archive: &Path) -> Result<Vec<(NodeId, PathBuf)>, Error> {
    let mut nodes = Vec::new();
    for entry in read_dir(archive)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(id) = name.strip_prefix("node=") else {
            continue;
        };
        let node = NodeId::new(id).map_err(|_| Error::Archive {
            dir: archive.to_path_buf(),
            reason: format!("{name} is not the directory of a node id"),
        })?;
        nodes.push((node, entry.path()));
    }
    nodes.sort();
    Ok(nodes)
}

fn read_dir(dir: &Path) -> Result<Vec<std::fs::DirEntry>, Error> {
    let io = |error: std::io::Error| Error::Archive {
        dir: dir.to_path_buf(),
        reason: error.to_string(),
    };
    std::fs::read_dir(dir)
        .map_err(io)?
        .map(|entry| entry.map_err(io))
        .collect()
}

/// Reads the export marker of `archive` (`None` if there is none).
pub(crate) fn read_marker(archive: &Path) -> Result<Option<ExportMarker>, Error> {
    let path = archive.join(EXPORT_MARKER);
    let damaged = |reason: String| Error::Archive {
        dir: archive.to_path_buf(),
        reason: format!("its {EXPORT_MARKER} marker {reason}"),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(damaged(format!("cannot be read: {error}"))),
    };
    let marker: ExportMarker =
        serde_json::from_str(&text).map_err(|error| damaged(format!("is damaged: {error}")))?;
    if marker.format != MARKER_FORMAT {
        return Err(damaged(format!(
            "has format {}, this build reads {MARKER_FORMAT}",
            marker.format
        )));
    }
    Ok(Some(marker))
}

/// Writes the export marker: to a temporary file, synced, renamed over the old one, and the
/// directory synced, so a crash leaves the old marker or the new one.
pub(crate) fn write_marker(archive: &Path, marker: &ExportMarker) -> Result<(), Error> {
    let io = |error: std::io::Error| Error::Archive {
        dir: archive.to_path_buf(),
        reason: format!("writing {EXPORT_MARKER}: {error}"),
    };
    let bytes = serde_json::to_vec_pretty(marker).map_err(|error| Error::Archive {
        dir: archive.to_path_buf(),
        reason: error.to_string(),
    })?;
    let temporary = archive.join(format!(".{EXPORT_MARKER}.tmp"));
    let mut file = File::create(&temporary).map_err(io)?;
    file.write_all(&bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    drop(file);
    std::fs::rename(&temporary, archive.join(EXPORT_MARKER)).map_err(io)?;
    File::open(archive)
        .and_then(|dir| dir.sync_all())
        .map_err(io)
}

/// Removes what an interrupted export left beyond the marker: temporaries, Parquet files of
/// seqs the marker does not count as archived, and checkpoints of such seqs. Returns the
/// files removed. These are copies of messages still in the stream (prune trusts only what
/// the marker counts), so the export that follows writes them again.
pub(crate) fn remove_uncommitted(
    archive: &Path,
    marker: &ExportMarker,
) -> Result<Vec<PathBuf>, Error> {
    let mut removed = Vec::new();
    let remove = |path: PathBuf, removed: &mut Vec<PathBuf>| {
        std::fs::remove_file(&path).map_err(|error| Error::Archive {
            dir: archive.to_path_buf(),
            reason: format!("removing {}: {error}", path.display()),
        })?;
        removed.push(path);
        Ok::<(), Error>(())
    };
    for entry in read_dir(archive)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.ends_with(".tmp") {
            remove(entry.path(), &mut removed)?;
        }
    }
    for (node, dir) in node_dirs(archive)? {
        let last_seq = marker.last_seq(node.as_str());
        for day in read_dir(&dir)? {
            let day_path = day.path();
            if !day_path.is_dir() {
                continue;
            }
            for file in read_dir(&day_path)? {
                let name = file.file_name().to_string_lossy().into_owned();
                let beyond = first_seq_of(&name).is_some_and(|first| first > last_seq);
                if beyond || (name.starts_with('.') && name.ends_with(".tmp")) {
                    remove(file.path(), &mut removed)?;
                }
            }
        }
        let checkpoints = node_checkpoints(&dir)?;
        let kept: Vec<Checkpoint> = checkpoints
            .iter()
            .filter(|checkpoint| checkpoint.seq <= last_seq)
            .cloned()
            .collect();
        if kept.len() != checkpoints.len() {
            write_archive_checkpoints(&dir, &kept)?;
        }
    }
    Ok(removed)
}

/// The first seq of an archive file's name (`part-<first>-<last>.parquet`).
fn first_seq_of(name: &str) -> Option<u64> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    rest.split_once('-')?.0.parse().ok()
}

/// A node archive's checkpoints that decode (damaged entries are the verifier's to report).
pub(crate) fn node_checkpoints(dir: &Path) -> Result<Vec<Checkpoint>, Error> {
    Ok(read_archive_checkpoints(dir)?
        .entries
        .into_iter()
        .filter_map(|(_, entry)| entry.ok())
        .collect())
}

/// Hashes as lowercase hex in the marker.
mod hex_hash {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(hash: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        let text: String = hash.iter().map(|byte| format!("{byte:02x}")).collect();
        serializer.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return Err(D::Error::custom("a hash is 64 hex digits"));
        }
        let mut hash = [0u8; 32];
        for (index, pair) in bytes.chunks_exact(2).enumerate() {
            let pair = std::str::from_utf8(pair).map_err(D::Error::custom)?;
            hash[index] = u8::from_str_radix(pair, 16).map_err(D::Error::custom)?;
        }
        Ok(hash)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_round_trips_and_refuses_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_marker(dir.path()).unwrap(), None);
        let mut marker = ExportMarker::empty("haechi_audit");
        marker.through = 42;
        marker.nodes.insert(
            "api-1".into(),
            NodeHead {
                last_seq: 7,
                last_hash: [0xab; 32],
            },
        );
        write_marker(dir.path(), &marker).unwrap();
        assert_eq!(read_marker(dir.path()).unwrap(), Some(marker));
        std::fs::write(dir.path().join(EXPORT_MARKER), b"{\"format\":1").unwrap();
        let error = read_marker(dir.path()).unwrap_err().to_string();
        assert!(error.contains("damaged"), "{error}");
    }

    #[test]
    fn file_names_give_their_first_seq() {
        assert_eq!(
            first_seq_of("part-000000000012-000000000020.parquet"),
            Some(12)
        );
        assert_eq!(first_seq_of("_checkpoints"), None);
        assert_eq!(first_seq_of(".part-1-2.parquet.tmp"), None);
    }
}
