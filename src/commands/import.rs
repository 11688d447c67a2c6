//! `haechi customers import FILE.jsonl` and `haechi customers generate`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write as _};
use std::path::Path;

use anyhow::Context as _;
use haechi_korean::CustomerGenerator;
use haechi_token::AdminGrant;
use haechi_vault::{BulkImport, CustomerInput, ImportOutcome, SealedBatch};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Outcome;
use crate::commands::block_on;
use crate::config::Config;
use crate::runtime::Runtime;

/// Longest line accepted; longer lines are rejected without being parsed.
const MAX_LINE_BYTES: usize = 64 * 1024;

/// What standard input is called in the import's progress record; never resumed from.
const STANDARD_INPUT: &str = "(standard input)";

pub fn run(
    file: &Path,
    batch: usize,
    ids_out: Option<&Path>,
    config: &Config,
) -> anyhow::Result<Outcome> {
    let batch = batch.clamp(1, 100_000);
    let from_stdin = file == Path::new("-");
    let (reader, total_bytes, source): (Box<dyn BufRead + Send>, u64, String) = if from_stdin {
        (
            Box::new(BufReader::new(std::io::stdin())),
            0,
            STANDARD_INPUT.to_string(),
        )
    } else {
        let handle = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
        let total_bytes = handle.metadata().map(|m| m.len()).unwrap_or(0);
        let source = std::fs::canonicalize(file)
            .unwrap_or_else(|_| file.to_path_buf())
            .display()
            .to_string();
        (Box::new(BufReader::new(handle)), total_bytes, source)
    };
    block_on(async {
        let runtime = Runtime::open(config).await?;
        let vault = &runtime.vault;
        let resume_after = if from_stdin {
            0
        } else {
            vault
                .bulk_import()
                .import_progress(&source)
                .await?
                .unwrap_or(0)
        };
        if resume_after > 0 {
            eprintln!("resuming {source} after line {resume_after}");
        }
        let mut tally = Tally {
            ids: ids_out
                .map(|path| open_ids_out(path, resume_after > 0))
                .transpose()?,
            ..Tally::default()
        };
        let progress = if from_stdin {
            ProgressBar::no_length()
        } else {
            ProgressBar::new(total_bytes)
        }
        .with_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {wide_bar} {per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let grant = runtime.authority.operator_grant()?;
        let bulk = vault.bulk_import();
        let mut reader = reader;
        let mut line_number = 0u64;
        let mut pending = Vec::with_capacity(batch);
        let mut skipped = 0u64;
        // The batch sealed last, waiting for the store: it is written while the next one is
        // sealed, so the cores seal while SQLite or PostgreSQL writes.
        let mut sealed: Option<SealedBatch> = None;
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            let read = reader.read_until(b'\n', &mut buffer)?;
            if read == 0 {
                break;
            }
            line_number += 1;
            progress.inc(read as u64);
            if line_number <= resume_after {
                skipped += 1;
                continue;
            }
            pending.push((line_number, std::mem::take(&mut buffer)));
            if pending.len() >= batch {
                let lines = std::mem::replace(&mut pending, Vec::with_capacity(batch));
                let previous = sealed.take();
                sealed = Some(
                    seal_while_storing(
                        bulk, &source, &grant, previous, lines, &mut tally, &progress,
                    )
                    .await?,
                );
            }
        }
        if !pending.is_empty() {
            let previous = sealed.take();
            sealed = Some(
                seal_while_storing(
                    bulk, &source, &grant, previous, pending, &mut tally, &progress,
                )
                .await?,
            );
        }
        if let Some(last) = sealed {
            tally.add(&bulk.store_batch(&source, last, &grant).await?, &progress)?;
        }
        progress.finish_and_clear();
        runtime.close().await?;
        println!(
            "imported {}, rejected {}, skipped {skipped} (already imported) from {source}",
            tally.imported, tally.rejected
        );
        Ok(Outcome::Clean)
    })?
}

