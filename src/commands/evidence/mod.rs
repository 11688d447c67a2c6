//! `haechi evidence`: the auditor's report of a period (`--from --to --out`), its signatures
//! checked (`verify`), a month's access review (`review`), and the report's JSON Schema
//! (`schema`).
//!
//! Everything here reads: the store beside a running server, the audit trail without its lock,
//! the data directory's bytes. The report is signed with the audit key; acknowledging a review
//! is an act, recorded by the server (`POST /v1/admin/evidence/reviews/{month}`).

mod pdf;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use haechi_drill::report::write_atomically;
use haechi_events::{Clock as _, SystemClock};
use haechi_evidence::signature::{MANIFEST_FILE, Manifest, SIGNATURE_SUFFIX};
use haechi_evidence::{EvidenceReport, Period, REPORT_FORMAT, YearMonth};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Outcome;
use crate::backends::Backend;
use crate::commands::{block_on, init_quiet_logging};
use crate::config::Config;
use crate::runtime::{load_master_keys, read_audit_key};

/// The files a report is made of (besides its manifest).
const REPORT_FILES: &[&str] = &["report.json", "report.html", "report.pdf"];

/// `haechi evidence`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    action: Option<EvidenceAction>,
    /// First day of the period, `YYYY-MM-DD` (KST).
    #[arg(long, requires_all = ["to", "out"])]
    from: Option<String>,
    /// Last day, `YYYY-MM-DD` (KST), inclusive.
    #[arg(long, requires = "from")]
    to: Option<String>,
    /// The directory the report goes to: `report.json`, `report.html`, `report.pdf`
    /// (when Chromium is there), each with its `.sig`.
    #[arg(long, requires = "from")]
    out: Option<PathBuf>,
    /// The PDF: `auto` (when a Chromium is found), `always` (fail without one), `never`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "always", "never"])]
    pdf: String,
    /// The Chromium to print the PDF with (default: `chromium`, `chromium-browser`,
    /// `google-chrome` on PATH).
    #[arg(long, value_name = "PATH")]
    chromium: Option<PathBuf>,
    /// No progress spinner.
    #[arg(long)]
    quiet: bool,
}

