//! A decoding thread: the row groups it is given, in order, as batches of events.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;

use parquet::arrow::ProjectionMask;

use super::fill::{Columns, blank_event, fill};
use super::{EventQuery, Job, SparePool};
use crate::Error;
use crate::archive::read::open_archive_file;
use crate::archive::schema::archive_schema;
use haechi_events::SecurityEvent;

/// How many rows a batch holds: one channel message.
pub(super) const BATCH_ROWS: usize = 8192;
/// Decoded batches a decoder may have waiting for the caller.
pub(super) const BATCHES_AHEAD: usize = 4;

/// What a decoder tells the caller.
pub(super) enum Message {
    /// The next events of the current job, in seq order.
    Events(Vec<(u64, Box<SecurityEvent>)>),
    /// The current job has no more events.
    JobDone,
    /// The reading ends here.
    Failed(Error),
}

pub(super) struct Decoder {
    pub(super) query: EventQuery,
    pub(super) jobs: Arc<Vec<Job>>,
    /// This decoder's jobs are `first`, `first + step`, …
    pub(super) first: usize,
    pub(super) step: usize,
    pub(super) sender: SyncSender<Message>,
    pub(super) spare: SparePool,
    pub(super) decoded: Arc<AtomicU64>,
}

impl Decoder {
    pub(super) fn run(self) {
        let mut spares = Vec::new();
        for job in self.jobs.iter().skip(self.first).step_by(self.step) {
            let outcome = self.decode(job, &mut spares);
            let message = match outcome {
                Ok(true) => Message::JobDone,
                // The caller went away: nothing left to do.
                Ok(false) => return,
                Err(error) => Message::Failed(error),
            };
            let failed = matches!(message, Message::Failed(_));
            if self.sender.send(message).is_err() || failed {
                return;
            }
        }
    }

    /// Sends the job's events; `Ok(false)` when the caller is gone.
    #[allow(
        clippy::vec_box,
        reason = "the boxes are the point: they travel between threads and are refilled"
    )]
    fn decode(&self, job: &Job, spares: &mut Vec<Box<SecurityEvent>>) -> Result<bool, Error> {
        let path = job.path.as_path();
        let builder = open_archive_file(path)?;
        let mask = ProjectionMask::roots(builder.parquet_schema(), self.projected_roots());
        let mut reader = builder
            .with_projection(mask)
            .with_row_groups(vec![job.row_group])
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|error| Error::archive(path, error))?;
        loop {
            // As `ArchiveFileReader`: parquet panics on some corrupt pages; a corrupt file is
            // a problem to report, never a crash.
            let next = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.next()));
            let batch = match next {
                Ok(Some(Ok(batch))) => batch,
                Ok(Some(Err(error))) => return Err(Error::archive(path, error)),
                Ok(None) => return Ok(true),
                Err(_) => return Err(corrupt(path)),
            };
            let columns = Columns::of(&batch).map_err(|reason| Error::archive(path, reason))?;
            let mut events = Vec::with_capacity(batch.num_rows());
            for row in 0..batch.num_rows() {
                if !self.query.covers(columns.time(row)) {
                    continue;
                }
                if spares.is_empty()
                    && let Ok(mut pool) = self.spare.lock()
                    && let Some(batch) = pool.pop()
                {
                    *spares = batch;
                }
                let mut event = spares.pop().unwrap_or_else(|| Box::new(blank_event()));
                fill(&columns, row, &mut event).map_err(|reason| {
                    Error::archive(path, format!("row group {}: {reason}", job.row_group))
                })?;
                events.push((columns.seq(row), event));
            }
            self.decoded
                .fetch_add(events.len() as u64, Ordering::Relaxed);
            if self.sender.send(Message::Events(events)).is_err() {
                return Ok(false);
            }
        }
    }

    /// The archive's columns to read: `seq`, `time`, `kind` and those asked, the address as
    /// its binary form (no text to parse).
    fn projected_roots(&self) -> Vec<usize> {
        let schema = archive_schema();
        schema
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, field)| match field.name().as_str() {
                "seq" | "time" | "kind" => true,
                "ip" => false,
                "ip_bin" => self.query.columns.contains("ip"),
                name => self.query.columns.contains(name),
            })
            .map(|(index, _)| index)
            .collect()
    }
}

fn corrupt(path: &Path) -> Error {
    Error::archive(path, "corrupt Parquet data: the decoder failed")
}
