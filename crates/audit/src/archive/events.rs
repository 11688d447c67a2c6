//! Reading an archive to hunt over it (`haechi detect replay`): only the columns the caller's
//! rules read, only the row groups whose `time` statistics overlap the window asked, decoded
//! on threads of their own — a row group each — and handed to the caller in seq order.
//!
//! The caller gives spent events back ([`ArchiveEvents::recycle`]); a decoder fills them with
//! the next rows, reusing their strings, so a replay in its steady state allocates nothing per
//! record, and nothing allocated on one thread is freed on another.
//!
//! This reader checks no hashes: the chain is `haechi audit verify`'s work, and a hunt reads
//! what the archive holds. Columns not asked for keep the values of `SecurityEvent::new` in the
//! events it gives (`None`, an empty list or map, `allow`, status 200, an anonymous principal).

mod decoder;
mod fill;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;

use super::read::{list_archive_files, open_archive_file};
use super::schema::archive_schema;
use crate::Error;
use decoder::{Decoder, Message};
use haechi_events::{SecurityEvent, Timestamp};

/// The event columns a hunt reads (by the archive's column names: `kind`, `principal`, `ip`,
/// `detail` …) and the window of event time it covers. `seq`, `time` and `kind` are always
/// read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQuery {
    /// The columns to decode besides `seq`, `time` and `kind`.
    pub columns: BTreeSet<String>,
    /// Events at or after this time only.
    pub from: Option<Timestamp>,
    /// Events at or before this time only.
    pub to: Option<Timestamp>,
    /// How many threads decode row groups: by default every core but the caller's.
    pub decoders: usize,
}

impl Default for EventQuery {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        EventQuery {
            columns: BTreeSet::new(),
            from: None,
            to: None,
            decoders: cores.saturating_sub(1).max(1),
        }
    }
}

impl EventQuery {
    /// Whether an event at `time` (µs) lies in the window.
    pub fn covers(&self, time: i64) -> bool {
        self.from.is_none_or(|from| time >= from.as_micros())
            && self.to.is_none_or(|to| time <= to.as_micros())
    }

    /// Whether a row group whose times lie in `[min, max]` can hold an event of the window.
    fn overlaps(&self, min: i64, max: i64) -> bool {
        self.from.is_none_or(|from| max >= from.as_micros())
            && self.to.is_none_or(|to| min <= to.as_micros())
    }
}

/// What the reading skipped and read, for the caller's summary.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadCounters {
    /// Row groups skipped because their time statistics lie outside the window.
    pub row_groups_pruned: u64,
    /// Row groups read.
    pub row_groups_read: u64,
}

/// One row group to decode: the `index`-th job of the reading, in seq order.
#[derive(Debug, Clone)]
struct Job {
    path: PathBuf,
    row_group: usize,
}

/// Spent events on their way back to the decoders, a batch at a time.
type SparePool = Arc<Mutex<Vec<Vec<Box<SecurityEvent>>>>>;

/// How many spent batches the pool keeps: enough for every batch in flight.
const SPARE_BATCHES: usize = 64;

/// The events of an archive, in seq order, decoded ahead on threads of their own. Dropping it
/// stops the threads. Events come boxed: a few hundred bytes each, they would otherwise be
/// copied at every hand-over (a fifth of a replay's time when measured).
pub struct ArchiveEvents {
    /// One channel per decoder; job `j` comes from decoder `j % decoders`.
    decoders: Vec<Receiver<Message>>,
    jobs: usize,
    next_job: usize,
    current: std::vec::IntoIter<(u64, Box<SecurityEvent>)>,
    spare: SparePool,
    #[allow(
        clippy::vec_box,
        reason = "the boxes are the point: they travel between threads and are refilled"
    )]
    returning: Vec<Box<SecurityEvent>>,
    counters: ReadCounters,
    ended: bool,
    decoded_events: Arc<AtomicU64>,
    /// How long the caller waited for a decoder: the reading's share of the wall time.
    waited: Duration,
}

