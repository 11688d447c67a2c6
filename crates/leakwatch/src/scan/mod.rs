//! `leak scan`: free text scanned for Korean personal data in chunks on every core, the
//! findings printed in input order.

mod messages;
mod order;
mod output;

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};

use haechi_leak::Scanner;
use haechi_leak::dump::{LineProblem, ProblemKind, TextEncoding};

use crate::input::{LINE_CAP, choose_encoding, decode};

use crate::lines::LineRead;
use crate::{Error, Input, Progress};
pub use messages::{SmishingSummary, scan_messages};
use order::{InOrder, ScanChunk, Scanned, Wait};
use output::ScanOutput;

/// Bytes of text scanned at once (cut at a line end).
const SCAN_CHUNK_BYTES: usize = 1024 * 1024;
/// Problems printed one by one; the rest are counted in the summary.
const MAX_PRINTED_PROBLEMS: u64 = 50;

/// How a finding's text is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shown {
    /// Masked (`010-****-6789`).
    Masked,
    /// As found (`--reveal`).
    Revealed,
}

/// How findings are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindingFormat {
    /// `FILE:LINE:COLUMN: kind confidence text (reasons)`.
    Text,
    /// One JSON object per finding.
    Json,
}

/// What the operator asked of a scan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanSettings {
    /// How findings' texts are printed.
    pub shown: Shown,
    /// How findings are printed.
    pub format: FindingFormat,
    /// Findings below this confidence (clamped to 0–1) are not reported; `None` for the
    /// scanner's default.
    pub min_confidence: Option<f32>,
}

/// What a scan found; its `Display` is the closing line for the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanSummary {
    name: String,
    /// Findings printed.
    pub findings: u64,
    lines: u64,
    problems: u64,
    by_kind: BTreeMap<&'static str, u64>,
}

impl fmt::Display for ScanSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kinds = crate::words::join(
            self.by_kind
                .iter()
                .map(|(kind, count)| format!("{kind} {count}")),
            ", ",
        );
        write!(
            f,
            "{}: {} findings in {} lines",
            self.name, self.findings, self.lines
        )?;
        if !kinds.is_empty() {
            write!(f, " ({kinds})")?;
        }
        if self.problems > 0 {
            write!(f, "; {} lines not read (see above)", self.problems)?;
        }
        Ok(())
    }
}

/// Scans `input` and prints its findings to `stdout`, in input order.
///
/// # Errors
/// [`Error::Read`], [`Error::Utf16`] or [`Error::NotText`] for the input, a failed write,
/// or [`Error::ScannerStopped`].
pub fn scan_text<W: Write>(
    mut input: Input,
    settings: ScanSettings,
    progress: &dyn Progress,
    stdout: W,
) -> Result<ScanSummary, Error> {
    let sample = input.read_sample()?;
    let encoding = choose_encoding(&input.name, &sample, None)?;
    let mut scanner = Scanner::default();
    if let Some(minimum) = settings.min_confidence {
        scanner = scanner.with_minimum_confidence(minimum.clamp(0.0, 1.0));
    }
    progress.reading_started(input.size);
    let mut output = ScanOutput {
        name: input.name.clone(),
        shown: settings.shown,
        format: settings.format,
        stdout,
        findings: 0,
        by_kind: BTreeMap::new(),
    };
    let mut feeder = Feeder {
        name: input.name.clone(),
        encoding,
        progress,
        lines: 0,
        problems: 0,
    };
    scan_in_parallel(&mut input, sample, &scanner, &mut feeder, &mut output)?;
    progress.reading_finished();
    output.stdout.flush()?;
    Ok(ScanSummary {
        name: input.name,
        findings: output.findings,
        lines: feeder.lines,
        problems: feeder.problems,
        by_kind: output.by_kind,
    })
}

