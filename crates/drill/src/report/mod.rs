//! The report: what happened in a drill, scored against its ground truth and its bar, as JSON,
//! Markdown and an HTML page with a timeline chart.

mod files;
mod incidents;
pub use files::write_atomically;
mod html;
mod markdown;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use haechi_events::Timestamp;
use serde::Serialize;

use crate::scenario::Expectations;
use crate::truth::{AlertSeen, AttackerTraits, FIELDS, Receipt};
use html::Chart;
use incidents::score_incidents;
pub use incidents::{IncidentScore, IncidentSeen};

/// Everything the drill observed, before scoring.
#[derive(Debug, Clone, Default)]
pub struct Observations {
    /// Scenario name.
    pub scenario: String,
    /// Its description.
    pub description: String,
    /// Seed used.
    pub seed: u64,
    /// Customers in the vault.
    pub customers: u64,
    /// What was drilled: one server, or a cluster and its nodes.
    pub deployment: String,
    /// Simulated start, the attacker's first step, and where the drill stopped.
    pub start: Timestamp,
    /// The attacker's first step.
    pub attack_start: Timestamp,
    /// Where the drill stopped (simulated).
    pub end: Timestamp,
    /// Real seconds the traffic took (set-up excluded).
    pub wall_seconds: f64,
    /// Legitimate requests sent.
    pub normal_requests: u64,
    /// When legitimate requests were refused (after containment: its cost).
    pub normal_refusals: Vec<Timestamp>,
    /// Attacker requests sent.
    pub attacker_requests: u64,
    /// Attacker requests refused.
    pub attacker_refused: u64,
    /// When the attacker gave up (too many refusals in a row), if it did.
    pub attacker_gave_up_at: Option<Timestamp>,
    /// Audit events the server recorded during the traffic.
    pub audit_events: u64,
    /// HTTP requests the drill sent during the traffic (clock moves included).
    pub http_requests: u64,
    /// Sequential `GET /healthz` round trips per second, measured in the same run.
    pub baseline_requests_per_second: f64,
    /// What the attacker received.
    pub receipts: Vec<Receipt>,
    /// Every alert raised, as seen on the admin API.
    pub alerts: Vec<AlertSeen>,
    /// The incidents at the end, as seen on the admin API.
    pub incidents: Vec<IncidentSeen>,
    /// What identifies the attacker.
    pub traits: AttackerTraits,
    /// Attacker attempts: when, and whether it received personal data.
    pub attack_attempts: Vec<(Timestamp, bool)>,
    /// When legitimate reads happened.
    pub normal_reads: Vec<Timestamp>,
    /// `haechi scope` over the true alerts' indicators.
    pub scope: Option<ScopeRun>,
    /// Why the drill is incomplete, if it is.
    pub partial: Option<String>,
}

/// A scope run for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScopeRun {
    /// Alerts whose indicators were used.
    pub alerts: Vec<String>,
    /// Customers scope reported exposed.
    pub customers: BTreeSet<String>,
    /// Why it could not run, if it could not (the scope checks then fail).
    pub error: Option<String>,
    /// Why scope is not scored at all (a remote target whose data directory the drill cannot
    /// read): the scope checks are left out.
    pub not_scored: Option<String>,
}

