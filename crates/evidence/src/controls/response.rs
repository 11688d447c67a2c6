//! 2.11 사고 예방 및 대응 — breach drills, and how alerts were answered.

use std::collections::BTreeMap;

use super::{Assessment, Control, days_between};
use crate::activity::AlertFacts;
use crate::facts::Facts;
use crate::period::kst_minute;

const SUBDOMAIN: &str = "2.11. 사고 예방 및 대응 (Incident prevention and response)";

/// ISMS-P 2.11.4: at least one drill a year.
const DRILL_EVERY_DAYS: u64 = 365;

pub(super) const DRILLS: Control = Control {
    id: "2.11.4",
    name: "사고 대응 훈련 및 개선 (Incident response drills)",
    description: "침해사고 및 개인정보 유출사고 대응 절차를 임직원과 이해관계자가 숙지하도록 시나리오에 \
        따른 모의훈련을 연 1회 이상 실시하고 훈련결과를 반영하여 대응체계를 개선하여야 한다. (Drill \
        breach scenarios at least once a year and improve the response from the results.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "연 1회 이상 시나리오 기반 모의훈련을 실시하는가 (a scenario drill at least yearly)",
        "훈련 결과가 기록되고 개선에 반영되는가 (results recorded and acted upon)",
    ],
    regulations: &["개인정보 보호법 제34조 (breach notification and response)"],
    audit_evidence: &["훈련 보고서: 일자, 시나리오, 탐지·차단 시간, 노출 규모 (drill reports)"],
    non_compliance: &["모의훈련 미실시 또는 결과 미기록 (no drill, or no record of it)"],
    assess: assess_drills,
};

pub(super) const INCIDENT_RESPONSE: Control = Control {
    id: "2.11.5",
    name: "사고 대응 및 복구 (Incident response and recovery)",
    description: "침해사고 및 개인정보 유출 징후나 발생을 인지한 때에는 법적 통지 및 신고 의무를 \
        준수하여야 하며, 절차에 따라 신속하게 대응 및 복구하고 재발방지 대책을 수립하여야 한다. \
        (On signs of a breach, respond and recover quickly by procedure and meet the duties to \
        notify.)",
    subdomain: SUBDOMAIN,
    checklist: &[
        "이상 징후가 탐지되어 경보되는가 (signs of a breach detected and alerted)",
        "경보에 대한 확인·차단이 신속한가 (alerts acknowledged and contained quickly)",
        "유출 모니터링(유출 감시)이 수행되는가 (leaks watched for)",
    ],
    regulations: &[
        "개인정보 보호법 제34조 (notification within 72 hours)",
        "개인정보의 안전성 확보조치 기준 제8조 제2항 (acting on what the check finds)",
    ],
    audit_evidence: &[
        "경보 목록과 확인·차단 시각 (alerts with acknowledgement and containment times)",
        "유출 감시 결과 (leak-watch matches)",
    ],
    non_compliance: &["심각한 경보가 확인·조치되지 않음 (severe alerts never answered)"],
    assess: assess_response,
};

fn seconds(secs: Option<f64>) -> String {
    secs.map_or_else(|| "—".into(), |secs| format!("{secs:.1} s"))
}

