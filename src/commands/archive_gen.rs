//! `haechi archive generate`: a realistic audit archive with an injected attack and its ground
//! truth, written through the audit crate's archive writer (see `docs/forensics.md`).

use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use haechi_audit::ExportOptions;
use haechi_forensics::{Attack, GenerateOptions, StolenKeyAttack, parse_date, parse_time};

use crate::Outcome;
use crate::commands::init_quiet_logging;
use crate::commands::scope::BarProgress;

/// `haechi archive …`
#[derive(Debug, Subcommand)]
pub enum ArchiveAction {
    /// Write a realistic Parquet audit archive — normal traffic with a diurnal rhythm plus an
    /// injected attack — and its ground truth (`DIR/_ground_truth.json`). The same options and
    /// seed write the same archive. `haechi audit verify --archive DIR --key
    /// DIR/_audit_key.pem` checks it.
    Generate {
        /// Customers in the population.
        #[arg(long)]
        customers: u64,
        /// Events in total, attack included.
        #[arg(long)]
        events: u64,
        /// The attack to inject.
        #[arg(long, value_enum, default_value_t = AttackKind::StolenKey)]
        attack: AttackKind,
        /// Victims of the attack (default: 5 % of the customers, at most a twentieth of the
        /// events).
        #[arg(long)]
        victims: Option<u64>,
        /// Attacker addresses.
        #[arg(long, default_value_t = 40)]
        attack_ips: usize,
        /// Victims read per second.
        #[arg(long, default_value_t = 2.8)]
        attack_rate: f64,
        /// When the attack starts (RFC 3339 or YYYY-MM-DD; default: 01:00 UTC on the day a
        /// third into the archive).
        #[arg(long)]
        attack_start: Option<String>,
        /// Days the archive spans.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// The first day (UTC).
        #[arg(long, default_value = "2025-06-01")]
        start: String,
        /// Seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Records per file before a day boundary cuts it (one sealed segment's worth).
        #[arg(long, default_value_t = 1 << 18)]
        file_records: usize,
        /// Rows per Parquet row group.
        #[arg(long, default_value_t = 128 * 1024)]
        row_group_rows: usize,
        /// The archive directory to create (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
}

/// The attacks the generator can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AttackKind {
    /// A stolen signing key: a forged token per victim, profile and address reads.
    StolenKey,
    /// Normal traffic only.
    None,
}

pub fn run(action: ArchiveAction) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    match action {
        ArchiveAction::Generate {
            customers,
            events,
            attack,
            victims,
            attack_ips,
            attack_rate,
            attack_start,
            days,
            start,
            seed,
            file_records,
            row_group_rows,
            out,
        } => {
            let start =
                parse_date(&start).map_err(|reason| anyhow::anyhow!("--start: {reason}"))?;
            let mut options = GenerateOptions::new(customers, events);
            options.days = days;
            options.start = start;
            options.seed = seed;
            options.file_records = file_records;
            options.export = ExportOptions { row_group_rows };
            options.attack = match attack {
                AttackKind::None => Attack::None,
                AttackKind::StolenKey => {
                    let default_victims = match &options.attack {
                        Attack::StolenKey(default) => default.victims,
                        Attack::None => 1,
                    };
                    Attack::StolenKey(StolenKeyAttack {
                        victims: victims.unwrap_or(default_victims),
                        addresses: attack_ips,
                        victims_per_second: attack_rate,
                        start: attack_start
                            .as_deref()
                            .map(parse_time)
                            .transpose()
                            .map_err(|reason| anyhow::anyhow!("--attack-start: {reason}"))?,
                    })
                }
            };
            let progress = BarProgress::new();
            let began = std::time::Instant::now();
            let report = haechi_forensics::generate::generate(&out, &options, &progress)?;
            progress.clear();
            println!(
                "wrote {} events in {} files ({:.1} MiB) to {} in {:.1} s",
                report.truth.events,
                report.files,
                report.bytes as f64 / (1024.0 * 1024.0),
                report.dir.display(),
                began.elapsed().as_secs_f64()
            );
            if let Some(attack) = &report.truth.attack {
                println!(
                    "attack: kid {} from {} addresses, {} victims, {} reads, {} .. {}",
                    attack.kid,
                    attack.ips.len(),
                    attack.victims.len(),
                    attack.reads,
                    attack.first,
                    attack.last
                );
            }
            println!(
                "ground truth: {}",
                report
                    .dir
                    .join(haechi_forensics::generate::GROUND_TRUTH_FILE)
                    .display()
            );
            println!(
                "audit public key: {}",
                report
                    .dir
                    .join(haechi_forensics::generate::PUBLIC_KEY_FILE)
                    .display()
            );
            Ok(Outcome::Clean)
        }
    }
}
