//! `leak match`: a dump matched against the vault, in stages joined by bounded channels.
//!
//! 1. [`reader`]: one thread decodes and parses lines in order into chunks of rows.
//! 2. [`normalise`]: each chunk's rows become the vault's probes …
//! 3. [`confirm`]: … in a task that asks the vault to confirm them, a few in flight at once,
//!    on every core.
//! 4. [`fold`]: confirmations become matches per customer and exposed identifiers.
//! 5. [`record`]: one `leak.matched` event per customer, and the exposures.
//! 6. [`summary`] and [`OutFile`]: what the operator reads.

mod confirm;
mod fold;
mod index;
mod normalise;
mod reader;
mod record;
mod summary;

use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use haechi_events::EventSink;
use haechi_leak::dump::{DumpOptions, DumpPlan, TextEncoding, decode_line};
use haechi_leak::exposure::ExposureStore;
use haechi_token::AdminGrant;
use haechi_vault::Vault;

pub use index::IndexChoice;

use crate::input::choose_encoding;
use crate::lines::LineRead;
use crate::{Error, Input, OutFile, Progress};
use confirm::Matcher;
use fold::Fold;
use reader::{Chunk, read_dump};
use summary::{Summary, Times, Totals};

/// Problems printed one by one; the rest are counted in the summary.
const MAX_PRINTED_PROBLEMS: u64 = 50;
/// Chunks waiting between the reader thread and the matching tasks.
const CHUNKS_QUEUED: usize = 8;

/// A dump whose encoding and plan are decided, ready to be matched.
#[derive(Debug)]
pub struct PreparedDump {
    input: Input,
    sample: Vec<(LineRead, Vec<u8>)>,
    encoding: TextEncoding,
    plan: DumpPlan,
    started: Instant,
}

impl PreparedDump {
    /// Reads the first lines of `input` and decides its encoding (`encoding`, or detected)
    /// and how to read it (`options`, or sniffed).
    ///
    /// # Errors
    /// [`Error::Read`], [`Error::Utf16`], [`Error::NotText`], or [`Error::Plan`] when the
    /// dump has no column to match or `--columns` is wrong.
    pub fn new(
        mut input: Input,
        options: &DumpOptions,
        encoding: Option<TextEncoding>,
    ) -> Result<Self, Error> {
        let started = Instant::now();
        let sample = input.read_sample()?;
        let encoding = choose_encoding(&input.name, &sample, encoding)?;
        let decoded: Vec<String> = sample
            .iter()
            .filter(|(read, _)| !read.truncated)
            .filter_map(|(_, bytes)| decode_line(bytes, encoding).ok())
            .map(|(text, _)| text.into_owned())
            .collect();
        let sample_text: Vec<&str> = decoded.iter().map(String::as_str).collect();
        let plan = DumpPlan::from_sample(&sample_text, options).map_err(|reason| Error::Plan {
            name: input.name.clone(),
            reason,
        })?;
        Ok(Self {
            input,
            sample,
            encoding,
            plan,
            started,
        })
    }

    /// How the dump will be read, for the operator: its format and encoding, then a line per
    /// column with a role.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "{}: {}, encoding {}",
            self.input.name,
            self.plan.format,
            self.encoding.label()
        )];
        lines.extend(
            self.plan
                .describe_columns()
                .into_iter()
                .map(|column| format!("  {column}")),
        );
        lines
    }

    /// About how many rows the dump has, from its size and the sample's.
    fn estimated_rows(&self) -> Option<u64> {
        let size = self.input.size;
        let sampled_bytes: u64 = self.sample.iter().map(|(read, _)| read.consumed).sum();
        (size > 0 && sampled_bytes > 0)
            .then(|| size.saturating_mul(self.sample.len() as u64) / sampled_bytes)
    }
}

/// What the operator asked of the run.
#[derive(Debug, Clone)]
pub struct MatchSettings {
    /// Rows handed to the vault at once (clamped to 1–100,000).
    pub batch: usize,
    /// How candidates are found.
    pub index: IndexChoice,
    /// Where to write the matched customers, if anywhere.
    pub out: Option<OutFile>,
}

