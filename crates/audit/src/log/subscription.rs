//! Live subscribers: every record from a seq on, from disk and then live.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::shared::{Shared, Status};
use crate::reader::LogCursor;
use crate::{AuditRecord, Error};

/// A live view of the log from a seq on.
///
/// Records arrive in seq order with none missing. Catching up reads from disk; once caught up,
/// the subscription receives each batch right after it is durable through a bounded channel.
/// The writer never waits for a subscriber: when a subscriber's channel is full, the writer
/// drops it back to reading from disk, where it picks up exactly where it was. A restarted
/// subscriber resumes with [`AuditLog::subscribe`](super::AuditLog::subscribe) from [`Subscription::next_seq`].
#[derive(Debug)]
pub struct Subscription {
    shared: Arc<Shared>,
    next_seq: u64,
    buffer: VecDeque<AuditRecord>,
    cursor: Option<LogCursor>,
    live: Option<mpsc::Receiver<AuditRecord>>,
}

/// How many records one catch-up read takes from disk.
const CATCH_UP_CHUNK: usize = 4096;

impl Subscription {
    /// A subscription to the log behind `shared`, from `from_seq` (at least 1) on.
    pub(super) fn new(shared: Arc<Shared>, from_seq: u64) -> Self {
        Subscription {
            shared,
            next_seq: from_seq.max(1),
            buffer: VecDeque::new(),
            cursor: None,
            live: None,
        }
    }

    /// The next record, waiting for it if needed. `Ok(None)` once the log was shut down and
    /// every record has been delivered; an error if the log failed or the records asked for
    /// were pruned.
    pub async fn next(&mut self) -> Result<Option<AuditRecord>, Error> {
        loop {
            if let Some(record) = self.buffer.pop_front() {
                self.next_seq = record.seq + 1;
                return Ok(Some(record));
            }
            if let Some(live) = self.live.as_mut() {
                match live.recv().await {
                    Some(record) if record.seq < self.next_seq => continue,
                    Some(record) if record.seq == self.next_seq => {
                        self.next_seq += 1;
                        return Ok(Some(record));
                    }
                    // `None`: the writer let go of this subscriber because it fell behind (or
                    // the log stopped). A seq beyond the next one cannot happen, but if it
                    // did, disk is the answer too.
                    Some(_) | None => {
                        self.live = None;
                        continue;
                    }
                }
            }
            let durable = self.shared.live.lock().durable_seq;
            if self.next_seq <= durable {
                self.catch_up(durable).await?;
                continue;
            }
            // Caught up. Joining the live set happens under the writer's publish lock, so no
            // batch can slip between the last record read from disk and the first one sent.
            let mut live = self.shared.live.lock();
            if live.durable_seq >= self.next_seq {
                continue;
            }
            match &live.status {
                Status::Failed(reason) => {
                    return Err(Error::Failed {
                        reason: reason.clone(),
                    });
                }
                Status::Closed => return Ok(None),
                Status::Open => {}
            }
            let (sender, receiver) = mpsc::channel(self.shared.subscriber_buffer);
            live.subscribers.push(sender);
            drop(live);
            self.live = Some(receiver);
        }
    }

    /// The seq of the next record this subscription delivers: where a restarted subscriber
    /// resumes.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    async fn catch_up(&mut self, durable: u64) -> Result<(), Error> {
        let mut cursor = self
            .cursor
            .take()
            .unwrap_or_else(|| LogCursor::new(&self.shared.dir));
        let from = self.next_seq;
        let (cursor, read) = tokio::task::spawn_blocking(move || {
            let read = cursor.read(from, durable, CATCH_UP_CHUNK);
            (cursor, read)
        })
        .await
        .map_err(|error| Error::Task {
            reason: error.to_string(),
        })?;
        self.cursor = Some(cursor);
        let records = read?;
        if records.is_empty() {
            return Err(Error::CorruptSegment {
                path: self.shared.dir.clone(),
                offset: 0,
                reason: format!("seq {from} is durable but no segment holds it"),
            });
        }
        self.buffer.extend(records);
        Ok(())
    }
}