impl std::fmt::Debug for ArchiveEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveEvents")
            .field("jobs", &self.jobs)
            .field("next_job", &self.next_job)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl ArchiveEvents {
    /// The row groups pruned and read.
    pub fn counters(&self) -> ReadCounters {
        self.counters
    }

    /// How long the caller has waited for decoded events so far.
    pub fn waited(&self) -> Duration {
        self.waited
    }

    /// How many events the decoders have produced so far (within the window).
    pub fn decoded(&self) -> u64 {
        self.decoded_events.load(Ordering::Relaxed)
    }

    /// Gives spent events back for the decoders to refill: the caller's part in keeping a
    /// replay free of per-record allocation. Events not given back are simply dropped.
    pub fn recycle(&mut self, events: impl IntoIterator<Item = Box<SecurityEvent>>) {
        self.returning.extend(events);
        if self.returning.len() >= decoder::BATCH_ROWS {
            let batch =
                std::mem::replace(&mut self.returning, Vec::with_capacity(decoder::BATCH_ROWS));
            if let Ok(mut pool) = self.spare.lock()
                && pool.len() < SPARE_BATCHES
            {
                pool.push(batch);
            }
        }
    }

    fn next_batch(&mut self) -> Option<Result<(), Error>> {
        while self.next_job < self.jobs {
            let channel = &self.decoders[self.next_job % self.decoders.len()];
            let waiting = Instant::now();
            let message = channel.recv();
            self.waited += waiting.elapsed();
            match message {
                Ok(Message::Events(batch)) => {
                    self.current = batch.into_iter();
                    return Some(Ok(()));
                }
                Ok(Message::JobDone) => self.next_job += 1,
                Ok(Message::Failed(error)) => return Some(Err(error)),
                // A decoder that stopped without a word panicked: report it, never hang.
                Err(_) => {
                    return Some(Err(Error::archive(
                        Path::new("."),
                        "a decoding thread stopped unexpectedly",
                    )));
                }
            }
        }
        None
    }
}

impl Iterator for ArchiveEvents {
    type Item = Result<(u64, Box<SecurityEvent>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(event) = self.current.next() {
                return Some(Ok(event));
            }
            if self.ended {
                return None;
            }
            match self.next_batch() {
                Some(Ok(())) => {}
                Some(Err(error)) => {
                    self.ended = true;
                    return Some(Err(error));
                }
                None => {
                    self.ended = true;
                    return None;
                }
            }
        }
    }
}

/// Reads the events of the archive in `dir` that `query` asks for, in seq order.
pub fn read_archive_events(dir: &Path, query: &EventQuery) -> Result<ArchiveEvents, Error> {
    let schema = archive_schema();
    if let Some(unknown) = query.columns.iter().find(|name| {
        matches!(name.as_str(), "prev_hash" | "hash") || schema.field_with_name(name).is_err()
    }) {
        return Err(Error::archive(
            dir,
            format!("{unknown:?} is not an event column of the archive"),
        ));
    }
    let mut jobs = Vec::new();
    let mut counters = ReadCounters::default();
    for path in list_archive_files(dir)? {
        let builder = open_archive_file(&path)?;
        for (row_group, group) in builder.metadata().row_groups().iter().enumerate() {
            if time_range(group).is_none_or(|(min, max)| query.overlaps(min, max)) {
                counters.row_groups_read += 1;
                jobs.push(Job {
                    path: path.clone(),
                    row_group,
                });
            } else {
                counters.row_groups_pruned += 1;
            }
        }
    }
    let decoders = query.decoders.clamp(1, jobs.len().max(1));
    let spare: SparePool = Arc::new(Mutex::new(Vec::new()));
    let decoded_events = Arc::new(AtomicU64::new(0));
    let jobs = Arc::new(jobs);
    let mut channels = Vec::with_capacity(decoders);
    for first in 0..decoders {
        let (sender, receiver) = sync_channel(decoder::BATCHES_AHEAD);
        let decoder = Decoder {
            query: query.clone(),
            jobs: jobs.clone(),
            first,
            step: decoders,
            sender,
            spare: spare.clone(),
            decoded: decoded_events.clone(),
        };
        std::thread::Builder::new()
            .name(format!("archive-decode-{first}"))
            .spawn(move || decoder.run())
            .map_err(|error| {
                Error::archive(dir, format!("cannot start a decoding thread: {error}"))
            })?;
        channels.push(receiver);
    }
    Ok(ArchiveEvents {
        decoders: channels,
        jobs: jobs.len(),
        next_job: 0,
        current: Vec::new().into_iter(),
        spare,
        returning: Vec::with_capacity(decoder::BATCH_ROWS),
        counters,
        ended: false,
        decoded_events,
        waited: Duration::ZERO,
    })
}

/// The smallest and largest event time of a row group, from its statistics.
fn time_range(group: &RowGroupMetaData) -> Option<(i64, i64)> {
    let time = group
        .columns()
        .iter()
        .find(|column| column.column_path().string() == "time")?;
    match time.statistics()? {
        Statistics::Int64(statistics) => Some((*statistics.min_opt()?, *statistics.max_opt()?)),
        _ => None,
    }
}