/// Haechi's parts the run uses.
#[derive(Clone, Copy)]
pub struct MatchServices<'a> {
    /// The vault that confirms rows.
    pub vault: &'a Arc<Vault>,
    /// Where `leak.matched` events go.
    pub events: &'a dyn EventSink,
    /// Where exposed identifiers are counted.
    pub exposures: &'a dyn ExposureStore,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchOutcome {
    /// Customers the dump contains.
    pub customers: usize,
}

/// Matches `dump` against the vault under `grant`, records what it found, writes `--out`
/// and the summary to `stdout`.
///
/// # Errors
/// The first failure to read the dump, reach the vault, record an event or an exposure, or
/// write a report.
pub async fn match_dump<W: Write>(
    dump: PreparedDump,
    settings: MatchSettings,
    services: MatchServices<'_>,
    grant: AdminGrant,
    progress: &dyn Progress,
    stdout: &mut W,
) -> Result<MatchOutcome, Error> {
    let estimated_rows = dump.estimated_rows();
    let PreparedDump {
        input,
        sample,
        encoding,
        plan,
        started,
    } = dump;
    let (name, size) = (input.name.clone(), input.size);
    let source = Path::new(&name)
        .file_name()
        .map(|file| file.to_string_lossy().into_owned())
        .unwrap_or_else(|| name.clone());
    let batch = settings.batch.clamp(1, 100_000);
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<io::Result<Chunk>>(CHUNKS_QUEUED);
    let reader = std::thread::spawn(move || {
        read_dump(input, sample, encoding, plan, batch, &sender);
    });
    let grant = Arc::new(grant);
    let session = Arc::new(
        index::open_session(
            services.vault,
            &grant,
            settings.index,
            size,
            estimated_rows,
            progress,
        )
        .await?,
    );
    let opened = Instant::now();
    progress.reading_started(size);
    let mut totals = Totals::default();
    let mut fold = Fold::default();
    let mut matcher = Matcher::new(services.vault.clone(), session.clone(), Arc::clone(&grant));
    while let Some(chunk) = receiver.recv().await {
        let chunk = chunk.map_err(|source| Error::Read {
            name: name.clone(),
            source,
        })?;
        take_in(&chunk, &name, &mut totals, progress);
        if chunk.rows.is_empty() {
            continue;
        }
        matcher.submit(chunk.rows, &mut fold).await?;
        totals.rows = fold.rows;
        progress.status(format!("{} rows matched", totals.rows));
    }
    matcher.drain(&mut fold).await?;
    totals.rows = fold.rows;
    reader.join().map_err(|_| Error::ReaderPanicked)?;
    progress.reading_finished();
    let matched = Instant::now();

    let customers = fold.report.customers();
    let recorded = record::record(&services, &grant, &customers, fold.exposures, &source).await?;
    record::record_pass(
        &services,
        &grant,
        &source,
        totals.rows,
        &recorded,
        customers.len(),
    )
    .await?;
    if let Some(out) = &settings.out {
        out.write(&fold.report)?;
    }
    Summary {
        name: &name,
        encoding,
        totals: &totals,
        report: &fold.report,
        customers: &customers,
        session: &session,
        recorded: &recorded,
        times: &Times {
            started,
            opened,
            matched,
        },
        out: settings.out.as_ref(),
    }
    .write(stdout)?;
    Ok(MatchOutcome {
        customers: customers.len(),
    })
}

/// Counts a chunk's lines and bytes and reports its problems (the first ones one by one).
fn take_in(chunk: &Chunk, name: &str, totals: &mut Totals, progress: &dyn Progress) {
    progress.advanced(chunk.bytes);
    totals.lines += chunk.lines;
    totals.bytes += chunk.bytes;
    totals.other_encoding += chunk.other_encoding;
    for problem in &chunk.problems {
        totals.problems += 1;
        if totals.problems <= MAX_PRINTED_PROBLEMS {
            progress.note(&format!("{name}: {problem}"));
        } else if totals.problems == MAX_PRINTED_PROBLEMS + 1 {
            progress.note(&format!(
                "{name}: further problems are counted in the summary only"
            ));
        }
    }
}