#[derive(Debug, Subcommand)]
enum EvidenceAction {
    /// Check a report directory's signatures against the audit key.
    Verify {
        /// The directory `haechi evidence --out` wrote.
        dir: PathBuf,
        /// The audit public key (PEM, JWK or hex, from `haechi audit public-key`); default:
        /// this data directory's.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// A month's access review, as the reviewer acknowledges it through the API.
    Review {
        /// `YYYY-MM` (KST).
        #[arg(long)]
        month: String,
        /// Print the review as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the JSON Schema of `report.json`.
    Schema,
}

/// Runs `haechi evidence`.
pub fn run(args: EvidenceArgs, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    match args.action {
        Some(EvidenceAction::Verify { dir, key }) => verify(&dir, key.as_deref(), config),
        Some(EvidenceAction::Review { month, json }) => review(&month, json, config),
        Some(EvidenceAction::Schema) => {
            print!("{}", haechi_evidence::json_schema());
            Ok(Outcome::Clean)
        }
        None => {
            let (Some(from), Some(to), Some(out)) = (&args.from, &args.to, &args.out) else {
                anyhow::bail!(
                    "say which period and where: haechi evidence --from YYYY-MM-DD --to YYYY-MM-DD --out DIR \
                     (or a subcommand: verify, review, schema)"
                );
            };
            let period = Period::parse(from, to)?.not_after(SystemClock.now())?;
            generate(period, out, &args, config)
        }
    }
}

/// The desk over this data directory, opened for reading.
async fn open_desk(
    config: &Config,
) -> anyhow::Result<(
    std::sync::Arc<haechi_server::evidence::EvidenceDesk>,
    haechi_vault::Policy,
)> {
    if config.store.url.is_none() && !config.database_path().exists() {
        anyhow::bail!(
            "no Haechi database at {}: there is nothing to report on",
            config.database_path().display()
        );
    }
    let token = crate::custody::open_token(config)?;
    let master_key = load_master_keys(config, token.as_ref())?;
    let backend = Backend::open(config).await?;
    let store = backend.store();
    let audit_key = read_audit_key(&*store, &master_key).await?;
    let policy = backend.initial_policy(config).await?;
    let desk = crate::evidence::desk(crate::evidence::settings(config)?, audit_key, store);
    Ok((desk, policy))
}

fn generate(
    period: Period,
    out: &Path,
    args: &EvidenceArgs,
    config: &Config,
) -> anyhow::Result<Outcome> {
    let spinner = spinner(args.quiet);
    spinner.set_message("reading the store, the audit trail and the data directory");
    let evidence = block_on(async {
        let (desk, policy) = open_desk(config).await?;
        let evidence = desk
            .generate(period, "operator".into(), &policy, SystemClock.now())
            .await?;
        Ok::<_, anyhow::Error>((desk, evidence))
    })??;
    let (desk, evidence) = evidence;
    spinner.set_message("writing the report");
    // A file of an earlier report left beside this one would pass for part of it.
    for name in REPORT_FILES.iter().chain([&MANIFEST_FILE]) {
        for file in [name.to_string(), format!("{name}{SIGNATURE_SUFFIX}")] {
            match std::fs::remove_file(out.join(&file)) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    return Err(error)
                        .with_context(|| format!("cannot replace {file} in {}", out.display()));
                }
                _ => {}
            }
        }
    }
    write_signed(out, "report.json", &evidence.json, &evidence.json_signature)?;
    write_signed(out, "report.html", &evidence.html, &evidence.html_signature)?;
    let pdf = match args.pdf.as_str() {
        "never" => None,
        mode => match pdf::chromium(args.chromium.as_deref()) {
            Some(chromium) => {
                spinner.set_message("printing the PDF with Chromium");
                let bytes = block_on(pdf::print(&chromium, &out.join("report.html")))??;
                write_signed(out, "report.pdf", &bytes, &desk.sign(&bytes))?;
                Some(bytes)
            }
            None if mode == "always" => anyhow::bail!(
                "no Chromium found for the PDF (install Debian's chromium, or pass --chromium PATH)"
            ),
            None => None,
        },
    };
    let mut files: Vec<(&str, &[u8])> = vec![
        ("report.json", &evidence.json),
        ("report.html", &evidence.html),
    ];
    if let Some(bytes) = &pdf {
        files.push(("report.pdf", bytes));
    }
    let mut manifest = serde_json::to_vec_pretty(&Manifest::of(&evidence.report, &files))?;
    manifest.push(b'\n');
    write_signed(out, MANIFEST_FILE, &manifest, &desk.sign(&manifest))?;
    spinner.finish_and_clear();
    print_summary(&evidence.report, out, pdf.is_some());
    Ok(Outcome::Clean)
}

fn write_signed(dir: &Path, name: &str, bytes: &[u8], signature: &[u8; 64]) -> anyhow::Result<()> {
    write_atomically(&dir.join(name), bytes)?;
    write_atomically(&dir.join(format!("{name}{SIGNATURE_SUFFIX}")), signature)?;
    Ok(())
}

fn print_summary(report: &EvidenceReport, out: &Path, pdf: bool) {
    let summary = report.summary;
    println!(
        "evidence {} .. {}: {} met, {} partly, {} not met, {} not applicable",
        report.period.from,
        report.period.to,
        summary.met,
        summary.partly,
        summary.not_met,
        summary.not_applicable
    );
    for requirement in &report.requirements {
        println!(
            "  {:<7} {:<15} {}",
            requirement.id,
            requirement.status.as_str(),
            requirement.name
        );
    }
    println!(
        "written to {} (report.json, report.html{}, manifest.json; each signed: .sig)",
        out.display(),
        if pdf { ", report.pdf" } else { "" }
    );
}