/// Chunks are scanned on every core and written in input order.
fn scan_in_parallel<W: Write>(
    input: &mut Input,
    sample: Vec<(LineRead, Vec<u8>)>,
    scanner: &Scanner,
    feeder: &mut Feeder<'_>,
    output: &mut ScanOutput<W>,
) -> Result<(), Error> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
    let (jobs, job_queue) = sync_channel::<(u64, ScanChunk)>(workers * 2);
    let job_queue = Mutex::new(job_queue);
    let (done, results) = channel::<Scanned>();
    std::thread::scope(|scope| -> Result<(), Error> {
        for _ in 0..workers {
            let (job_queue, done) = (&job_queue, done.clone());
            scope.spawn(move || scan_jobs(scanner, job_queue, &done));
        }
        drop(done);
        let mut queue = Queue {
            jobs,
            results,
            ordered: InOrder::default(),
        };
        let mut chunk = ScanChunk::default();
        for (read, bytes) in sample {
            feeder.line(read, &bytes, &mut chunk);
            if chunk.text.len() >= SCAN_CHUNK_BYTES {
                queue.submit(&mut chunk, output)?;
            }
        }
        let mut buffer = Vec::new();
        while let Some(read) = input
            .lines
            .next_line(&mut buffer)
            .map_err(|source| Error::Read {
                name: input.name.clone(),
                source,
            })?
        {
            feeder.line(read, &buffer, &mut chunk);
            if chunk.text.len() >= SCAN_CHUNK_BYTES {
                queue.submit(&mut chunk, output)?;
            }
        }
        queue.submit(&mut chunk, output)?;
        let Queue {
            jobs,
            results,
            mut ordered,
        } = queue;
        drop(jobs);
        ordered.write_ready(&results, output, Wait::UntilDone)
    })
}

/// A scanning thread: scans chunks until the queue closes.
fn scan_jobs(
    scanner: &Scanner,
    job_queue: &Mutex<Receiver<(u64, ScanChunk)>>,
    done: &std::sync::mpsc::Sender<Scanned>,
) {
    loop {
        let job = match job_queue.lock() {
            Ok(queue) => queue.recv(),
            Err(_) => return,
        };
        let Ok((sequence, chunk)) = job else {
            return;
        };
        let findings = scanner.scan(&chunk.text);
        if done.send((sequence, chunk, findings)).is_err() {
            return;
        }
    }
}

/// The chunks handed to the scanning threads and the ones coming back.
struct Queue {
    jobs: SyncSender<(u64, ScanChunk)>,
    results: Receiver<Scanned>,
    ordered: InOrder,
}

impl Queue {
    /// Hands `chunk` to the threads, then writes whatever chunks are ready.
    fn submit<W: Write>(
        &mut self,
        chunk: &mut ScanChunk,
        output: &mut ScanOutput<W>,
    ) -> Result<(), Error> {
        self.jobs
            .send((self.ordered.submitted, std::mem::take(chunk)))
            .map_err(|_| Error::ScannerStopped)?;
        self.ordered.submitted += 1;
        self.ordered.write_ready(&self.results, output, Wait::No)
    }
}

/// Adds lines to the chunk being gathered; reports lines that cannot be read.
struct Feeder<'p> {
    name: String,
    encoding: TextEncoding,
    progress: &'p dyn Progress,
    lines: u64,
    problems: u64,
}

impl Feeder<'_> {
    fn line(&mut self, read: LineRead, bytes: &[u8], chunk: &mut ScanChunk) {
        self.lines += 1;
        self.progress.advanced(read.consumed);
        if read.truncated {
            self.report(
                read,
                ProblemKind::TooLong {
                    cap: LINE_CAP,
                    scanned: true,
                },
            );
        }
        match decode(bytes, read, self.encoding) {
            Ok((text, _)) => chunk.push(read.number, &text),
            Err(kind) => self.report(read, kind),
        }
    }

    fn report(&mut self, read: LineRead, kind: ProblemKind) {
        self.problems += 1;
        if self.problems <= MAX_PRINTED_PROBLEMS {
            let problem = LineProblem {
                line: read.number,
                last_line: read.number,
                kind,
            };
            self.progress.note(&format!("{}: {problem}", self.name));
        }
    }
}
