//! `haechi leak match DUMP` and `haechi leak scan FILE|-`.
//!
//! Both stream their input through [`lines::BoundedLines`]: a line is held to at most
//! [`LINE_CAP`] bytes, longer ones are cut and reported. Nothing of the input is written
//! anywhere: reports name line numbers, customer ids and field names; `leak scan` prints
//! findings masked unless asked to reveal them.
//!
//! `leak match` runs as a pipeline: a reader thread decodes and parses the dump into rows (the
//! pure code of `haechi_leak::dump`: only what needs the lines in order), and the async side
//! hands batches of rows to tasks that normalise them and ask the vault
//! ([`haechi_vault::LeakPass::confirm_leaked`]), a few batches in flight at once on every core,
//! and collects the confirmations. Where the vault finds candidates is `--index`: lookups, a
//! snapshot of the blind index, or every record opened once (`auto_index` chooses).

mod lines;

use std::collections::{HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use haechi_events::{Clock as _, EventKind, SecurityEvent, SystemClock};
use haechi_leak::dump::{
    ColumnOverrides, DumpEvent, DumpFormat, DumpOptions, DumpParser, DumpPlan, DumpRow,
    EncodingGuess, LineProblem, ProblemKind, RequestedFormat, TextEncoding, decode_line,
    detect_encoding,
};
use haechi_leak::exposure::{Exposure, ExposureKind, ExposureStore as _};
use haechi_leak::matching::{FieldAgreement, MatchReport, RowMatch};
use haechi_leak::{Finding, Reason, Scanner, mask};
use haechi_vault::{Comparison, LeakConfirmation, LeakIndexSource, LeakProbe};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Outcome;
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::Runtime;
use lines::{BoundedLines, LineRead};

/// Longest line held in memory; longer lines are cut (free text) or skipped (CSV, JSON).
pub const LINE_CAP: usize = 1024 * 1024;
/// Lines sampled from the start of a dump to decide its encoding, format and columns.
const SAMPLE_LINES: usize = 200;
/// Bytes sampled at most.
const SAMPLE_BYTES: usize = 256 * 1024;
/// Problems printed one by one; the rest are counted in the summary.
const MAX_PRINTED_PROBLEMS: u64 = 50;
/// Batches of rows at the vault at once: enough to keep both the database and the CPU busy.
const PIPELINE_DEPTH: usize = 6;
/// `leak.matched` events handed to the audit log at once (one group commit).
const EVENT_BATCH: usize = 8_192;
/// Bytes of text scanned at once by `leak scan` (cut at a line end).
const SCAN_CHUNK_BYTES: usize = 1024 * 1024;

/// Leak watch.
#[derive(Debug, Subcommand)]
pub enum LeakAction {
    /// Find which customers a leaked dump contains: its e-mails and phones are matched against
    /// the vault's blind indexes and confirmed by decryption; names confirm. Prints customer
    /// ids, matched fields and a confidence; never the dump's values.
    Match(MatchArgs),
    /// Find Korean personal data in free text (pastes, chat logs, posts): RRNs, phones,
    /// e-mails, customs codes, cards, business numbers, passports, licences, addresses.
    Scan(ScanArgs),
}

/// `haechi leak match`.
#[derive(Debug, Args)]
pub struct MatchArgs {
    /// The dump (`-` for standard input).
    pub dump: PathBuf,
    /// Its format (default: sniffed from the first lines).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// CSV field delimiter: one character, or `tab` (default: sniffed).
    #[arg(long)]
    pub delimiter: Option<String>,
    /// Column roles, overriding the guess: `email=2,phone=5,name=1` (1-based numbers or
    /// header names).
    #[arg(long)]
    pub columns: Option<String>,
    /// The dump's encoding (default: detected; lines in the other one are still read).
    #[arg(long, value_enum)]
    pub encoding: Option<EncodingArg>,
    /// Also write the matched customers to this file: `.csv` or `.jsonl`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Exit with status 1 when any customer matched.
    #[arg(long)]
    pub fail_on_findings: bool,
    /// Rows handed to the vault at once.
    #[arg(long, default_value_t = 4096)]
    pub batch: usize,
    /// How candidates are found: `vault` opens every customer record once first (fastest
    /// when the dump has rows of the order of the customers), `snapshot` reads the whole
    /// blind index into memory first (large dumps), `lookups` asks the database for each
    /// batch (fast to start for small ones); `auto` picks by the dump's size and the vault's.
    #[arg(long, value_enum, default_value_t = IndexArg::Auto)]
    pub index: IndexArg,
}

/// `--index` of `leak match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum IndexArg {
    /// The whole vault for a dump of 100,000 rows or more with at least a row per 4
    /// customers, else a snapshot for dumps of at least 16 MiB, else lookups (always lookups
    /// for standard input).
    Auto,
    /// Decrypt every customer record once, in storage order, and match rows in memory
    /// (≈ 100 bytes per customer; no per-row database access).
    Vault,
    /// Read the whole blind index into memory once (16 bytes per entry).
    Snapshot,
    /// Look each batch's values up in the database.
    Lookups,
}

