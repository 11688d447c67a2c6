//! Chunks of text scanned on other threads, put back in input order.

use std::collections::BTreeMap;
use std::sync::mpsc::Receiver;

use haechi_leak::Finding;

use super::output::ScanOutput;
use crate::Error;

/// Lines gathered into one text to scan, with where each line starts.
#[derive(Default)]
pub(super) struct ScanChunk {
    pub(super) text: String,
    /// (byte offset in `text`, line number).
    pub(super) starts: Vec<(usize, u64)>,
}

impl ScanChunk {
    pub(super) fn push(&mut self, line: u64, text: &str) {
        self.starts.push((self.text.len(), line));
        self.text.push_str(text);
        self.text.push('\n');
    }
}

/// A chunk's place in the input, the chunk, and what was found in it.
pub(super) type Scanned = (u64, ScanChunk, Vec<Finding>);

/// Whether [`InOrder::write_ready`] waits for every chunk submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Wait {
    /// Write what is ready and return.
    No,
    /// Wait until every submitted chunk is written.
    UntilDone,
}

/// Scanned chunks that arrive out of order, held until their turn.
#[derive(Default)]
pub(super) struct InOrder {
    pub(super) submitted: u64,
    written: u64,
    waiting: BTreeMap<u64, (ScanChunk, Vec<Finding>)>,
}

impl InOrder {
    /// Writes every chunk whose turn has come; with [`Wait::UntilDone`], waits for all
    /// submitted.
    pub(super) fn write_ready<W: std::io::Write>(
        &mut self,
        results: &Receiver<Scanned>,
        output: &mut ScanOutput<W>,
        wait: Wait,
    ) -> Result<(), Error> {
        loop {
            while let Some((chunk, findings)) = self.waiting.remove(&self.written) {
                output.write_chunk(&chunk, &findings)?;
                self.written += 1;
            }
            if self.written == self.submitted {
                return Ok(());
            }
            let next = match wait {
                Wait::UntilDone => results.recv().map_err(|_| Error::ScannerStopped)?,
                Wait::No => match results.try_recv() {
                    Ok(next) => next,
                    Err(_) => return Ok(()),
                },
            };
            self.waiting.insert(next.0, (next.1, next.2));
        }
    }
}