fn assess_drills(facts: &Facts) -> Assessment {
    let drills = &facts.drills;
    let mut assessment = Assessment::default();
    assessment.table(
        "모의훈련 / Drills on record",
        &[
            "run",
            "scenario",
            "result",
            "first alert",
            "contained",
            "customers exposed before containment",
            "report SHA-256",
        ],
        drills
            .runs
            .iter()
            .rev()
            .map(|run| {
                vec![
                    kst_minute(run.run_at),
                    run.scenario.clone(),
                    if run.passed { "passed" } else { "FAILED" }.into(),
                    seconds(run.time_to_first_alert_secs),
                    seconds(run.time_to_containment_secs),
                    run.customers_exposed_before_containment.to_string(),
                    run.digest.chars().take(16).collect(),
                ]
            })
            .collect(),
        drills.directory.as_deref().map_or(
            "no drill reports directory configured",
            |_| "drill reports (report.json)",
        ),
    );
    let Some(directory) = &drills.directory else {
        assessment.failure(
            "No drill reports are on record: configure [evidence] drill_reports to the directory \
             `haechi drill --out` writes.",
        );
        return assessment;
    };
    let recent: Vec<_> = drills
        .runs
        .iter()
        .filter(|run| days_between(run.run_at, facts.generated_at) <= DRILL_EVERY_DAYS)
        .collect();
    if recent.is_empty() {
        assessment.failure(format!(
            "No drill in the last {DRILL_EVERY_DAYS} days in {directory}."
        ));
    }
    for problem in &drills.unreadable {
        assessment.gap(format!("A drill report could not be read: {problem}."));
    }
    // A scenario that failed and was never passed again is an open improvement.
    let mut last_by_scenario: BTreeMap<&str, bool> = BTreeMap::new();
    for run in &recent {
        last_by_scenario.insert(&run.scenario, run.passed);
    }
    for (scenario, passed) in &last_by_scenario {
        if !passed {
            assessment.gap(format!(
                "The last {scenario} drill failed a bar and has not been passed since."
            ));
        }
    }
    assessment.met_because = format!(
        "{} drills in the last year ({}), the last run of each scenario passed.",
        recent.len(),
        last_by_scenario
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    assessment
}

fn response_secs(alert: &AlertFacts, at: Option<haechi_events::Timestamp>) -> Option<f64> {
    at.map(|at| at.since(alert.raised_at).as_secs_f64())
}

fn assess_response(facts: &Facts) -> Assessment {
    let alerts = &facts.activity.alerts;
    let mut assessment = Assessment::default();
    assessment.table(
        "경보와 대응 / Alerts and how they were answered",
        &[
            "raised",
            "rule",
            "severity",
            "acknowledged after",
            "contained after",
        ],
        alerts
            .items
            .iter()
            .map(|alert| {
                vec![
                    kst_minute(alert.raised_at),
                    alert.rule.clone(),
                    alert.severity.clone(),
                    seconds(response_secs(alert, alert.acknowledged_at)),
                    seconds(response_secs(alert, alert.contained_at)),
                ]
            })
            .collect(),
        "audit trail: alert.raised, admin.config_changed (alert.ack), response.action",
    );
    // Judged from every high and critical alert, listed or not.
    let unanswered: Vec<&AlertFacts> = facts
        .activity
        .severe
        .values()
        .filter(|alert| alert.acknowledged_at.is_none() && alert.contained_at.is_none())
        .collect();
    if facts.activity.severe_omitted > 0 {
        assessment.gap(format!(
            "{} high or critical alerts beyond the {} judged one by one were not judged.",
            facts.activity.severe_omitted,
            crate::activity::SEVERE_CAP
        ));
    }
    let mut by_rule: BTreeMap<&str, u64> = BTreeMap::new();
    for alert in &unanswered {
        *by_rule.entry(&alert.rule).or_default() += 1;
    }
    for (rule, count) in by_rule {
        assessment.gap(format!(
            "{count} high or critical {rule} alerts were neither acknowledged nor contained."
        ));
    }
    let passes = &facts.activity.leak_passes;
    assessment.table(
        "유출 감시 / Leak-watch passes",
        &["ended", "by", "source", "rows", "customers matched"],
        passes
            .items
            .iter()
            .map(|pass| {
                vec![
                    kst_minute(pass.at),
                    pass.by.clone(),
                    pass.source.clone(),
                    pass.rows.to_string(),
                    pass.customers.to_string(),
                ]
            })
            .collect(),
        "audit trail: leak.pass_completed",
    );
    let matches = &facts.activity.leak_matches;
    assessment.table(
        "유출 매칭 / Leak-watch matches",
        &["day", "source", "customers matched"],
        matches
            .iter()
            .map(|((source, day), count)| vec![day.clone(), source.clone(), count.to_string()])
            .collect(),
        "audit trail: leak.matched",
    );
    if passes.items.is_empty() {
        assessment.note(
            "No leak-watch pass ended in the period: no dump was matched against the vault \
             (haechi leak match).",
        );
    }
    let answered = facts.activity.severe.len() - unanswered.len();
    assessment.met_because = if alerts.items.is_empty() {
        "No alert was raised in the period; detection ran over every record.".into()
    } else {
        format!(
            "{} alerts in the period; every high and critical one ({answered}) was acknowledged \
             or contained.",
            alerts.total()
        )
    };
    if alerts.omitted > 0 {
        assessment.note(format!(
            "{} further alerts are counted but not listed.",
            alerts.omitted
        ));
    }
    assessment
}