/// Dumps at least this large are matched over a snapshot of the blind index under `--index
/// auto` (unless the whole vault is cheaper). Reading the snapshot costs one pass over the
/// index (about a second per million customers here); lookups cost a database probe per
/// distinct value, several times a snapshot's search. From ~150,000 rows on, the snapshot wins
/// even against a vault of millions; below, a paste against a large vault would wait on the
/// pass for nothing.
const SNAPSHOT_FROM_BYTES: u64 = 16 * 1024 * 1024;

/// Under `--index auto`, the whole vault is opened once when the dump has at least one row
/// per this many customers: with truncated blind indexes most customers become candidates
/// of a dump that size anyway, and one pass in storage order costs less than chasing them
/// one by one (BENCHMARKS.md, "leak match over the whole vault").
const VAULT_PASS_CUSTOMERS_PER_ROW: u64 = 4;
/// ... and at least this many rows: below, either way takes seconds, and decrypting only
/// the candidates opens fewer records.
const VAULT_PASS_MIN_ROWS: u64 = 100_000;

/// What `--index auto` takes for a dump of `size` bytes (0: standard input) and about
/// `estimated_rows` rows against `customers` customers.
fn auto_index(size: u64, estimated_rows: Option<u64>, customers: u64) -> IndexArg {
    match estimated_rows {
        Some(rows)
            if rows >= VAULT_PASS_MIN_ROWS
                && rows.saturating_mul(VAULT_PASS_CUSTOMERS_PER_ROW) >= customers =>
        {
            IndexArg::Vault
        }
        _ if size >= SNAPSHOT_FROM_BYTES => IndexArg::Snapshot,
        _ => IndexArg::Lookups,
    }
}

/// `haechi leak scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The text file (`-` for standard input).
    pub file: PathBuf,
    /// Print what was found instead of its masked form.
    #[arg(long)]
    pub reveal: bool,
    /// Output: one line per finding, or JSON lines.
    #[arg(long, value_enum, default_value_t = ScanFormat::Text)]
    pub format: ScanFormat,
    /// Report findings at or above this confidence (0–1; default 0.5).
    #[arg(long)]
    pub min_confidence: Option<f32>,
    /// Exit with status 1 when anything was found.
    #[arg(long)]
    pub fail_on_findings: bool,
}

/// `--format` of `leak match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// Delimited text (any delimiter).
    Csv,
    /// JSON lines, or a JSON array of objects.
    Jsonl,
    /// Same as jsonl.
    Json,
    /// Free text: e-mails and phones found by the scanner.
    Text,
}

/// `--encoding` of `leak match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EncodingArg {
    /// UTF-8.
    #[value(name = "utf-8", alias = "utf8")]
    Utf8,
    /// CP949 / EUC-KR.
    #[value(alias = "euc-kr")]
    Cp949,
}

/// `--format` of `leak scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// `FILE:LINE:COLUMN: kind confidence text (reasons)`.
    Text,
    /// One JSON object per finding.
    Json,
}

/// Runs a `leak` subcommand.
pub fn run(action: LeakAction, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    match action {
        LeakAction::Match(args) => match_dump(args, config),
        LeakAction::Scan(args) => scan(args),
    }
}

// -------------------------------------------------------------------------------------------
// Input
// -------------------------------------------------------------------------------------------

/// An opened input: its lines, its size (0 when unknown) and the name reports use.
struct Input {
    lines: BoundedLines<Box<dyn BufRead + Send>>,
    size: u64,
    name: String,
}