/// A scored drill.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario name.
    pub scenario: String,
    /// Its description.
    pub description: String,
    /// Seed.
    pub seed: u64,
    /// Customers in the vault.
    pub customers: u64,
    /// What was drilled: one server, or a cluster and its nodes.
    pub deployment: String,
    /// Why the report is partial, if it is: a partial report never passes.
    pub partial: Option<String>,
    /// Simulated times (RFC 3339).
    pub simulated_start: String,
    /// The attacker's first step.
    pub attack_start: String,
    /// Where the drill stopped.
    pub simulated_end: String,
    /// Seconds from the attacker's first step to the first alert about it.
    pub time_to_first_alert_secs: Option<f64>,
    /// Seconds from the attacker's first step to containment: the first action carried out
    /// for an alert about the attacker after which it received nothing more (none: never
    /// contained).
    pub time_to_containment_secs: Option<f64>,
    /// Customers whose data the attacker received before containment.
    pub customers_exposed_before_containment: u64,
    /// Records (responses with personal data) the attacker received before containment.
    pub records_exposed_before_containment: u64,
    /// Customers whose data the attacker received in the whole drill.
    pub customers_exposed: u64,
    /// Of them, customers with at least one field in plaintext.
    pub customers_exposed_plaintext: u64,
    /// Customers exposed per field (plaintext or masked).
    pub exposed_per_field: BTreeMap<String, u64>,
    /// Attacker requests, refused ones, and when it gave up.
    pub attacker_requests: u64,
    /// Refused attacker requests.
    pub attacker_refused: u64,
    /// When the attacker gave up, if it did.
    pub attacker_gave_up_at: Option<String>,
    /// Legitimate requests, and those refused after containment began.
    pub normal_requests: u64,
    /// Legitimate requests refused after containment began.
    pub normal_refused_after_containment: u64,
    /// Audit events through the live server, and their rate over the drill's wall time.
    pub audit_events: u64,
    /// Audit events per real second.
    pub events_per_second: f64,
    /// Real seconds of traffic.
    pub wall_seconds: f64,
    /// The drill's HTTP requests per real second (one at a time, each audited and synced).
    pub requests_per_second: f64,
    /// Sequential `GET /healthz` round trips per second in the same run (the baseline).
    pub baseline_requests_per_second: f64,
    /// Alerts about the attacker.
    pub true_positives: Vec<AlertRow>,
    /// Alerts about legitimate traffic.
    pub false_positives: Vec<AlertRow>,
    /// Scope against the ground truth.
    pub scope: ScopeScore,
    /// How the attack's alerts were grouped into incidents.
    pub incidents: IncidentScore,
    /// Each bar, met or not.
    pub checks: Vec<Check>,
    /// Every check met and the report complete.
    pub passed: bool,
    /// The seeds' breach, for comparison.
    pub versus_coupang: String,
    /// When the drill ran (RFC 3339, the real clock, not the drill's): what an auditor dates
    /// the drill by (`haechi evidence`).
    pub run_at: Option<String>,
    /// What the timeline draws, counted once: the page's rows and the JSON say the same.
    pub timeline: TimelineFigures,
    #[serde(skip)]
    chart: Chart,
}

/// The timeline's rows, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TimelineFigures {
    /// The attacker's reads that received personal data.
    pub attacker_reads_received: u64,
    /// The attacker's reads that were refused.
    pub attacker_reads_refused: u64,
    /// Reads of legitimate traffic.
    pub legitimate_reads: u64,
    /// Alerts the drill saw (about the attacker and not).
    pub alerts: u64,
}

/// An alert in the report.
#[derive(Debug, Clone, Serialize)]
pub struct AlertRow {
    /// Id.
    pub id: String,
    /// Rule.
    pub rule_id: String,
    /// Severity.
    pub severity: String,
    /// Seconds after the attacker's first step that the drill saw it (negative: before).
    pub seen_after_attack_secs: f64,
    /// Its group.
    pub group_key: String,
    /// Its actions and their dispositions.
    pub actions: Vec<String>,
}

/// Scope's result against the ground truth.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScopeScore {
    /// Alerts whose indicators were used.
    pub alerts: Vec<String>,
    /// Customers scope found.
    pub found: u64,
    /// Customers the attacker received.
    pub truth: u64,
    /// Found and true.
    pub correct: u64,
    /// correct / found (1 when nothing was found).
    pub precision: f64,
    /// correct / truth (1 when there was nothing to find).
    pub recall: f64,
    /// Why scope did not run, if it did not.
    pub error: Option<String>,
    /// Why scope is not scored, if it is not.
    pub not_scored: Option<String>,
}

/// One bar.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// What.
    pub name: String,
    /// The bar.
    pub bar: String,
    /// The value.
    pub value: String,
    /// Met.
    pub passed: bool,
}

const COUPANG_LINE: &str =
    "Coupang, 2025: 33.67 M customers exposed over 137 days; undetected for about five months";

