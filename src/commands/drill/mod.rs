//! `haechi drill SCENARIO|all`: a breach scenario replayed against a live Haechi on a
//! simulated clock, scored against what the attacker actually received.

mod driver;
mod server;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context as _;
use clap::Args;
use haechi_drill::{Plan, Report, Scenario, ScopeRun, scorecard};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Outcome;
use crate::commands::{block_on, init_quiet_logging};
use driver::Driver;
use server::{Credential, LocalServer};

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
    #[arg(long, value_name = "URL")]
    target: Option<String>,
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
/// Alerts whose indicators scope uses, at most.
const SCOPE_ALERTS: usize = 20;

pub fn run(args: DrillArgs) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    if args.target.is_some() && args.admin.is_none() {
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
    if args.target.is_some() && scenarios.len() > 1 {
        anyhow::bail!(
            "drill one scenario at a time against a --target (each needs a fresh server)"
        );
    }
    let mut reports = Vec::new();
    for scenario in &scenarios {
        let report = drill_one(scenario, &args)?;
        let dir = args.out.join(&scenario.name);
        write_report(&report, &dir)?;
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

/// Runs one scenario and scores it.
fn drill_one(scenario: &Scenario, args: &DrillArgs) -> anyhow::Result<Report> {
    let customers = args.customers.unwrap_or(scenario.customers);
    if customers == 0 || customers > haechi_drill::scenario::MAX_CUSTOMERS {
        anyhow::bail!(
            "--customers {customers} is not in 1..={}",
            haechi_drill::scenario::MAX_CUSTOMERS
        );
    }
    let seed = args.seed.unwrap_or(scenario.seed);
    let plan = Plan::new(scenario, customers, seed);
    let bar = progress_bar(args.quiet, &scenario.name);
    let (mut local, base, admin) = match &args.target {
        Some(target) => {
            let admin = parse_admin(args.admin.as_deref().unwrap_or_default())?;
            (None, target.clone(), admin)
        }
        None => {
            bar.set_message("starting haechi serve");
            let keep = args.keep_data.as_ref().map(|dir| dir.join(&scenario.name));
            let (server, admin) = LocalServer::start(&plan.start.to_rfc3339(), keep.as_deref())?;
            let base = server.base.clone();
            (Some(server), base, admin)
        }
    };
    let mut observed = block_on(async {
        let mut driver = Driver::new(&base, admin, scenario, &plan, seed)?;
        driver.set_up(scenario, &plan, customers, &bar).await?;
        driver.run(scenario, &plan, &bar).await;
        if driver.observed.partial.is_none() {
            driver.finish().await?;
        }
        let true_alerts: Vec<String> = driver
            .true_alerts()
            .iter()
            .take(SCOPE_ALERTS)
            .map(|alert| alert.id.clone())
            .collect();
        anyhow::Ok((driver.observed, true_alerts))
    })??;
    let (ref mut observations, ref true_alerts) = observed;
    observations.seed = seed;
    observations.customers = customers;
    if let Some(server) = &mut local {
        if !server.is_running() && observations.partial.is_none() {
            observations.partial = Some("the server died during the drill".into());
        }
        server.stop()?;
        observations.audit_events = traffic_events(&server.data_dir, &plan)?;
        observations.scope =
            (!true_alerts.is_empty()).then(|| scope(&server.data_dir, true_alerts));
    } else {
        observations.scope = Some(ScopeRun {
            alerts: true_alerts.clone(),
            not_scored: Some(
                "scope reads the server's data directory; drill a server of your own (no \
                 --target) to score it"
                    .into(),
            ),
            ..ScopeRun::default()
        });
    }
    Ok(Report::score(
        std::mem::take(observations),
        &scenario.expect,
    ))
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

/// Audit events the traffic caused: records stamped after the set-up instant.
fn traffic_events(data_dir: &Path, plan: &Plan) -> anyhow::Result<u64> {
    let mut count = 0;
    for record in haechi_audit::read_log(&data_dir.join("audit"))
        .context("cannot read the drill's audit log")?
    {
        let record = record.context("cannot read the drill's audit log")?;
        if record.event.time > plan.start {
            count += 1;
        }
    }
    Ok(count)
}

/// `haechi scope --alert ID` for each true alert, the union of the customers found: what an
/// investigator handed the alerts would report.
fn scope(data_dir: &Path, alerts: &[String]) -> ScopeRun {
    let mut run = ScopeRun {
        alerts: alerts.to_vec(),
        ..ScopeRun::default()
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(error) => {
            run.error = Some(format!("cannot find the haechi binary: {error}"));
            return run;
        }
    };
    for alert in alerts {
        let out = data_dir.join(format!("scope-{}.jsonl", alert.replace(['/', ':'], "_")));
        let mut command = Command::new(&exe);
        server::isolate(&mut command, data_dir);
        let output = command
            .args(["scope", "--alert", alert, "--no-contacts", "--out"])
            .arg(&out)
            .arg("--data-dir")
            .arg(data_dir)
            .env("HAECHI_LOG", "error")
            .output();
        let output = match output {
            Ok(output) => output,
            Err(error) => {
                run.error = Some(format!("cannot run haechi scope: {error}"));
                return run;
            }
        };
        if !output.status.success() {
            run.error = Some(format!(
                "haechi scope --alert {alert} failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
            return run;
        }
        let text = match std::fs::read_to_string(&out) {
            Ok(text) => text,
            Err(error) => {
                run.error = Some(format!("cannot read {}: {error}", out.display()));
                return run;
            }
        };
        let found: BTreeSet<String> = text
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|row| row["customer_id"].as_str().map(str::to_string))
            .collect();
        run.customers.extend(found);
    }
    run
}

fn write_report(report: &Report, dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let json = serde_json::to_vec_pretty(report)?;
    write_atomically(&dir.join("report.json"), &json)?;
    write_atomically(&dir.join("report.md"), report.markdown().as_bytes())?;
    write_atomically(&dir.join("report.html"), report.html().as_bytes())?;
    Ok(())
}

/// Writes through a temporary file renamed into place: a report is whole or absent.
fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let temporary = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    std::fs::write(temporary.path(), bytes)
        .with_context(|| format!("cannot write {}", path.display()))?;
    temporary
        .persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
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