fn open_input(path: &Path) -> anyhow::Result<Input> {
    if path == Path::new("-") {
        return Ok(Input {
            lines: BoundedLines::new(
                Box::new(BufReader::with_capacity(1 << 20, io::stdin())),
                LINE_CAP,
            ),
            size: 0,
            name: "stdin".into(),
        });
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    Ok(Input {
        lines: BoundedLines::new(Box::new(BufReader::with_capacity(1 << 20, file)), LINE_CAP),
        size,
        name: path.display().to_string(),
    })
}

/// The first lines of the input, kept to be parsed again after the plan is made.
fn read_sample(
    lines: &mut BoundedLines<Box<dyn BufRead + Send>>,
) -> io::Result<Vec<(LineRead, Vec<u8>)>> {
    let mut sample = Vec::new();
    let mut bytes = 0usize;
    while sample.len() < SAMPLE_LINES && bytes < SAMPLE_BYTES {
        let mut buffer = Vec::new();
        let Some(read) = lines.next_line(&mut buffer)? else {
            break;
        };
        bytes += buffer.len() + 1;
        sample.push((read, buffer));
    }
    Ok(sample)
}

/// The encoding to read the input in, from `--encoding` or the sample.
fn choose_encoding(
    name: &str,
    sample: &[(LineRead, Vec<u8>)],
    requested: Option<EncodingArg>,
) -> anyhow::Result<TextEncoding> {
    if let Some(requested) = requested {
        return Ok(match requested {
            EncodingArg::Utf8 => TextEncoding::Utf8,
            EncodingArg::Cp949 => TextEncoding::Cp949,
        });
    }
    let mut joined = Vec::new();
    for (_, bytes) in sample {
        joined.extend_from_slice(bytes);
        joined.push(b'\n');
    }
    match detect_encoding(&joined) {
        EncodingGuess::Text(encoding) => Ok(encoding),
        EncodingGuess::Utf16 => bail!(
            "{name} is UTF-16, which cannot be read line by line: convert it first \
             (iconv -f UTF-16 -t UTF-8)"
        ),
        EncodingGuess::Binary => bail!(
            "{name} does not look like text (its first {} lines hold NUL or control bytes, or \
             bytes that are neither UTF-8 nor CP949/EUC-KR); nothing was read. If it is \
             compressed, decompress it first; to read it anyway, name its encoding with \
             --encoding",
            sample.len()
        ),
    }
}

/// Decodes one line for a reader; a truncated line keeps its longest decodable start.
fn decode<'b>(
    bytes: &'b [u8],
    read: LineRead,
    encoding: TextEncoding,
) -> Result<(std::borrow::Cow<'b, str>, TextEncoding), ProblemKind> {
    let bytes = if read.truncated {
        // The cut may fall inside a character: drop up to 3 bytes until something decodes.
        let mut end = bytes.len();
        loop {
            if let Ok(decoded) = decode_line(&bytes[..end], encoding) {
                return Ok(decoded);
            }
            if end + 3 <= bytes.len() || end == 0 {
                break;
            }
            end -= 1;
        }
        bytes
    } else {
        bytes
    };
    decode_line(bytes, encoding).map_err(ProblemKind::Undecodable)
}

// -------------------------------------------------------------------------------------------
// leak match
// -------------------------------------------------------------------------------------------

/// What the reader thread hands over.
#[derive(Default)]
struct Chunk {
    rows: Vec<DumpRow>,
    problems: Vec<LineProblem>,
    lines: u64,
    bytes: u64,
    /// Lines read in the encoding other than the dump's.
    other_encoding: u64,
}

/// Totals of the run.
#[derive(Default)]
struct Totals {
    lines: u64,
    bytes: u64,
    rows: u64,
    problems: u64,
    other_encoding: u64,
}

