//! The report as Markdown: the summary, the measures, the bar and the alerts.

use std::fmt::Write as _;

use super::{Report, seconds};

impl Report {
    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed { "PASSED" } else { "FAILED" };
        let _ = writeln!(out, "# Drill `{}`: {verdict}\n", self.scenario);
        if let Some(partial) = &self.partial {
            let _ = writeln!(out, "**Partial report**: {partial}\n");
        }
        let _ = writeln!(out, "{}\n", self.description);
        let _ = writeln!(
            out,
            "Drilled: {}. Seed {}, {} customers; simulated {} → {} (attack from {}); {:.1} s of real time, \
             {} audit events ({:.0}/s), {:.0} requests/s one at a time (sequential \
             `GET /healthz` in the same run: {:.0}/s).\n",
            self.deployment,
            self.seed,
            self.customers,
            self.simulated_start,
            self.simulated_end,
            self.attack_start,
            self.wall_seconds,
            self.audit_events,
            self.events_per_second,
            self.requests_per_second,
            self.baseline_requests_per_second
        );
        self.write_measures(&mut out);
        self.write_bar(&mut out);
        self.write_alerts(&mut out);
        out
    }

    /// The table of measures.
    fn write_measures(&self, out: &mut String) {
        let _ = writeln!(out, "| measure | value |\n|---|---|");
        for (name, value) in self.measures() {
            let _ = writeln!(out, "| {name} | {value} |");
        }
    }

    /// Every measure of the drill, named once: the Markdown, the page and the timeline's labels
    /// all take their figures from here (and the JSON holds the same values).
    pub(crate) fn measures(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "time to first alert",
                seconds(self.time_to_first_alert_secs),
            ),
            (
                "time to containment",
                seconds(self.time_to_containment_secs),
            ),
            (
                "customers exposed before containment",
                self.customers_exposed_before_containment.to_string(),
            ),
            (
                "records exposed before containment",
                self.records_exposed_before_containment.to_string(),
            ),
            (
                "customers exposed in all (of them in plaintext)",
                format!(
                    "{} ({})",
                    self.customers_exposed, self.customers_exposed_plaintext
                ),
            ),
            (
                "exposed per field",
                if self.exposed_per_field.is_empty() {
                    "—".into()
                } else {
                    self.exposed_per_field
                        .iter()
                        .map(|(field, count)| format!("{field} {count}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            ),
            (
                "attacker requests (refused)",
                format!("{} ({})", self.attacker_requests, self.attacker_refused),
            ),
            (
                "attacker reads",
                format!(
                    "{} received data, {} refused",
                    self.timeline.attacker_reads_received, self.timeline.attacker_reads_refused
                ),
            ),
            (
                "attacker gave up",
                self.attacker_gave_up_at
                    .clone()
                    .unwrap_or_else(|| "no".into()),
            ),
            (
                "legitimate requests (refused after containment)",
                format!(
                    "{} ({})",
                    self.normal_requests, self.normal_refused_after_containment
                ),
            ),
            (
                "legitimate reads",
                self.timeline.legitimate_reads.to_string(),
            ),
            (
                "alerts: true / false positives",
                format!(
                    "{} / {}",
                    self.true_positives.len(),
                    self.false_positives.len()
                ),
            ),
            (
                "scope precision / recall",
                match (&self.scope.not_scored, &self.scope.error) {
                    (Some(reason), _) => format!("not scored: {reason}"),
                    (None, Some(error)) => format!("not run: {error}"),
                    (None, None) => format!(
                        "{:.3} / {:.3} ({} found, {} true)",
                        self.scope.precision, self.scope.recall, self.scope.found, self.scope.truth
                    ),
                },
            ),
            ("for comparison", self.versus_coupang.clone()),
        ]
    }

    /// Each check of the bar, met or not.
    fn write_bar(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "\n## Bar\n\n| check | bar | value | |\n|---|---|---|---|"
        );
        for check in &self.checks {
            let mark = if check.passed { "✓" } else { "✗" };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {mark} |",
                check.name, check.bar, check.value
            );
        }
    }

    /// The alerts about the attacker and about legitimate traffic, 50 of each at most.
    fn write_alerts(&self, out: &mut String) {
        for (title, alerts) in [
            ("Alerts about the attacker", &self.true_positives),
            ("Alerts about legitimate traffic", &self.false_positives),
        ] {
            let _ = writeln!(out, "\n## {title}\n");
            if alerts.is_empty() {
                let _ = writeln!(out, "None.");
                continue;
            }
            let _ = writeln!(
                out,
                "| seen (s after attack start) | rule | severity | group | actions |\n|---|---|---|---|---|"
            );
            for alert in alerts.iter().take(50) {
                let _ = writeln!(
                    out,
                    "| {:.1} | `{}` | {} | `{}` | {} |",
                    alert.seen_after_attack_secs,
                    alert.rule_id,
                    alert.severity,
                    alert.group_key,
                    if alert.actions.is_empty() {
                        "—".into()
                    } else {
                        alert.actions.join("; ")
                    }
                );
            }
            if alerts.len() > 50 {
                let _ = writeln!(
                    out,
                    "\n… and {} more (see the JSON report).",
                    alerts.len() - 50
                );
            }
        }
    }
}
