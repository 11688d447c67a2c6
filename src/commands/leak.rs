//! `haechi leak match DUMP` and `haechi leak scan FILE|-`: the flags, opening the input and
//! the data directory, and progress bars; the pipelines are `haechi_leakwatch`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand, ValueEnum};
use haechi_leak::dump::{ColumnOverrides, DumpOptions, RequestedFormat, TextEncoding};
use haechi_leakwatch::{
    FindingFormat, IndexChoice, Input, MatchServices, MatchSettings, OutFile, PreparedDump,
    Progress, ScanSettings, Shown,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::Outcome;
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::Runtime;

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
    /// Watch the leak sources of `[leakwatch]` (drop directories, feeds): new items are
    /// matched as they appear, each recorded as `leak.item_scanned`, poisoned ones
    /// quarantined. `haechi serve` runs the same watch when sources are configured.
    Watch(super::leak_watch::WatchArgs),
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
    /// Read the file as text messages (one per paragraph) and report those that look like
    /// smishing in the company's name (`[notice]` names the company), instead of personal data.
    #[arg(long, conflicts_with_all = ["reveal", "min_confidence"])]
    pub smishing: bool,
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
        LeakAction::Scan(args) if args.smishing => scan_smishing(args, config),
        LeakAction::Scan(args) => scan(args),
        LeakAction::Watch(args) => super::leak_watch::run(args, config),
    }
}

fn match_dump(args: MatchArgs, config: &Config) -> anyhow::Result<Outcome> {
    let out = args.out.map(OutFile::new).transpose()?;
    let options = DumpOptions {
        format: args.format.map(|format| match format {
            FormatArg::Csv => RequestedFormat::Csv,
            FormatArg::Json | FormatArg::Jsonl => RequestedFormat::Json,
            FormatArg::Text => RequestedFormat::Text,
        }),
        delimiter: delimiter(args.delimiter.as_deref())?,
        columns: args
            .columns
            .as_deref()
            .map(ColumnOverrides::parse)
            .transpose()?,
    };
    let encoding = args.encoding.map(|encoding| match encoding {
        EncodingArg::Utf8 => TextEncoding::Utf8,
        EncodingArg::Cp949 => TextEncoding::Cp949,
    });
    let dump = PreparedDump::new(open_input(&args.dump)?, &options, encoding)?;
    for line in dump.describe() {
        eprintln!("{line}");
    }
    let settings = MatchSettings {
        batch: args.batch,
        index: match args.index {
            IndexArg::Auto => IndexChoice::Auto,
            IndexArg::Vault => IndexChoice::Vault,
            IndexArg::Snapshot => IndexChoice::Snapshot,
            IndexArg::Lookups => IndexChoice::Lookups,
        },
        out,
    };
    block_on(async move {
        let runtime = Runtime::open(config).await?;
        let grant = runtime.authority.operator_grant()?;
        let services = MatchServices {
            vault: &runtime.vault,
            events: &*runtime.events,
            exposures: &*runtime.store,
        };
        let progress = Bars::default();
        let mut stdout = BufWriter::new(io::stdout().lock());
        let outcome =
            haechi_leakwatch::match_dump(dump, settings, services, grant, &progress, &mut stdout)
                .await?;
        stdout.flush()?;
        drop(stdout);
        runtime.close().await?;
        Ok(if args.fail_on_findings && outcome.customers > 0 {
            Outcome::Findings
        } else {
            Outcome::Clean
        })
    })?
}

/// `--delimiter`: one character, or `tab`.
fn delimiter(text: Option<&str>) -> anyhow::Result<Option<char>> {
    Ok(match text {
        None => None,
        Some("tab" | "\\t" | "\t") => Some('\t'),
        Some(text) => {
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c != '"' && c != '\n' && c != '\r' => Some(c),
                _ => bail!("--delimiter must be one character (or `tab`), not a quote or newline"),
            }
        }
    })
}

fn scan(args: ScanArgs) -> anyhow::Result<Outcome> {
    let settings = ScanSettings {
        shown: if args.reveal {
            Shown::Revealed
        } else {
            Shown::Masked
        },
        format: match args.format {
            ScanFormat::Text => FindingFormat::Text,
            ScanFormat::Json => FindingFormat::Json,
        },
        min_confidence: args.min_confidence,
    };
    let input = open_input(&args.file)?;
    let progress = Bars::default();
    let stdout = BufWriter::new(io::stdout().lock());
    let summary = haechi_leakwatch::scan_text(input, settings, &progress, stdout)?;
    eprintln!("{summary}");
    Ok(if args.fail_on_findings && summary.findings > 0 {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// `leak scan --smishing`: the messages of a paste that look like smishing of this company.
fn scan_smishing(args: ScanArgs, config: &Config) -> anyhow::Result<Outcome> {
    let profile = crate::notices::profile(&config.notice)?.context(
        "leak scan --smishing reads messages as this company's customers would: set \
         [notice] company, portal_origin and contact_numbers (docs/notices.md)",
    )?;
    let recogniser = haechi_smishing::Recogniser::new(profile)
        .context("[notice]: the company's profile for the smishing check")?;
    let format = match args.format {
        ScanFormat::Text => FindingFormat::Text,
        ScanFormat::Json => FindingFormat::Json,
    };
    let stdout = BufWriter::new(io::stdout().lock());
    let summary =
        haechi_leakwatch::scan_messages(open_input(&args.file)?, &recogniser, format, stdout)?;
    eprintln!("{summary}");
    Ok(if args.fail_on_findings && summary.flagged > 0 {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

/// Opens the file at `path`, or standard input for `-`.
fn open_input(path: &Path) -> anyhow::Result<Input> {
    if path == Path::new("-") {
        let reader = BufReader::with_capacity(1 << 20, io::stdin());
        return Ok(Input::new(Box::new(reader), 0, "stdin".into()));
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let reader = BufReader::with_capacity(1 << 20, file);
    Ok(Input::new(
        Box::new(reader),
        size,
        path.display().to_string(),
    ))
}

/// Progress on stderr: a spinner while the vault's records are opened, a bar over the
/// input's bytes while it is read.
#[derive(Default)]
struct Bars {
    spinner: OnceLock<ProgressBar>,
    bar: OnceLock<ProgressBar>,
}

impl Progress for Bars {
    fn vault_pass_started(&self) {
        let spinner = ProgressBar::new_spinner();
        spinner.set_message("opening every customer record once");
        spinner.enable_steady_tick(Duration::from_millis(200));
        let _ = self.spinner.set(spinner);
    }

    fn vault_pass_advanced(&self, opened: u64) {
        if let Some(spinner) = self.spinner.get() {
            spinner.set_message(format!("{opened} customer records opened"));
        }
    }

    fn vault_pass_finished(&self) {
        if let Some(spinner) = self.spinner.get() {
            spinner.finish_and_clear();
        }
    }

    fn reading_started(&self, total_bytes: u64) {
        let bar = if total_bytes > 0 {
            ProgressBar::new(total_bytes)
        } else {
            ProgressBar::new_spinner()
        };
        let _ = self.bar.set(
            bar.with_style(
                ProgressStyle::with_template(
                    "{spinner} {bytes}/{total_bytes} {wide_bar} {bytes_per_sec} eta {eta} {msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            ),
        );
    }

    fn advanced(&self, bytes: u64) {
        if let Some(bar) = self.bar.get() {
            bar.inc(bytes);
        }
    }

    fn status(&self, message: String) {
        if let Some(bar) = self.bar.get() {
            bar.set_message(message);
        }
    }

    fn reading_finished(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }

    fn note(&self, line: &str) {
        match self.bar.get() {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}
