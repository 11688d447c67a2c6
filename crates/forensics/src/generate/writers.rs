//! The writer threads: files are encoded and written on the other cores while the generator
//! produces and chains records on its own.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use haechi_audit::{AuditRecord, ExportOptions};

use crate::Error;

/// A file's worth of records, on its way to a writer thread.
pub(super) type Batch = Vec<AuditRecord>;

/// The producer's end of the writers' queue.
pub(super) struct Handoff<'a> {
    sender: SyncSender<Batch>,
    failure: &'a Mutex<Option<Error>>,
}

impl Handoff<'_> {
    /// Queues a file for the writers (waiting while two are queued already).
    pub(super) fn send(&self, batch: Batch) -> Result<(), Error> {
        if self.sender.send(batch).is_err() {
            return Err(failure_or(self.failure));
        }
        Ok(())
    }

    /// The first writer's failure, if one failed: the producer stops there.
    pub(super) fn check(&self) -> Result<(), Error> {
        if self
            .failure
            .lock()
            .map(|failure| failure.is_some())
            .unwrap_or(true)
        {
            return Err(failure_or(self.failure));
        }
        Ok(())
    }
}

/// Runs `produce` on this thread while writer threads write every file it hands off as an
/// archive file under `dir`. Returns each file written with its size, or the first failure
/// (of the producer or of a writer).
pub(super) fn write_in_parallel(
    dir: &Path,
    export: ExportOptions,
    produce: impl FnOnce(Handoff<'_>) -> Result<(), Error>,
) -> Result<Vec<(PathBuf, u64)>, Error> {
    let (sender, receiver): (SyncSender<Batch>, Receiver<Batch>) = sync_channel(2);
    let receiver = Arc::new(Mutex::new(receiver));
    let writers = crate::parallel::threads().max(2);
    // Only the writers hold the receiver: if they all stop, sending fails instead of blocking.
    let receivers: Vec<_> = (0..writers).map(|_| Arc::clone(&receiver)).collect();
    drop(receiver);
    let written: Arc<Mutex<Vec<(PathBuf, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    let produced = std::thread::scope(|scope| -> Result<(), Error> {
        for receiver in receivers {
            let written = Arc::clone(&written);
            let failure = &failure;
            scope.spawn(move || write_files(dir, &export, &receiver, &written, failure));
        }
        // The handoff (and with it the sender) is dropped when `produce` returns, so the
        // writers drain the queue and stop.
        produce(Handoff {
            sender,
            failure: &failure,
        })
    });
    produced?;
    if let Ok(mut failure) = failure.lock()
        && let Some(error) = failure.take()
    {
        return Err(error);
    }
    Ok(written
        .lock()
        .map(|written| written.clone())
        .unwrap_or_default())
}

/// One writer thread: writes files from the queue until it is closed or a write fails.
fn write_files(
    dir: &Path,
    export: &ExportOptions,
    receiver: &Mutex<Receiver<Batch>>,
    written: &Mutex<Vec<(PathBuf, u64)>>,
    failure: &Mutex<Option<Error>>,
) {
    loop {
        let batch = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(batch) = batch else {
            return;
        };
        match haechi_audit::write_archive_file(dir, &batch, export) {
            Ok(path) => {
                let bytes = std::fs::metadata(&path).map_or(0, |meta| meta.len());
                if let Ok(mut written) = written.lock() {
                    written.push((path, bytes));
                }
            }
            Err(error) => {
                if let Ok(mut failure) = failure.lock() {
                    failure.get_or_insert(Error::Audit(error));
                }
                return;
            }
        }
    }
}

fn failure_or(failure: &Mutex<Option<Error>>) -> Error {
    failure
        .lock()
        .ok()
        .and_then(|mut failure| failure.take())
        .unwrap_or_else(|| Error::bad_input("generate", "an archive writer stopped"))
}