fn match_dump(args: MatchArgs, config: &Config) -> anyhow::Result<Outcome> {
    let started = Instant::now();
    let out_format = match &args.out {
        None => None,
        Some(path) => Some(OutFormat::of(path)?),
    };
    let delimiter = match args.delimiter.as_deref() {
        None => None,
        Some("tab" | "\\t" | "\t") => Some('\t'),
        Some(text) => {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c != '"' && c != '\n' && c != '\r' => Some(c),
                _ => bail!("--delimiter must be one character (or `tab`), not a quote or newline"),
            }
        }
    };
    let options = DumpOptions {
        format: args.format.map(|format| match format {
            FormatArg::Csv => RequestedFormat::Csv,
            FormatArg::Json | FormatArg::Jsonl => RequestedFormat::Json,
            FormatArg::Text => RequestedFormat::Text,
        }),
        delimiter,
        columns: args
            .columns
            .as_deref()
            .map(ColumnOverrides::parse)
            .transpose()?,
    };
    let mut input = open_input(&args.dump)?;
    let sample =
        read_sample(&mut input.lines).with_context(|| format!("cannot read {}", input.name))?;
    let encoding = choose_encoding(&input.name, &sample, args.encoding)?;
    let decoded: Vec<String> = sample
        .iter()
        .filter(|(read, _)| !read.truncated)
        .filter_map(|(_, bytes)| decode_line(bytes, encoding).ok())
        .map(|(text, _)| text.into_owned())
        .collect();
    let sample_text: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let plan = DumpPlan::from_sample(&sample_text, &options)
        .map_err(|error| anyhow::anyhow!("{}: {error}", input.name))?;
    eprintln!(
        "{}: {}, encoding {}",
        input.name,
        plan.format,
        encoding.label()
    );
    for column in plan.describe_columns() {
        eprintln!("  {column}");
    }
    let source = Path::new(&input.name)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| input.name.clone());
    let batch = args.batch.clamp(1, 100_000);
    let name = input.name.clone();
    let size = input.size;
    let sampled_bytes: u64 = sample.iter().map(|(read, _)| read.consumed).sum();
    let estimated_rows = (size > 0 && sampled_bytes > 0)
        .then(|| size.saturating_mul(sample.len() as u64) / sampled_bytes);

    block_on(async move {
        let runtime = Runtime::open(config).await?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<io::Result<Chunk>>(8);
        let reader = std::thread::spawn(move || {
            read_dump(input.lines, sample, encoding, plan, batch, &sender);
        });
        let grant = Arc::new(runtime.authority.operator_grant()?);
        let (actor, context) = (grant.actor().clone(), grant.context().clone());
        let index = match args.index {
            IndexArg::Auto => {
                let customers = runtime
                    .vault
                    .customer_count_estimate()
                    .await
                    .context("cannot count the customers")?;
                auto_index(size, estimated_rows, customers)
            }
            asked => asked,
        };
        let session = Arc::new(match index {
            IndexArg::Vault => {
                let opening = progress_spinner("opening every customer record once");
                let session = runtime
                    .vault
                    .leak_pass()
                    .leak_session_over_vault(&grant, &|opened| {
                        opening.set_message(format!("{opened} customer records opened"));
                    })
                    .await
                    .context("cannot open the vault's records")?;
                opening.finish_and_clear();
                session
            }
            IndexArg::Snapshot => runtime
                .vault
                .leak_pass()
                .leak_session_over_snapshot(&grant)
                .await
                .context("cannot read the blind index")?,
            IndexArg::Lookups | IndexArg::Auto => runtime.vault.leak_pass().leak_session(&grant),
        });
        let opened_at = Instant::now();
        let progress = progress_bar(size);
        let mut in_flight = VecDeque::new();
        let mut totals = Totals::default();
        let mut report = MatchReport::new();
        let mut exposures: HashSet<Exposure> = HashSet::new();
        while let Some(chunk) = receiver.recv().await {
            let chunk = chunk.with_context(|| format!("cannot read {name}"))?;
            progress.inc(chunk.bytes);
            totals.lines += chunk.lines;
            totals.bytes += chunk.bytes;
            totals.other_encoding += chunk.other_encoding;
            for problem in &chunk.problems {
                totals.problems += 1;
                if totals.problems <= MAX_PRINTED_PROBLEMS {
                    progress.suspend(|| eprintln!("{name}: {problem}"));
                } else if totals.problems == MAX_PRINTED_PROBLEMS + 1 {
                    progress.suspend(|| {
                        eprintln!("{name}: further problems are counted in the summary only")
                    });
                }
            }
            if chunk.rows.is_empty() {
                continue;
            }
            let vault = runtime.vault.clone();
            let session = session.clone();
            let grant = Arc::clone(&grant);
            let rows = chunk.rows;
            in_flight.push_back(tokio::spawn(async move {
                // Normalising is most of the work of reading a dump: done here, on every core,
                // not in the reader thread.
                let (line_numbers, probes): (Vec<u64>, Vec<LeakProbe>) = rows
                    .iter()
                    .map(|row| (row.line, row.identifiers()))
                    .filter(|(_, identifiers)| identifiers.has_lookup_key())
                    .map(|(line, identifiers)| {
                        let probe = LeakProbe {
                            emails: identifiers.emails,
                            phones: identifiers.phones,
                            names: identifiers.names,
                        };
                        (line, probe)
                    })
                    .unzip();
                drop(rows);
                let confirmations = vault
                    .leak_pass()
                    .confirm_leaked(&session, &probes, &grant)
                    .await?;
                anyhow::Ok((line_numbers, probes, confirmations))
            }));
            while in_flight.len() >= PIPELINE_DEPTH {
                if let Some(task) = in_flight.pop_front() {
                    totals.rows += absorb(task.await??, &mut report, &mut exposures);
                }
            }
            progress.set_message(format!("{} rows matched", totals.rows));
        }
        for task in in_flight {
            totals.rows += absorb(task.await??, &mut report, &mut exposures);
        }
        reader
            .join()
            .map_err(|_| anyhow::anyhow!("the dump reader thread panicked"))?;
        progress.finish_and_clear();
        let matched_at = Instant::now();

        let customers = report.customers();
        // One leak.matched event per customer, handed over in groups so the audit log
        // commits each group with one sync; meanwhile the exposures go to the database (the
        // audit writer and SQLite's worker are different threads).
        let record_events = async {
            for group in customers.chunks(EVENT_BATCH) {
                let events = group.iter().map(|customer| {
                    let mut event = SecurityEvent::new(
                        SystemClock.now(),
                        EventKind::LeakMatched,
                        actor.clone(),
                    )
                    .context(&context)
                    .customer(customer.customer_id())
                    .fields(customer.fields().iter().map(|field| field.as_str()))
                    .detail("confidence", customer.confidence().as_str())
                    .detail("rows", customer.rows().to_string())
                    .detail("source", source.clone());
                    if let Some(first) = customer.lines().first() {
                        event = event.detail("first_line", first.to_string());
                    }
                    runtime.events.record(event)
                });
                for recorded in futures::future::join_all(events).await {
                    recorded.context("the audit log refused a leak.matched event")?;
                }
            }
            anyhow::Ok(Instant::now())
        };
        let exposures: Vec<Exposure> = exposures.into_iter().collect();
        let record_exposures = async {
            let new = runtime
                .store
                .record_exposures(&exposures, SystemClock.now())
                .await
                .context("cannot record the exposed identifiers")?;
            anyhow::Ok((new, Instant::now()))
        };
        let (events_done, exposures_done) = tokio::join!(record_events, record_exposures);
        let recorded_at = events_done?;
        let (new_exposures, exposed_at) = exposures_done?;
        if let (Some(path), Some(format)) = (&args.out, out_format) {
            write_out(path, format, &report)?;
        }
        let stats = session.stats();
        let summary = report.summary();
        let mut stdout = BufWriter::new(io::stdout().lock());
        if args.out.is_none() && !customers.is_empty() {
            writeln!(stdout, "customer\tconfidence\tfields\trows\tlines")?;
            for customer in &customers {
                writeln!(
                    stdout,
                    "{}\t{}\t{}\t{}\t{}",
                    customer.customer_id(),
                    customer.confidence(),
                    join(customer.fields().iter().map(|f| f.as_str()), ","),
                    customer.rows(),
                    join(customer.lines().iter(), ","),
                )?;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        writeln!(
            stdout,
            "read {} lines ({}) of {name} in {seconds:.1} s ({:.0} lines/s): {} rows with an \
             e-mail or phone, {} problems{}",
            totals.lines,
            human_bytes(totals.bytes),
            totals.lines as f64 / seconds.max(1e-9),
            totals.rows,
            totals.problems,
            if totals.other_encoding > 0 {
                format!(
                    ", {} lines read as {}",
                    totals.other_encoding,
                    match encoding {
                        TextEncoding::Utf8 => "cp949",
                        TextEncoding::Cp949 => "utf-8",
                    }
                )
            } else {
                String::new()
            }
        )?;
        writeln!(
            stdout,
            "matched {} customers ({} high, {} medium, {} low confidence): by e-mail {}, by \
             phone {}, confirmed by name {}",
            summary.customers,
            summary.high,
            summary.medium,
            summary.low,
            summary.by_email,
            summary.by_phone,
            summary.by_name
        )?;
        writeln!(
            stdout,
            "vault ({}): {} blind-index lookups, {} candidates, {} records decrypted; {} \
             exposed identifiers recorded ({new_exposures} new)",
            match session.index_source() {
                LeakIndexSource::Lookups => "lookups",
                LeakIndexSource::Snapshot => "snapshot of the blind index",
                LeakIndexSource::Vault => "every record opened once",
            },
            stats.index_lookups,
            stats.candidates,
            stats.decrypted,
            exposures.len()
        )?;
        let span = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64();
        writeln!(
            stdout,
            "times: {:.1} s to open the vault and start, {:.1} s matching rows, then at once \
             {:.1} s recording leak.matched events and {:.1} s recording exposures",
            span(started, opened_at),
            span(opened_at, matched_at),
            span(matched_at, recorded_at),
            span(matched_at, exposed_at),
        )?;
        if let Some(path) = &args.out {
            writeln!(stdout, "matches written to {}", path.display())?;
        }
        stdout.flush()?;
        drop(stdout);
        runtime.close().await?;
        Ok(if args.fail_on_findings && !report.is_empty() {
            Outcome::Findings
        } else {
            Outcome::Clean
        })
    })?
}

/// Adds a batch's confirmations to the report and the exposures; returns the batch's rows.
fn absorb(
    (line_numbers, probes, confirmations): (Vec<u64>, Vec<LeakProbe>, Vec<LeakConfirmation>),
    report: &mut MatchReport,
    exposures: &mut HashSet<Exposure>,
) -> u64 {
    for confirmation in confirmations {
        let probe = &probes[confirmation.probe];
        if let Some(email) = confirmation.matched_email.and_then(|i| probe.emails.get(i)) {
            exposures.insert(Exposure::of_normalised(ExposureKind::Email, email));
        }
        if let Some(phone) = confirmation.matched_phone.and_then(|i| probe.phones.get(i)) {
            exposures.insert(Exposure::of_normalised(ExposureKind::Phone, phone));
        }
        report.add(RowMatch {
            line: line_numbers[confirmation.probe],
            customer_id: confirmation.customer_id,
            email: agreement(confirmation.email),
            phone: agreement(confirmation.phone),
            name: agreement(confirmation.name),
        });
    }
    probes.len() as u64
}

fn agreement(comparison: Comparison) -> FieldAgreement {
    match comparison {
        Comparison::Absent => FieldAgreement::Absent,
        Comparison::Same => FieldAgreement::Agrees,
        Comparison::Different => FieldAgreement::Differs,
    }
}

/// The reader thread: decodes and parses every line, sending rows in batches.
fn read_dump(
    mut lines: BoundedLines<Box<dyn BufRead + Send>>,
    sample: Vec<(LineRead, Vec<u8>)>,
    encoding: TextEncoding,
    plan: DumpPlan,
    batch: usize,
    sender: &tokio::sync::mpsc::Sender<io::Result<Chunk>>,
) {
    let text_format = plan.format == DumpFormat::Text;
    let mut parser = DumpParser::new(plan);
    let mut chunk = Chunk::default();
    let mut events = Vec::new();
    let mut handle = |read: LineRead, bytes: &[u8], chunk: &mut Chunk| {
        chunk.lines += 1;
        chunk.bytes += read.consumed;
        if read.truncated {
            chunk.problems.push(LineProblem {
                line: read.number,
                last_line: read.number,
                kind: ProblemKind::TooLong {
                    cap: LINE_CAP,
                    scanned: text_format,
                },
            });
            if !text_format {
                return;
            }
        }
        match decode(bytes, read, encoding) {
            Ok((text, used)) => {
                if used != encoding {
                    chunk.other_encoding += 1;
                }
                parser.push_line(read.number, &text, &mut events);
            }
            Err(kind) => chunk.problems.push(LineProblem {
                line: read.number,
                last_line: read.number,
                kind,
            }),
        }
        for event in events.drain(..) {
            match event {
                DumpEvent::Row(row) => chunk.rows.push(row),
                DumpEvent::Problem(problem) => chunk.problems.push(problem),
            }
        }
    };
    let full = |chunk: &Chunk| chunk.rows.len() >= batch || chunk.lines >= 65_536;
    for (read, bytes) in sample {
        handle(read, &bytes, &mut chunk);
        if full(&chunk)
            && sender
                .blocking_send(Ok(std::mem::take(&mut chunk)))
                .is_err()
        {
            return;
        }
    }
    let mut buffer = Vec::new();
    loop {
        match lines.next_line(&mut buffer) {
            Ok(Some(read)) => handle(read, &buffer, &mut chunk),
            Ok(None) => break,
            Err(error) => {
                let _ = sender.blocking_send(Err(error));
                return;
            }
        }
        if full(&chunk)
            && sender
                .blocking_send(Ok(std::mem::take(&mut chunk)))
                .is_err()
        {
            return;
        }
    }
    let mut events = Vec::new();
    parser.finish(&mut events);
    for event in events {
        match event {
            DumpEvent::Row(row) => chunk.rows.push(row),
            DumpEvent::Problem(problem) => chunk.problems.push(problem),
        }
    }
    let _ = sender.blocking_send(Ok(chunk));
}

/// The `--out` file's format, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutFormat {
    Csv,
    Jsonl,
}

