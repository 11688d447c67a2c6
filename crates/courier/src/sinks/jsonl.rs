//! A JSON-lines file: one line per notice, for a company that hands the file to a sending
//! system of its own. The file holds recipients in plaintext, so it is opt-in under a
//! `dangerous_` name (`[notice] dangerous_plaintext_file`), created readable by its owner
//! only. Lines are written as notices are handed over and the file is synced once per round
//! ([`Sink::settle`]), before any of them counts as sent.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde_json::json;
use zeroize::Zeroizing;

use super::{Outgoing, Refusal, Sink};
use crate::Error;

/// Appends notices to a file.
#[derive(Debug)]
pub struct JsonlSink {
    path: PathBuf,
    file: Arc<Mutex<std::fs::File>>,
}

impl JsonlSink {
    /// Opens (creating with mode 0600) `path` for appending.
    pub fn open(path: &Path) -> Result<JsonlSink, Error> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|error| Error::Sink(format!("notice file {}: {error}", path.display())))?;
        Ok(JsonlSink {
            path: path.to_path_buf(),
            file: Arc::new(Mutex::new(file)),
        })
    }
}

#[async_trait]
impl Sink for JsonlSink {
    fn name(&self) -> &'static str {
        "file"
    }

    async fn deliver(&self, message: &Outgoing) -> Result<(), Refusal> {
        let mut line = Zeroizing::new(
            serde_json::to_vec(&json!({
                "notice_id": message.notice_id.as_str(),
                "channel": message.channel.as_str(),
                "to": message.recipient.as_str(),
                "subject": message.subject,
                "text": message.text,
                "html": message.html,
                "code": message.code.to_string(),
            }))
            .map_err(|error| Refusal::Permanent(format!("cannot encode the notice: {error}")))?,
        );
        line.push(b'\n');
        let file = self.file.clone();
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            file.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write_all(&line)
        })
        .await
        .map_err(|error| Refusal::Retry(format!("the file writer stopped: {error}")))?
        .map_err(|error| Refusal::Retry(format!("cannot write {}: {error}", path.display())))
    }

    async fn settle(&self) -> Result<(), Refusal> {
        let (file, path) = (self.file.clone(), self.path.clone());
        tokio::task::spawn_blocking(move || {
            file.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sync_data()
        })
        .await
        .map_err(|error| Refusal::Retry(format!("the file writer stopped: {error}")))?
        .map_err(|error| Refusal::Retry(format!("cannot sync {}: {error}", path.display())))
    }
}
