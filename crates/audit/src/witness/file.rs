//! `file:///PATH`: an append-only file of signed checkpoints, one JSON object per line, each
//! appended and `fdatasync`ed before it counts as delivered.
//!
//! Put it where whoever administers the data directory cannot rewrite it: another mount owned
//! by another account, a network share with append-only rights, a `chattr +a` file. A file in
//! the data directory itself witnesses nothing and is refused by `haechi serve`.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::{CheckpointJson, Witness, WitnessedCheckpoints, checkpoint_json};
use crate::Error;
use crate::checkpoint::Checkpoint;

/// The `file://` witness.
#[derive(Debug, Clone)]
pub struct FileWitness {
    address: String,
    path: PathBuf,
}

impl FileWitness {
    /// The file the checkpoints are appended to.
    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

/// Opens `file:///ABSOLUTE/PATH`.
pub(super) fn open(address: &str) -> Result<Arc<dyn Witness>, Error> {
    let bad = |reason: &str| Error::Witness {
        witness: address.to_string(),
        reason: reason.to_string(),
    };
    let rest = address
        .split_once("://")
        .map(|(_, rest)| rest)
        .ok_or_else(|| bad("expected file:///ABSOLUTE/PATH"))?;
    // `file:///p` (empty host) or `file://localhost/p`; any other host is not this machine.
    let path = rest.strip_prefix("localhost").unwrap_or(rest);
    if !path.starts_with('/') {
        return Err(bad(
            "expected file:///ABSOLUTE/PATH (three slashes, an absolute path)",
        ));
    }
    if path.contains(['?', '#']) || path.ends_with('/') {
        return Err(bad(
            "the path must name a file, without ?query or #fragment",
        ));
    }
    Ok(Arc::new(FileWitness {
        address: address.to_string(),
        path: PathBuf::from(path),
    }))
}

#[async_trait]
impl Witness for FileWitness {
    fn address(&self) -> &str {
        &self.address
    }

    async fn deliver(&self, checkpoint: &Checkpoint) -> Result<(), String> {
        let mut line = serde_json::to_vec(&checkpoint_json(checkpoint))
            .map_err(|error| format!("cannot encode the checkpoint: {error}"))?;
        line.push(b'\n');
        // Opened per checkpoint (about once a second at most): a witness file rotated or
        // re-mounted underneath is picked up, and no handle is held on a share that went away.
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .map_err(|error| format!("cannot open {}: {error}", self.path.display()))?;
        file.write_all(&line)
            .and_then(|()| file.sync_data())
            .map_err(|error| format!("cannot append to {}: {error}", self.path.display()))
    }

    async fn read_back(&self) -> Result<WitnessedCheckpoints, Error> {
        let mut text = Vec::new();
        std::fs::File::open(&self.path)
            .and_then(|mut file| file.read_to_end(&mut text))
            .map_err(|error| Error::Witness {
                witness: self.address.clone(),
                reason: format!("cannot read {}: {error}", self.path.display()),
            })?;
        // A last line without its newline is an append torn by a crash: not yet delivered.
        let whole = text
            .iter()
            .rposition(|byte| *byte == b'\n')
            .map_or(0, |end| end + 1);
        let entries = text[..whole]
            .split(|byte| *byte == b'\n')
            .enumerate()
            .filter(|(_, line)| !line.is_empty())
            .map(|(index, line)| {
                let entry = serde_json::from_slice::<CheckpointJson>(line)
                    .map_err(|error| format!("not a witnessed checkpoint: {error}"))
                    .and_then(|json| json.to_checkpoint());
                (index + 1, entry)
            })
            .collect();
        Ok(WitnessedCheckpoints {
            address: self.address.clone(),
            entries,
        })
    }
}