impl Report {
    /// Scores `observed` against `expect`.
    pub fn score(observed: Observations, expect: &Expectations) -> Report {
        let attack_start = observed.attack_start;
        let (true_alerts, false_alerts): (Vec<&AlertSeen>, Vec<&AlertSeen>) = observed
            .alerts
            .iter()
            .partition(|alert| observed.traits.implicates(alert));
        let first_alert = true_alerts.iter().map(|alert| alert.seen_at).min();
        let exposure = Exposure::new(&observed, &true_alerts);
        let containment = exposure.containment;
        let scope = score_scope(observed.scope.as_ref(), &exposure.truth);
        let incidents = score_incidents(&observed.incidents, &true_alerts);
        let seconds_after =
            |at: Timestamp| (at.as_micros() - attack_start.as_micros()) as f64 / 1e6;
        let row = |alert: &&AlertSeen| AlertRow {
            id: alert.id.clone(),
            rule_id: alert.rule_id.clone(),
            severity: alert.severity.clone(),
            seen_after_attack_secs: seconds_after(alert.seen_at),
            group_key: alert.group_key.clone(),
            actions: alert.actions.clone(),
        };
        let mut checks = checks(
            expect,
            true_alerts.len(),
            exposure.customers_before.len() as u64,
            &scope,
        );
        if expect.detected && observed.partial.is_none() {
            let count = incidents.attack_incidents.len();
            checks.push(Check {
                name: "one incident".into(),
                bar: "the attack's alerts are one incident".into(),
                value: format!(
                    "{count} incident(s) for {} alert(s){}",
                    true_alerts.len(),
                    match incidents.attack_alerts_without_incident {
                        0 => String::new(),
                        n => format!(", {n} in none"),
                    }
                ),
                passed: count == 1 && incidents.attack_alerts_without_incident == 0,
            });
        }
        let passed = observed.partial.is_none() && checks.iter().all(|check| check.passed);
        let per_second = |count: u64| {
            if observed.wall_seconds > 0.0 {
                count as f64 / observed.wall_seconds
            } else {
                0.0
            }
        };
        Report {
            chart: Chart::new(&observed, containment),
            description: observed.description.trim().to_string(),
            seed: observed.seed,
            customers: observed.customers,
            deployment: observed.deployment.clone(),
            simulated_start: observed.start.to_rfc3339(),
            attack_start: attack_start.to_rfc3339(),
            simulated_end: observed.end.to_rfc3339(),
            time_to_first_alert_secs: first_alert.map(seconds_after),
            time_to_containment_secs: containment.map(seconds_after),
            customers_exposed_before_containment: exposure.customers_before.len() as u64,
            records_exposed_before_containment: exposure.records_before,
            customers_exposed: exposure.truth.len() as u64,
            customers_exposed_plaintext: exposure.plaintext.len() as u64,
            exposed_per_field: exposure.per_field,
            attacker_requests: observed.attacker_requests,
            attacker_refused: observed.attacker_refused,
            attacker_gave_up_at: observed.attacker_gave_up_at.map(Timestamp::to_rfc3339),
            normal_requests: observed.normal_requests,
            normal_refused_after_containment: observed
                .normal_refusals
                .iter()
                .filter(|at| containment.is_some_and(|contained| **at >= contained))
                .count() as u64,
            audit_events: observed.audit_events,
            events_per_second: per_second(observed.audit_events),
            wall_seconds: observed.wall_seconds,
            requests_per_second: per_second(observed.http_requests),
            baseline_requests_per_second: observed.baseline_requests_per_second,
            true_positives: true_alerts.iter().map(row).collect(),
            false_positives: false_alerts.iter().map(row).collect(),
            scope,
            incidents,
            checks,
            passed,
            versus_coupang: COUPANG_LINE.into(),
            run_at: None,
            timeline: TimelineFigures {
                attacker_reads_received: observed
                    .attack_attempts
                    .iter()
                    .filter(|(_, received)| *received)
                    .count() as u64,
                attacker_reads_refused: observed
                    .attack_attempts
                    .iter()
                    .filter(|(_, received)| !*received)
                    .count() as u64,
                legitimate_reads: observed.normal_reads.len() as u64,
                alerts: observed.alerts.len() as u64,
            },
            scenario: observed.scenario,
            partial: observed.partial,
        }
    }
}

/// What the attacker received, and when containment came: the ground truth, and the part of
/// it before containment.
struct Exposure<'a> {
    /// The first action carried out for an alert about the attacker after which it received
    /// nothing more.
    containment: Option<Timestamp>,
    /// Customers received before containment.
    customers_before: BTreeSet<&'a str>,
    /// Responses with personal data received before containment.
    records_before: u64,
    /// Customers received at all.
    truth: BTreeSet<String>,
    /// Of them, customers with at least one field in plaintext.
    plaintext: BTreeSet<&'a str>,
    /// Customers received per field.
    per_field: BTreeMap<String, u64>,
}