fn verify(dir: &Path, key: Option<&Path>, config: &Config) -> anyhow::Result<Outcome> {
    // As `audit verify` does: an independent copy of the key, or this directory's, said so.
    let key = crate::commands::audit::load_key(config, key.map(Path::to_path_buf))?;
    // The manifest says which files make the report; each is checked against it and against
    // its own signature, and a file of the report's names it does not list is not part of it.
    let mut failed = false;
    let signed = |name: &str| -> anyhow::Result<Result<Vec<u8>, String>> {
        let path = dir.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Err(format!("{name} is missing")));
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        let signature = match std::fs::read(dir.join(format!("{name}{SIGNATURE_SUFFIX}"))) {
            Ok(signature) => signature,
            Err(_) => return Ok(Err(format!("{name}: no {name}{SIGNATURE_SUFFIX}"))),
        };
        Ok(haechi_evidence::signature::verify(&bytes, &signature, &key)
            .map(|()| bytes)
            .map_err(|error| format!("{name}: {error}")))
    };
    let manifest = match signed(MANIFEST_FILE)? {
        Ok(bytes) => match Manifest::parse(&bytes) {
            Ok(manifest) => {
                println!("{MANIFEST_FILE}: signature good");
                manifest
            }
            Err(error) => {
                println!("{MANIFEST_FILE}: {error}");
                return Ok(Outcome::Findings);
            }
        },
        Err(problem) => {
            println!("{problem}");
            return Ok(Outcome::Findings);
        }
    };
    let mut report_json = None;
    for name in REPORT_FILES {
        let listed = manifest.files.contains_key(*name);
        match (listed, signed(name)?) {
            (true, Ok(bytes)) if manifest.lists(name, &bytes) => {
                println!("{name}: signature good");
                if *name == "report.json" {
                    report_json = Some(bytes);
                }
            }
            (true, Ok(_)) => {
                failed = true;
                println!("{name}: not the file the manifest lists");
            }
            (true, Err(problem)) => {
                failed = true;
                println!("{problem}");
            }
            // Whatever lies there under the name (a link included) is not part of the report.
            (false, _) if std::fs::symlink_metadata(dir.join(name)).is_ok() => {
                failed = true;
                println!("{name}: not part of this report (the manifest does not list it)");
            }
            (false, _) => {}
        }
    }
    for listed in manifest.files.keys() {
        if !REPORT_FILES.contains(&listed.as_str()) {
            failed = true;
            println!("the manifest lists {listed:?}, which no report has");
        }
    }
    for required in ["report.json", "report.html"] {
        if !manifest.files.contains_key(required) {
            failed = true;
            println!("the manifest does not list {required}");
        }
    }
    // The JSON checked above, read once: its format.
    if let Some(bytes) = report_json {
        let report: serde_json::Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON", dir.join("report.json").display()))?;
        if report["format"] != REPORT_FORMAT {
            failed = true;
            println!("report.json: not a {REPORT_FORMAT} report");
        }
    }
    println!(
        "report of {} .. {}, trail through seq {}",
        manifest.period.from, manifest.period.to, manifest.trail.last_seq
    );
    println!("key {}", haechi_audit::KeyId::of(&key));
    Ok(if failed {
        Outcome::Findings
    } else {
        Outcome::Clean
    })
}

fn review(month: &str, json: bool, config: &Config) -> anyhow::Result<Outcome> {
    let month: YearMonth = month.parse()?;
    let state = block_on(async {
        let (desk, _) = open_desk(config).await?;
        Ok::<_, anyhow::Error>(desk.review(month, SystemClock.now()).await?)
    })??;
    let (review, acks) = (&state.review, &state.acknowledgements);
    if json {
        println!("{}", serde_json::to_string_pretty(review)?);
        return Ok(Outcome::Clean);
    }
    println!(
        "access review {} ({}), digest {}",
        review.month,
        if review.closed {
            "closed"
        } else {
            "not over yet"
        },
        review.digest
    );
    println!("accesses per principal:");
    for line in &review.principals {
        println!("  {:>10}  {}", line.accesses, line.principal);
    }
    println!("refused: {}", review.refused);
    println!("alerts:");
    for rule in &review.alerts {
        println!("  {:>10}  {}", rule.alerts, rule.rule);
    }
    println!("bulk reads:");
    for read in &review.bulk_reads {
        println!(
            "  {}  {}  {}{} customers, {} accesses without a purpose",
            read.day,
            read.principal,
            if read.at_least { "≥" } else { "" },
            read.customers,
            read.without_purpose
        );
    }
    if let Some(prepared) = &state.prepared {
        let same = if *prepared == review.digest {
            "the same"
        } else {
            "DIFFERENT"
        };
        println!("prepared by the review job when the month ended: digest {prepared} ({same})");
    }
    if state.overdue {
        println!("recorded overdue by the review job");
    }
    for ack in acks {
        println!("{}", haechi_evidence::review::describe_ack(ack));
    }
    if acks.is_empty() && review.closed {
        println!(
            "not acknowledged: POST /v1/admin/evidence/reviews/{} {{\"digest\": \"{}\", \"note\": …}}",
            review.month, review.digest
        );
    }
    Ok(Outcome::Clean)
}

fn spinner(quiet: bool) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    if quiet {
        spinner.set_draw_target(ProgressDrawTarget::hidden());
    } else {
        spinner.set_draw_target(ProgressDrawTarget::stderr());
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.enable_steady_tick(Duration::from_millis(120));
    }
    spinner
}
