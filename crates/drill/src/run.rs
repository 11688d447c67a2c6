//! One drill, start to score: the server under test (started here or a `--target`), the
//! driver's set-up and traffic, `haechi scope` over the true alerts, and the report.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;
use haechi_korean::CustomerGenerator;

use crate::driver::{Driver, Nodes, Population, customer_record};
use crate::plan::Plan;
use crate::report::{Observations, Report, ScopeRun};
use crate::scenario::Scenario;
use crate::server::{Credential, Customers, LocalServer, isolate};

/// Alerts whose indicators scope uses, at most.
const SCOPE_ALERTS: usize = 20;

/// The server a drill runs against.
pub enum ServerUnderTest {
    /// A server of the drill's own: `haechi serve` on a fresh data directory, started with
    /// the `haechi` binary at `haechi`, which also runs `haechi scope` afterwards.
    Local {
        /// The `haechi` binary.
        haechi: PathBuf,
        /// Keep the data directory here instead of a temporary one.
        keep_data: Option<PathBuf>,
    },
    /// A running server on the drill clock (`--target`), or the nodes of a running cluster
    /// on drill clocks (several `--target`s and `--detection`), administered with `admin`.
    /// Scope is not scored: the drill cannot read the data directories.
    Target {
        /// The base URL of the server, or of each API node of the cluster (the traffic goes
        /// round robin over them).
        api: Vec<String>,
        /// The base URL of each of the cluster's detection nodes; empty for one server.
        /// Every clock move settles them first (`docs/drills.md`, "Drilling a cluster").
        detection: Vec<String>,
        /// An administrator's client credential.
        admin: Credential,
    },
}

/// How to run one drill.
pub struct Options {
    /// Customers in the vault.
    pub customers: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Against what.
    pub server: ServerUnderTest,
}

/// Where a drill tells how far it is (a progress bar, or nothing).
pub trait Progress {
    /// A new phase: its message and, if it counts, how many steps it has (the count restarts
    /// at zero).
    fn phase(&self, message: &str, length: Option<u64>);
    /// One step of the phase done.
    fn advance(&self);
    /// The traffic is over.
    fn finish(&self);
}