impl OutFormat {
    fn of(path: &Path) -> anyhow::Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(Self::Csv),
            Some("jsonl" | "json" | "ndjson") => Ok(Self::Jsonl),
            _ => bail!("--out must end in .csv or .jsonl"),
        }
    }
}

/// Writes the matched customers: ids, fields, confidence, rows and line numbers only.
fn write_out(path: &Path, format: OutFormat, report: &MatchReport) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::new(file);
    if format == OutFormat::Csv {
        writeln!(out, "customer_id,confidence,fields,rows,lines")?;
    }
    for customer in report.customers() {
        let fields: Vec<&str> = customer.fields().iter().map(|f| f.as_str()).collect();
        match format {
            OutFormat::Csv => writeln!(
                out,
                "{},{},{},{},{}",
                customer.customer_id(),
                customer.confidence(),
                fields.join(";"),
                customer.rows(),
                join(customer.lines().iter(), ";"),
            )?,
            OutFormat::Jsonl => {
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({
                        "customer_id": customer.customer_id(),
                        "confidence": customer.confidence(),
                        "fields": fields,
                        "rows": customer.rows(),
                        "lines": customer.lines(),
                    }),
                )?;
                writeln!(out)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

// -------------------------------------------------------------------------------------------
// leak scan
// -------------------------------------------------------------------------------------------

fn scan(args: ScanArgs) -> anyhow::Result<Outcome> {
    let mut input = open_input(&args.file)?;
    let sample =
        read_sample(&mut input.lines).with_context(|| format!("cannot read {}", input.name))?;
    let encoding = choose_encoding(&input.name, &sample, None)?;
    let mut scanner = Scanner::default();
    if let Some(minimum) = args.min_confidence {
        scanner = scanner.with_minimum_confidence(minimum.clamp(0.0, 1.0));
    }
    let progress = progress_bar(input.size);
    let mut output = ScanOutput {
        name: input.name.clone(),
        reveal: args.reveal,
        format: args.format,
        stdout: BufWriter::new(io::stdout().lock()),
        findings: 0,
        by_kind: std::collections::BTreeMap::new(),
    };
    let mut problems = 0u64;
    let mut lines_read = 0u64;
    // Adds a line to the chunk; reports lines that cannot be read.
    let mut handle = |read: LineRead, bytes: &[u8], chunk: &mut ScanChunk, name: &str| {
        lines_read += 1;
        progress.inc(read.consumed);
        let mut report = |kind: ProblemKind| {
            problems += 1;
            if problems <= MAX_PRINTED_PROBLEMS {
                let problem = LineProblem {
                    line: read.number,
                    last_line: read.number,
                    kind,
                };
                progress.suspend(|| eprintln!("{name}: {problem}"));
            }
        };
        if read.truncated {
            report(ProblemKind::TooLong {
                cap: LINE_CAP,
                scanned: true,
            });
        }
        match decode(bytes, read, encoding) {
            Ok((text, _)) => chunk.push(read.number, &text),
            Err(kind) => report(kind),
        }
    };
    // Chunks are scanned on every core and written in input order.
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8));
    let (jobs, job_queue) = std::sync::mpsc::sync_channel::<(u64, ScanChunk)>(workers * 2);
    let job_queue = std::sync::Mutex::new(job_queue);
    let (done, results) = std::sync::mpsc::channel::<(u64, ScanChunk, Vec<Finding>)>();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        for _ in 0..workers {
            let job_queue = &job_queue;
            let done = done.clone();
            let scanner = &scanner;
            scope.spawn(move || {
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
            });
        }
        drop(done);
        let mut ordered = InOrder::default();
        let mut chunk = ScanChunk::default();
        let name = input.name.clone();
        let submit = |chunk: &mut ScanChunk,
                      ordered: &mut InOrder,
                      output: &mut ScanOutput|
         -> anyhow::Result<()> {
            jobs.send((ordered.submitted, std::mem::take(chunk)))
                .map_err(|_| anyhow::anyhow!("a scanning thread stopped"))?;
            ordered.submitted += 1;
            ordered.write_ready(&results, output, false)
        };
        for (read, bytes) in sample {
            handle(read, &bytes, &mut chunk, &name);
            if chunk.text.len() >= SCAN_CHUNK_BYTES {
                submit(&mut chunk, &mut ordered, &mut output)?;
            }
        }
        let mut buffer = Vec::new();
        while let Some(read) = input
            .lines
            .next_line(&mut buffer)
            .with_context(|| format!("cannot read {name}"))?
        {
            handle(read, &buffer, &mut chunk, &name);
            if chunk.text.len() >= SCAN_CHUNK_BYTES {
                submit(&mut chunk, &mut ordered, &mut output)?;
            }
        }
        submit(&mut chunk, &mut ordered, &mut output)?;
        drop(jobs);
        ordered.write_ready(&results, &mut output, true)
    })?;
    progress.finish_and_clear();
    output.stdout.flush()?;
    let kinds = output
        .by_kind
        .iter()
        .map(|(kind, count)| format!("{kind} {count}"))
        .collect::<Vec<_>>()
        .join(", ");
    eprintln!(
        "{}: {} findings in {lines_read} lines{}{}",
        input.name,
        output.findings,
        if kinds.is_empty() {
            String::new()
        } else {
            format!(" ({kinds})")
        },
        if problems > 0 {
            format!("; {problems} lines not read (see above)")
        } else {
            String::new()
        }
    );
    Ok(if args.fail_on_findings && output.findings > 0 {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// Scanned chunks that arrive out of order, held until their turn.
#[derive(Default)]
struct InOrder {
    submitted: u64,
    written: u64,
    waiting: std::collections::BTreeMap<u64, (ScanChunk, Vec<Finding>)>,
}

impl InOrder {
    /// Writes every chunk whose turn has come; with `until_done`, waits for all submitted.
    fn write_ready(
        &mut self,
        results: &std::sync::mpsc::Receiver<(u64, ScanChunk, Vec<Finding>)>,
        output: &mut ScanOutput,
        until_done: bool,
    ) -> anyhow::Result<()> {
        loop {
            while let Some((chunk, findings)) = self.waiting.remove(&self.written) {
                output.write_chunk(&chunk, &findings)?;
                self.written += 1;
            }
            if self.written == self.submitted {
                return Ok(());
            }
            let next = if until_done {
                results
                    .recv()
                    .map_err(|_| anyhow::anyhow!("a scanning thread stopped"))?
            } else {
                match results.try_recv() {
                    Ok(next) => next,
                    Err(_) => return Ok(()),
                }
            };
            self.waiting.insert(next.0, (next.1, next.2));
        }
    }
}

/// Lines gathered into one text to scan, with where each line starts.
#[derive(Default)]
struct ScanChunk {
    text: String,
    /// (byte offset in `text`, line number).
    starts: Vec<(usize, u64)>,
}

impl ScanChunk {
    fn push(&mut self, line: u64, text: &str) {
        self.starts.push((self.text.len(), line));
        self.text.push_str(text);
        self.text.push('\n');
    }
}

struct ScanOutput {
    name: String,
    reveal: bool,
    format: ScanFormat,
    stdout: BufWriter<io::StdoutLock<'static>>,
    findings: u64,
    by_kind: std::collections::BTreeMap<&'static str, u64>,
}

impl ScanOutput {
    fn write_chunk(&mut self, chunk: &ScanChunk, findings: &[Finding]) -> anyhow::Result<()> {
        for finding in findings {
            self.write(chunk, finding)?;
        }
        Ok(())
    }

    fn write(&mut self, chunk: &ScanChunk, finding: &Finding) -> anyhow::Result<()> {
        let index = chunk
            .starts
            .partition_point(|(offset, _)| *offset <= finding.start)
            .saturating_sub(1);
        let (line_start, line) = chunk.starts.get(index).copied().unwrap_or((0, 0));
        let column = chunk
            .text
            .get(line_start..finding.start)
            .map_or(0, |before| before.chars().count())
            + 1;
        let shown = if self.reveal {
            finding.text(&chunk.text).to_string()
        } else {
            mask(&chunk.text, finding)
        };
        self.findings += 1;
        *self.by_kind.entry(finding.kind.label()).or_default() += 1;
        match self.format {
            ScanFormat::Text => writeln!(
                self.stdout,
                "{}:{line}:{column}: {} {:.2} {shown} ({})",
                self.name,
                finding.kind,
                finding.confidence,
                join(finding.reasons.iter().map(reason_text), ", ")
            )?,
            ScanFormat::Json => {
                serde_json::to_writer(
                    &mut self.stdout,
                    &serde_json::json!({
                        "line": line,
                        "column": column,
                        "kind": finding.kind,
                        "confidence": (finding.confidence * 100.0).round() / 100.0,
                        "text": shown,
                        "masked": !self.reveal,
                        "reasons": finding.reasons,
                    }),
                )?;
                writeln!(self.stdout)?;
            }
        }
        Ok(())
    }
}

fn reason_text(reason: &Reason) -> String {
    match serde_json::to_value(reason) {
        Ok(serde_json::Value::Object(map)) => {
            let name = map.get("reason").and_then(|v| v.as_str()).unwrap_or("?");
            match map.get("detail").and_then(|v| v.as_str()) {
                Some(detail) => format!("{name}: {detail}"),
                None => name.to_string(),
            }
        }
        _ => format!("{reason:?}"),
    }
}

// -------------------------------------------------------------------------------------------
// Helpers
// -------------------------------------------------------------------------------------------

/// A spinner on stderr for a step whose length is not known ahead.
fn progress_spinner(message: &'static str) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_message(message);
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    spinner
}

fn progress_bar(total_bytes: u64) -> ProgressBar {
    let progress = if total_bytes > 0 {
        ProgressBar::new(total_bytes)
    } else {
        ProgressBar::new_spinner()
    };
    progress.with_style(
        ProgressStyle::with_template(
            "{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

fn join<T: std::fmt::Display>(items: impl IntoIterator<Item = T>, separator: &str) -> String {
    items
        .into_iter()
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(separator)
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_index_opens_the_vault_only_for_dumps_of_its_order() {
        const MIB: u64 = 1024 * 1024;
        // Standard input: size and rows unknown.
        assert_eq!(auto_index(0, None, 10), IndexArg::Lookups);
        // A paste against a small vault: lookups, whatever the ratio.
        assert_eq!(auto_index(MIB, Some(10_000), 100), IndexArg::Lookups);
        // A large dump, small against the vault: the snapshot.
        assert_eq!(
            auto_index(20 * MIB, Some(200_000), 10_000_000),
            IndexArg::Snapshot
        );
        // A row per four customers or more: the whole vault.
        assert_eq!(
            auto_index(250 * MIB, Some(2_500_000), 10_000_000),
            IndexArg::Vault
        );
        assert_eq!(
            auto_index(990 * MIB, Some(10_000_000), 10_000_000),
            IndexArg::Vault
        );
    }
}