/// Parses one line; `None` for blank lines. Errors name the problem, never the content.
fn parse_line(bytes: &[u8]) -> Option<Result<CustomerInput, String>> {
    if bytes.len() > MAX_LINE_BYTES {
        return Some(Err(format!("line longer than {MAX_LINE_BYTES} bytes")));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some(Err("not valid UTF-8".into()));
    };
    if text.trim().is_empty() {
        return None;
    }
    Some(
        serde_json::from_str::<CustomerInput>(text).map_err(|error| {
            // serde's messages name fields and types, not values.
            format!("not a customer record: {error}")
        }),
    )
}

/// Parses and seals `lines` while the store writes `previous`, the batch sealed before (if
/// any), and counts what it stored.
async fn seal_while_storing(
    bulk: &BulkImport,
    source: &str,
    grant: &AdminGrant,
    previous: Option<SealedBatch>,
    lines: Vec<(u64, Vec<u8>)>,
    tally: &mut Tally,
    progress: &ProgressBar,
) -> anyhow::Result<SealedBatch> {
    let sealing = async { anyhow::Ok(bulk.seal_batch(parse_lines(lines).await?).await?) };
    let Some(previous) = previous else {
        return sealing.await;
    };
    let (stored, sealed) = tokio::join!(bulk.store_batch(source, previous, grant), sealing);
    tally.add(&stored?, progress)?;
    sealed
}

/// Parses raw lines on every core (blank lines dropped), in order.
async fn parse_lines(
    lines: Vec<(u64, Vec<u8>)>,
) -> anyhow::Result<Vec<(u64, Result<CustomerInput, String>)>> {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    let share = lines.len().div_ceil(cores).max(1);
    let mut lines = lines.into_iter();
    let mut workers = Vec::with_capacity(cores);
    loop {
        let chunk: Vec<_> = lines.by_ref().take(share).collect();
        if chunk.is_empty() {
            break;
        }
        workers.push(tokio::task::spawn_blocking(move || {
            chunk
                .into_iter()
                .filter_map(|(line, bytes)| parse_line(&bytes).map(|parsed| (line, parsed)))
                .collect::<Vec<_>>()
        }));
    }
    let mut parsed = Vec::new();
    for worker in workers {
        parsed.extend(worker.await.context("a parsing worker stopped")?);
    }
    Ok(parsed)
}

/// Opens the `--ids-out` file: appended to when the import resumes, so it lists every
/// customer of the source once.
fn open_ids_out(path: &Path, resuming: bool) -> anyhow::Result<BufWriter<File>> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resuming)
        .truncate(!resuming)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    Ok(BufWriter::new(file))
}

/// Customers imported and lines rejected so far, and where their ids go.
#[derive(Debug, Default)]
struct Tally {
    imported: u64,
    rejected: u64,
    ids: Option<BufWriter<File>>,
}

impl Tally {
    /// Counts a stored batch, reports its rejected lines and writes its customers' ids.
    fn add(&mut self, outcome: &ImportOutcome, progress: &ProgressBar) -> anyhow::Result<()> {
        self.imported += outcome.imported.len() as u64;
        self.rejected += outcome.rejected.len() as u64;
        for (line, reason) in &outcome.rejected {
            progress.suspend(|| eprintln!("line {line}: rejected: {reason}"));
        }
        if let Some(ids) = self.ids.as_mut() {
            for (line, id) in &outcome.imported {
                writeln!(ids, "{line}\t{id}")
                    .context("cannot write the imported customers' ids")?;
            }
            // Flushed with every batch: an import stopped and resumed later appends after
            // the last committed batch, so the file must already hold every id before it.
            ids.flush()
                .context("cannot write the imported customers' ids")?;
        }
        progress.set_message(format!(
            "{} imported, {} rejected",
            self.imported, self.rejected
        ));
        Ok(())
    }
}

pub fn generate(count: u64, seed: u64, out: Option<&Path>) -> anyhow::Result<Outcome> {
    let generator = CustomerGenerator::new(seed);
    let mut writer: Box<dyn std::io::Write> = match out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    for index in 0..count {
        serde_json::to_writer(&mut writer, &generator.customer(index))?;
        writer.write_all(b"\n")?;
    }
    writer.flush()?;
    Ok(Outcome::Clean)
}