impl<'a> Exposure<'a> {
    fn new(observed: &'a Observations, true_alerts: &[&AlertSeen]) -> Exposure<'a> {
        // Contained: an action carried out for an alert about the attacker, after which the
        // attacker received nothing more. An action the attacker outlived (one network of
        // thousands blocked) is not containment, and neither is a rule's dry run.
        let last_receipt = observed.receipts.iter().map(|receipt| receipt.at).max();
        let mut enforced: Vec<Timestamp> = true_alerts
            .iter()
            .filter(|alert| alert.enforced)
            .map(|alert| alert.seen_at)
            .collect();
        enforced.sort_unstable();
        let containment = enforced
            .into_iter()
            .find(|at| last_receipt.is_none_or(|last| last < *at));
        let before = |at: Timestamp| containment.is_none_or(|contained| at < contained);
        let receipts = &observed.receipts;
        let mut per_field = BTreeMap::new();
        for field in FIELDS {
            let customers: BTreeSet<&str> = receipts
                .iter()
                .filter(|receipt| receipt.disclosure.fields().contains(field))
                .map(|receipt| receipt.customer_id.as_str())
                .collect();
            if !customers.is_empty() {
                per_field.insert((*field).to_string(), customers.len() as u64);
            }
        }
        Exposure {
            containment,
            customers_before: receipts
                .iter()
                .filter(|receipt| before(receipt.at))
                .map(|receipt| receipt.customer_id.as_str())
                .collect(),
            records_before: receipts.iter().filter(|receipt| before(receipt.at)).count() as u64,
            truth: receipts
                .iter()
                .map(|receipt| receipt.customer_id.clone())
                .collect(),
            plaintext: receipts
                .iter()
                .filter(|receipt| !receipt.disclosure.plaintext.is_empty())
                .map(|receipt| receipt.customer_id.as_str())
                .collect(),
            per_field,
        }
    }
}

/// Each bar of `expect`, met or not.
fn checks(
    expect: &Expectations,
    true_alerts: usize,
    exposed_before: u64,
    scope: &ScopeScore,
) -> Vec<Check> {
    let mut checks = Vec::new();
    if expect.detected {
        checks.push(Check {
            name: "detected".into(),
            bar: "an alert about the attacker".into(),
            value: format!("{true_alerts} alert(s)"),
            passed: true_alerts > 0,
        });
    }
    if let Some(bar) = expect.max_exposed_before_containment {
        checks.push(Check {
            name: "exposed before containment".into(),
            bar: format!("≤ {bar} customers"),
            value: exposed_before.to_string(),
            passed: exposed_before <= bar,
        });
    }
    if scope.not_scored.is_none() {
        checks.push(Check {
            name: "scope precision".into(),
            bar: format!("≥ {}", expect.min_scope_precision),
            value: format!("{:.3}", scope.precision),
            passed: scope.error.is_none() && scope.precision >= expect.min_scope_precision,
        });
        checks.push(Check {
            name: "scope recall".into(),
            bar: format!("≥ {}", expect.min_scope_recall),
            value: format!("{:.3}", scope.recall),
            passed: scope.error.is_none() && scope.recall >= expect.min_scope_recall,
        });
    }
    checks
}

/// One line per report: the scorecard `haechi drill all` prints and the README keeps.
pub fn scorecard(reports: &[Report]) -> String {
    let mut out = String::from(
        "| scenario | customers | first alert | containment | exposed before containment | exposed in all | alerts TP / FP | scope P / R | verdict |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for report in reports {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} / {} | {} | {} |",
            report.scenario,
            report.customers,
            seconds(report.time_to_first_alert_secs),
            seconds(report.time_to_containment_secs),
            report.customers_exposed_before_containment,
            report.customers_exposed,
            report.true_positives.len(),
            report.false_positives.len(),
            match (&report.scope.not_scored, &report.scope.error) {
                (Some(_), _) => "not scored".into(),
                (None, Some(_)) => "not run".into(),
                (None, None) =>
                    format!("{:.2} / {:.2}", report.scope.precision, report.scope.recall),
            },
            match (&report.partial, report.passed) {
                (Some(_), _) => "partial ✗",
                (None, true) => "✓",
                (None, false) => "✗",
            }
        );
    }
    out
}

fn score_scope(scope: Option<&ScopeRun>, truth: &BTreeSet<String>) -> ScopeScore {
    // No alert about the attacker: nothing to scope, so nothing found.
    let nothing = ScopeRun::default();
    let scope = scope.unwrap_or(&nothing);
    if scope.error.is_some() || scope.not_scored.is_some() {
        return ScopeScore {
            alerts: scope.alerts.clone(),
            truth: truth.len() as u64,
            error: scope.error.clone(),
            not_scored: scope.not_scored.clone(),
            ..ScopeScore::default()
        };
    }
    let correct = scope.customers.intersection(truth).count() as u64;
    let found = scope.customers.len() as u64;
    let ratio = |part: u64, whole: u64| {
        if whole == 0 {
            1.0
        } else {
            part as f64 / whole as f64
        }
    };
    ScopeScore {
        alerts: scope.alerts.clone(),
        found,
        truth: truth.len() as u64,
        correct,
        precision: ratio(correct, found),
        recall: ratio(correct, truth.len() as u64),
        error: None,
        not_scored: None,
    }
}

fn seconds(value: Option<f64>) -> String {
    match value {
        None => "never".into(),
        Some(secs) if secs.abs() < 120.0 => format!("{secs:.1} s"),
        Some(secs) if secs.abs() < 7200.0 => format!("{:.1} min", secs / 60.0),
        Some(secs) => format!("{:.1} h", secs / 3600.0),
    }
}

#[cfg(test)]
mod tests;