/// Runs `scenario` and scores it against its bar.
pub fn drill(
    scenario: &Scenario,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report, Error> {
    let plan = Plan::new(scenario, options.customers, options.seed);
    let (mut local, nodes, admin, population) = match &options.server {
        ServerUnderTest::Target {
            api,
            detection,
            admin,
        } => {
            if api.is_empty() {
                return Err(Error::Target("no target to drill".into()));
            }
            (
                None,
                Nodes::new(api, detection),
                admin.clone(),
                Population::Create(options.customers),
            )
        }
        ServerUnderTest::Local { haechi, keep_data } => {
            progress.phase("importing customers, starting haechi serve", None);
            let keep = keep_data.as_ref().map(|dir| dir.join(&scenario.name));
            let generator = CustomerGenerator::new(options.seed);
            let record = |index| customer_record(&generator, &plan, index);
            let customers = Customers {
                count: options.customers,
                record: &record,
            };
            let (server, admin, ids) = LocalServer::start(
                haechi,
                &plan.start.to_rfc3339(),
                keep.as_deref(),
                &customers,
            )?;
            let nodes = Nodes::single(&server.base);
            (Some(server), nodes, admin, Population::Imported(ids))
        }
    };
    let (mut observations, true_alerts) = play(
        scenario,
        &plan,
        options,
        (nodes, admin, population),
        progress,
    )?;
    observations.seed = options.seed;
    observations.customers = options.customers;
    observations.deployment = deployment(&options.server);
    match (&mut local, &options.server) {
        (Some(server), ServerUnderTest::Local { haechi, .. }) => {
            if !server.is_running() && observations.partial.is_none() {
                observations.partial = Some("the server died during the drill".into());
            }
            server.stop()?;
            observations.audit_events = traffic_events(&server.data_dir, &plan)?;
            observations.scope =
                (!true_alerts.is_empty()).then(|| scope(haechi, &server.data_dir, &true_alerts));
        }
        _ => {
            observations.scope = Some(ScopeRun {
                alerts: true_alerts,
                not_scored: Some(
                    "scope reads the server's data directory; drill a server of your own (no \
                     --target) to score it"
                        .into(),
                ),
                ..ScopeRun::default()
            });
        }
    }
    Ok(Report::score(observations, &scenario.expect))
}

/// What the report says was drilled.
fn deployment(server: &ServerUnderTest) -> String {
    match server {
        ServerUnderTest::Local { .. } => "one server, started by the drill".into(),
        ServerUnderTest::Target { api, detection, .. }
            if detection.is_empty() && api.len() == 1 =>
        {
            format!("one server at {}", api[0])
        }
        ServerUnderTest::Target { api, detection, .. } => format!(
            "a cluster of {} API node{} ({}) and {} detection node{} ({})",
            api.len(),
            if api.len() == 1 { "" } else { "s" },
            api.join(", "),
            detection.len(),
            if detection.len() == 1 { "" } else { "s" },
            detection.join(", ")
        ),
    }
}

/// Sets the scenario up on the server at `base` and plays the plan; what was observed, and
/// the ids of the first true alerts.
fn play(
    scenario: &Scenario,
    plan: &Plan,
    options: &Options,
    (nodes, admin, population): (Nodes, Credential, Population),
    progress: &dyn Progress,
) -> Result<(Observations, Vec<String>), Error> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut driver = Driver::new(nodes, admin, scenario, plan, options.seed)?;
        driver.set_up(scenario, plan, population, progress).await?;
        driver.run(scenario, plan, progress).await;
        if driver.observed.partial.is_none() {
            driver.finish().await?;
        }
        let true_alerts: Vec<String> = driver
            .true_alerts()
            .iter()
            .take(SCOPE_ALERTS)
            .map(|alert| alert.id.clone())
            .collect();
        Ok((driver.observed, true_alerts))
    })
}

/// Audit events the traffic caused: records stamped after the set-up instant.
fn traffic_events(data_dir: &Path, plan: &Plan) -> Result<u64, Error> {
    let what = "cannot read the drill's audit log";
    let mut count = 0;
    for record in haechi_audit::read_log(&data_dir.join("audit")).map_err(Error::local(what))? {
        let record = record.map_err(Error::local(what))?;
        if record.event.time > plan.start {
            count += 1;
        }
    }
    Ok(count)
}

/// `haechi scope --alert ID` for each true alert, the union of the customers found: what an
/// investigator handed the alerts would report.
fn scope(haechi: &Path, data_dir: &Path, alerts: &[String]) -> ScopeRun {
    let mut run = ScopeRun {
        alerts: alerts.to_vec(),
        ..ScopeRun::default()
    };
    for alert in alerts {
        match scope_one(haechi, data_dir, alert) {
            Ok(found) => run.customers.extend(found),
            Err(error) => {
                run.error = Some(error);
                return run;
            }
        }
    }
    run
}

/// The customers `haechi scope --alert ALERT` finds, or why it could not run.
fn scope_one(haechi: &Path, data_dir: &Path, alert: &str) -> Result<BTreeSet<String>, String> {
    let out = data_dir.join(format!("scope-{}.jsonl", alert.replace(['/', ':'], "_")));
    let mut command = Command::new(haechi);
    isolate(&mut command, data_dir);
    let output = command
        .args(["scope", "--alert", alert, "--no-contacts", "--out"])
        .arg(&out)
        .arg("--data-dir")
        .arg(data_dir)
        .env("HAECHI_LOG", "error")
        .output()
        .map_err(|error| format!("cannot run haechi scope: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "haechi scope --alert {alert} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let text = std::fs::read_to_string(&out)
        .map_err(|error| format!("cannot read {}: {error}", out.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|row| row["customer_id"].as_str().map(str::to_string))
        .collect())
}
