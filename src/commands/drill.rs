//! `haechi drill SCENARIO|all`: a breach scenario replayed against a live Haechi on a
//! simulated clock, scored against what the attacker actually received. The drill itself is
//! `haechi_drill::drill`; this reads the flags, loads the scenarios and writes the reports.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use haechi_drill::report::write_atomically;
use haechi_drill::{Credential, Options, Progress, Scenario, ServerUnderTest, scorecard};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Outcome;
use crate::commands::init_quiet_logging;

/// `haechi drill` flags.
#[derive(Debug, Args)]
pub struct DrillArgs {
    /// A built-in scenario (coupang, scraper, stuffing, lowslow, insider), `all` of them, or a
    /// scenario YAML file.
    scenario: String,
    /// Customers in the vault (overrides the scenario's).
    #[arg(long)]
    customers: Option<u64>,
    /// Seed of every random choice (overrides the scenario's).
    #[arg(long)]
    seed: Option<u64>,
    /// Drill a running server (started with drill.dangerous_simulated_clock and
    /// `server.trusted_proxies` covering the drill's own address) instead of starting one.
    /// For a cluster, every API node (repeat the flag, or separate with commas): the traffic
    /// goes round robin over them.
    #[arg(long, value_name = "URL", value_delimiter = ',')]
    target: Vec<String>,
    /// A cluster's detection node (repeat, or separate with commas, for every one of them,
    /// standbys included), on the drill clock like the API nodes: every clock move settles
    /// the detection nodes first, then the API nodes through the change log.
    #[arg(long, value_name = "URL", value_delimiter = ',', requires = "target")]
    detection: Vec<String>,
    /// The target's administrator credential, `CLIENT_ID:CLIENT_SECRET`.
    #[arg(
        long,
        env = "HAECHI_DRILL_ADMIN",
        value_name = "ID:SECRET",
        hide_env_values = true
    )]
    admin: Option<String>,
    /// Where the reports go (one directory per scenario).
    #[arg(long, default_value = "drill-reports")]
    out: PathBuf,
    /// Keep the drill server's data directory here (default: a temporary one, removed).
    #[arg(long, value_name = "DIR")]
    keep_data: Option<PathBuf>,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
}

/// The scenarios `all` runs.
const ALL: &[&str] = &["coupang", "scraper", "stuffing", "lowslow", "insider"];
pub fn run(args: DrillArgs) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    if !args.target.is_empty() && args.admin.is_none() {
        anyhow::bail!(
            "--target needs the target's administrator credential: --admin ID:SECRET or HAECHI_DRILL_ADMIN"
        );
    }
    let scenarios: Vec<Scenario> = if args.scenario == "all" {
        ALL.iter()
            .map(|name| haechi_drill::scenario::built_in(name))
            .collect::<Result<_, _>>()?
    } else {
        vec![load_scenario(&args.scenario)?]
    };
    if args.target.len() > 1 && args.detection.is_empty() {
        anyhow::bail!(
            "several --target nodes are a cluster: name its detection node(s) with --detection \
             URL as well (every clock move settles them before the API nodes)"
        );
    }
    if !args.target.is_empty() && scenarios.len() > 1 {
        anyhow::bail!(
            "drill one scenario at a time against a --target (each needs a fresh server)"
        );
    }
    let mut reports = Vec::new();
    for scenario in &scenarios {
        let customers = args.customers.unwrap_or(scenario.customers);
        if customers == 0 || customers > haechi_drill::scenario::MAX_CUSTOMERS {
            anyhow::bail!(
                "--customers {customers} is not in 1..={}",
                haechi_drill::scenario::MAX_CUSTOMERS
            );
        }
        let server = if args.target.is_empty() {
            ServerUnderTest::Local {
                haechi: std::env::current_exe().context("cannot find the haechi binary")?,
                keep_data: args.keep_data.clone(),
            }
        } else {
            ServerUnderTest::Target {
                api: args.target.clone(),
                detection: args.detection.clone(),
                admin: parse_admin(args.admin.as_deref().unwrap_or_default())?,
            }
        };
        let options = Options {
            customers,
            seed: args.seed.unwrap_or(scenario.seed),
            server,
        };
        let bar = Bar(progress_bar(args.quiet, &scenario.name));
        let mut report = haechi_drill::drill(scenario, &options, &bar)?;
        report.run_at = Some(haechi_events::Clock::now(&haechi_events::SystemClock).to_rfc3339());
        let dir = args.out.join(&scenario.name);
        report.write(&dir)?;
        println!(
            "{}: {} — report in {}",
            scenario.name,
            if report.passed { "passed" } else { "FAILED" },
            dir.join("report.html").display()
        );
        reports.push(report);
    }
    let card = scorecard(&reports);
    println!("\n{card}");
    if reports.len() > 1 {
        write_atomically(&args.out.join("scorecard.md"), card.as_bytes())?;
    }
    Ok(if reports.iter().all(|report| report.passed) {
        Outcome::Clean
    } else {
        Outcome::Findings
    })
}

fn load_scenario(name: &str) -> anyhow::Result<Scenario> {
    let path = Path::new(name);
    if path
        .extension()
        .is_some_and(|extension| extension == "yaml" || extension == "yml")
        || path.exists()
    {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read scenario {}", path.display()))?;
        return Ok(haechi_drill::scenario::parse(
            &text,
            &path.display().to_string(),
        )?);
    }
    Ok(haechi_drill::scenario::built_in(name)?)
}

fn parse_admin(text: &str) -> anyhow::Result<Credential> {
    let (client_id, client_secret) = text
        .split_once(':')
        .context("the admin credential is CLIENT_ID:CLIENT_SECRET")?;
    Ok(Credential {
        client_id: client_id.to_string(),
        client_secret: client_secret.to_string(),
    })
}

fn progress_bar(quiet: bool, name: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{prefix} {msg} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_prefix(name.to_string());
    bar
}

/// The progress bar as the drill tells its progress.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn phase(&self, message: &str, length: Option<u64>) {
        if let Some(length) = length {
            self.0.set_length(length);
            self.0.set_position(0);
        }
        self.0.set_message(message.to_string());
    }

    fn advance(&self) {
        self.0.inc(1);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
