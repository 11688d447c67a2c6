//! Every control judged on facts: a deployment that keeps every safeguard meets all of them,
//! and each way of falling short turns exactly its control red (or amber), with a finding that
//! says why.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeMap;

use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};
use haechi_evidence::activity::Activity;
use haechi_evidence::facts::*;
use haechi_evidence::report::{FindingSeverity, Requirement};
use haechi_evidence::review::reviews;
use haechi_evidence::{EvidenceReport, Period, Status, assess};

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn event(time: &str, kind: EventKind, principal: Principal) -> SecurityEvent {
    SecurityEvent::new(at(time), kind, principal)
}

fn service(name: &str) -> Principal {
    Principal::Service(name.into())
}

fn admin(name: &str) -> Principal {
    Principal::Admin(name.into())
}

/// A trail from October to early December 2026: principals created, a key generated, reads
/// with purposes every day, an alert contained within a minute.
fn trail() -> Vec<SecurityEvent> {
    let mut events = vec![
        event(
            "2026-10-01T00:00:00Z",
            EventKind::KeyGenerated,
            admin("ops"),
        )
        .kid("k1"),
        event(
            "2026-10-01T00:00:01Z",
            EventKind::AdminPrincipalCreated,
            admin("ops"),
        )
        .detail("created", "admin:ops"),
        event(
            "2026-10-01T00:00:02Z",
            EventKind::AdminPrincipalCreated,
            admin("ops"),
        )
        .detail("created", "service:shipping"),
    ];
    for day in 1..=30 {
        for month in ["10", "11"] {
            let time = format!("2026-{month}-{day:02}T03:00:00Z");
            events.push(
                event(&time, EventKind::PiiRead, service("shipping"))
                    .customer(format!("c{day}"))
                    .fields(["name", "addresses"])
                    .purpose("shipping")
                    .ip(Some("10.0.0.5".parse().unwrap())),
            );
            events.push(event(&time, EventKind::TokenIssued, admin("ops")));
        }
    }
    events.push(
        event(
            "2026-11-10T01:00:00Z",
            EventKind::AlertRaised,
            Principal::Anonymous,
        )
        .detail("alert_id", "forged/1")
        .detail("rule_id", "haechi.forged_token")
        .detail("severity", "critical"),
    );
    events.push(
        event(
            "2026-11-10T01:00:30Z",
            EventKind::ResponseAction,
            admin("detection"),
        )
        .detail("alert_id", "forged/1")
        .detail("disposition", "enforce")
        .detail("outcome", "applied"),
    );
    events
}

struct Deployment {
    events: Vec<SecurityEvent>,
    facts: Facts,
}

impl Deployment {
    /// Everything kept as the safeguard standard asks; both months reviewed.
    fn healthy() -> Self {
        let mut deployment = Deployment {
            events: trail(),
            facts: facts(Activity::new(period(), 10)),
        };
        deployment.refold();
        for month in ["2026-10", "2026-11"] {
            deployment.acknowledge(month, "2026-12-01T01:00:00Z");
        }
        deployment
    }

    /// Acknowledges `month`'s review as it stands now.
    fn acknowledge(&mut self, month: &str, time: &str) {
        let digest = reviews(&self.facts.activity, self.facts.generated_at)
            .into_iter()
            .find(|review| review.month == month)
            .unwrap()
            .digest;
        self.events.push(
            event(time, EventKind::AccessReviewAcknowledged, admin("ops"))
                .detail("month", month)
                .detail("digest", digest)
                .detail("note", "reviewed"),
        );
        self.refold();
    }

    fn push(&mut self, event: SecurityEvent) {
        self.events.push(event);
        self.events.sort_by_key(|event| event.time);
        self.refold();
    }

    fn refold(&mut self) {
        let mut activity = Activity::new(period(), 10);
        for event in &self.events {
            activity.observe(event);
        }
        self.facts.activity = activity.finish();
    }

    fn report(&self) -> EvidenceReport {
        assess(&self.facts)
    }

    fn requirement(&self, id: &str) -> Requirement {
        self.report()
            .requirements
            .into_iter()
            .find(|requirement| requirement.id == id)
            .unwrap()
    }
}

fn period() -> Period {
    Period::parse("2026-10-01", "2026-11-30").unwrap()
}

fn facts(activity: Activity) -> Facts {
    Facts {
        period: period(),
        generated_at: at("2026-12-02T00:00:00Z"),
        generated_by: "admin:auditor".into(),
        organisation: "해치몰".into(),
        customers: 60_000,
        principals: vec![
            PrincipalFacts {
                principal: "admin:ops".into(),
                privileged: true,
                scopes: vec!["admin".into()],
                created_at: at("2026-10-01T00:00:01Z"),
                suspended_at: None,
            },
            PrincipalFacts {
                principal: "service:shipping".into(),
                privileged: false,
                scopes: vec!["shipping".into()],
                created_at: at("2026-10-01T00:00:02Z"),
                suspended_at: None,
            },
        ],
        grants: vec![GrantFacts {
            service: "shipping".into(),
            purposes: vec!["shipping".into()],
            fields: vec!["name".into(), "addresses".into()],
            access: "plaintext".into(),
        }],
        authentication: AuthenticationFacts {
            failures_per_account: 5,
            attempts_per_source: 60,
            window_secs: 900,
            access_ttl_secs: 900,
            refresh_ttl_secs: 86_400,
            password_memory_kib: 19_456,
            password_iterations: 2,
            password_parallelism: 1,
        },
        cryptography: CryptographyFacts {
            fields: vec![FieldProtection {
                field: "name".into(),
                encryption: "AES-256-GCM".into(),
                blind_index: false,
            }],
            blind_index_bits: 24,
            scan: ScanResult {
                files: 12,
                bytes: 1 << 20,
                ..ScanResult::default()
            },
            master_key_source: MasterKeySource::Environment,
            signing_keys: vec![SigningKeyFacts {
                kid: "k2".into(),
                algorithm: "EdDSA".into(),
                state: "active".into(),
                created_at: at("2026-11-20T00:00:00Z"),
                imported: false,
                ended_at: None,
            }],
            rotation_interval_days: 90,
            named_secrets: vec!["audit-checkpoint-key".into()],
        },
        audit: AuditFacts {
            retention_days: None,
            archive_configured: false,
            witness_configured: true,
            chain: ChainFacts {
                records: 130,
                last_seq: 130,
                checkpoints: 40,
                last_signed_seq: 130,
                witness_matched: Some(40),
                witness_unreadable: None,
                problems: Vec::new(),
            },
            oldest_record: Some(at("2026-10-01T00:00:00Z")),
            cluster_node: false,
        },
        activity,
        drills: DrillFacts {
            directory: Some("/srv/drills".into()),
            runs: vec![DrillRun {
                scenario: "coupang".into(),
                run_at: at("2026-11-15T00:00:00Z"),
                passed: true,
                time_to_first_alert_secs: Some(2.0),
                time_to_containment_secs: Some(3.0),
                customers_exposed_before_containment: 4,
                digest: "ab".repeat(32),
            }],
            unreadable: Vec::new(),
        },
        bulk_read_customers: 10,
    }
}

fn statuses(report: &EvidenceReport) -> BTreeMap<String, Status> {
    report
        .requirements
        .iter()
        .map(|requirement| (requirement.id.clone(), requirement.status))
        .collect()
}

#[test]
fn a_deployment_that_keeps_every_safeguard_meets_every_control() {
    let deployment = Deployment::healthy();
    let report = deployment.report();
    for requirement in &report.requirements {
        assert_eq!(
            requirement.status,
            Status::Met,
            "{} {}: {:?}",
            requirement.id,
            requirement.status_reason,
            requirement.findings
        );
        assert!(
            !requirement.evidence.is_empty(),
            "{} shows evidence",
            requirement.id
        );
        assert!(!requirement.attributes.related_regulations.is_empty());
    }
    assert_eq!(report.summary.met as usize, report.requirements.len());
    let ids: Vec<&str> = report.requirements.iter().map(|r| r.id.as_str()).collect();
    for id in [
        "2.5.1", "2.5.3", "2.5.4", "2.5.5", "2.5.6", "2.7.1", "2.7.2", "2.9.4", "2.9.5", "2.11.4",
        "2.11.5",
    ] {
        assert!(ids.contains(&id), "{id} is in the report");
    }
    assert_eq!(report.figures.len(), 3);
    assert!(
        report
            .figures
            .iter()
            .all(|figure| figure.svg.starts_with("<svg"))
    );
    assert_eq!(report.reviews.len(), 2);
    assert!(report.reviews.iter().all(|review| {
        review
            .acknowledged
            .as_ref()
            .is_some_and(|ack| ack.digest_matches)
    }));
}

/// Only `id` changed from met, to `status`, with a finding containing `words`.
fn only(deployment: &Deployment, id: &str, status: Status, words: &str) {
    let report = deployment.report();
    for (other, found) in statuses(&report) {
        if other == id {
            let requirement = deployment.requirement(id);
            assert_eq!(found, status, "{id}: {}", requirement.status_reason);
            assert!(
                requirement
                    .findings
                    .iter()
                    .any(|finding| finding.text.contains(words)),
                "{id}: no finding with {words:?} in {:?}",
                requirement.findings
            );
            assert!(
                requirement.status_reason.contains(words),
                "{}",
                requirement.status_reason
            );
        } else if !(id == "2.9.5" && other == "2.5.6" || id == "2.5.6" && other == "2.9.5") {
            assert_eq!(
                found,
                Status::Met,
                "{other} stays met when {id} falls short"
            );
        }
    }
}

#[test]
fn plaintext_in_the_data_directory_fails_encryption() {
    let mut deployment = Deployment::healthy();
    deployment.facts.cryptography.scan.hits.push(ScanHit {
        file: "exports/customers.csv".into(),
        kinds: BTreeMap::from([("mobile".to_string(), 3)]),
    });
    only(
        &deployment,
        "2.7.1",
        Status::NotMet,
        "exports/customers.csv",
    );
}

#[test]
fn a_master_key_beside_the_data_and_an_overdue_key_fail_key_management() {
    let mut deployment = Deployment::healthy();
    deployment.facts.audit.oldest_record = Some(at("2026-06-01T00:00:00Z"));
    deployment.facts.cryptography.signing_keys[0].created_at = at("2026-07-01T00:00:00Z");
    only(
        &deployment,
        "2.7.2",
        Status::Partly,
        "past its 90-day rotation",
    );
    deployment.facts.cryptography.master_key_source = MasterKeySource::GeneratedInDataDir;
    only(
        &deployment,
        "2.7.2",
        Status::NotMet,
        "beside what it protects",
    );
}

#[test]
fn a_large_company_pruning_after_200_days_fails_record_keeping() {
    let mut deployment = Deployment::healthy();
    deployment.facts.audit.retention_days = Some(200);
    let report = deployment.report();
    assert_eq!(statuses(&report)["2.9.4"], Status::NotMet);
    assert!(
        deployment
            .requirement("2.9.4")
            .status_reason
            .contains("730 are required")
    );
    // Grant history is pruned too: art. 5 asks for three years.
    assert_eq!(statuses(&report)["2.5.1"], Status::NotMet);
    // With an archive, pruning keeps every record.
    deployment.facts.audit.archive_configured = true;
    assert!(
        statuses(&deployment.report())
            .values()
            .all(|status| *status == Status::Met)
    );
    // A small company needs one year.
    deployment.facts.audit.archive_configured = false;
    deployment.facts.audit.retention_days = Some(400);
    deployment.facts.customers = 10_000;
    assert_eq!(statuses(&deployment.report())["2.9.4"], Status::Met);
}

#[test]
fn a_trail_that_begins_after_the_store_lost_its_start() {
    let mut deployment = Deployment::healthy();
    deployment.facts.audit.oldest_record = Some(at("2026-11-01T00:00:00Z"));
    let requirement = deployment.requirement("2.9.4");
    assert_eq!(
        requirement.status,
        Status::NotMet,
        "{}",
        requirement.status_reason
    );
    assert!(
        requirement
            .status_reason
            .contains("records of its start are missing")
    );
    // A cluster node's chain is its own: the store's oldest facts may be another node's.
    deployment.facts.audit.cluster_node = true;
    assert_ne!(deployment.requirement("2.9.4").status, Status::NotMet);
}

#[test]
fn masked_reads_are_accesses_and_a_customer_reading_another_is_seen() {
    let mut activity = Activity::new(period(), 10);
    for customer in 0..12 {
        activity.observe(
            &event(
                "2026-11-05T02:00:00Z",
                EventKind::PiiRead,
                service("support"),
            )
            .customer(format!("m{customer}"))
            .purpose("support")
            .outcome(Decision::Mask, 200),
        );
    }
    activity.observe(
        &event(
            "2026-11-05T03:00:00Z",
            EventKind::PiiRead,
            Principal::Customer("c1".into()),
        )
        .customer("c2"),
    );
    let activity = activity.finish();
    let november = reviews(&activity, at("2026-12-02T00:00:00Z")).remove(1);
    assert_eq!(november.refused, 0);
    assert!(
        november
            .principals
            .iter()
            .any(|line| line.principal == "service:support" && line.accesses == 12)
    );
    assert!(
        november
            .principals
            .iter()
            .any(|line| line.principal == "customer:c1")
    );
    assert_eq!(
        november.bulk_reads.len(),
        1,
        "twelve customers masked is a bulk read of twelve"
    );
    assert!(activity.last_used.contains_key("service:support"));
}

#[test]
fn bulk_reads_are_decided_day_by_day_across_a_long_period() {
    // Thirty days of one service reading twelve customers a day: thirty bulk reads, while the
    // fold holds two days at a time.
    let mut activity = Activity::new(period(), 10);
    for day in 1..=30 {
        for customer in 0..12 {
            activity.observe(
                &event(
                    &format!("2026-11-{day:02}T05:00:00Z"),
                    EventKind::PiiRead,
                    service("shipping"),
                )
                .customer(format!("d{day}c{customer}"))
                .purpose("shipping"),
            );
        }
    }
    let activity = activity.finish();
    let november = reviews(&activity, at("2026-12-02T00:00:00Z")).remove(1);
    assert_eq!(november.bulk_reads.len(), 30);
    assert!(
        november
            .bulk_reads
            .iter()
            .all(|read| read.customers == 12 && read.without_purpose == 0)
    );
}

#[test]
fn a_witness_that_cannot_be_read_back_is_a_gap() {
    let mut deployment = Deployment::healthy();
    deployment.facts.audit.chain.witness_matched = None;
    deployment.facts.audit.chain.witness_unreadable =
        Some("http:// witnesses cannot be read back".into());
    only(
        &deployment,
        "2.9.4",
        Status::Partly,
        "could not be read back",
    );
}

#[test]
fn a_broken_chain_fails_record_keeping() {
    let mut deployment = Deployment::healthy();
    deployment
        .facts
        .audit
        .chain
        .problems
        .push("seq 57: hash does not match".into());
    only(&deployment, "2.9.4", Status::NotMet, "seq 57");
}

#[test]
fn an_unacknowledged_month_is_partly_and_no_review_at_all_is_not_met() {
    let mut deployment = Deployment::healthy();
    deployment.events.retain(|event| {
        !(event.kind == EventKind::AccessReviewAcknowledged && event.detail["month"] == "2026-11")
    });
    deployment.refold();
    only(
        &deployment,
        "2.9.5",
        Status::Partly,
        "2026-11: the access review was not acknowledged",
    );
    assert_eq!(deployment.requirement("2.5.6").status, Status::Partly);
    deployment
        .events
        .retain(|event| event.kind != EventKind::AccessReviewAcknowledged);
    deployment.refold();
    only(
        &deployment,
        "2.9.5",
        Status::NotMet,
        "None of the 2 closed months",
    );
}

#[test]
fn an_acknowledgement_of_a_summary_that_changed_no_longer_counts() {
    let mut deployment = Deployment::healthy();
    // A read recorded into November after its review was acknowledged.
    deployment.push(
        event(
            "2026-11-29T05:00:00Z",
            EventKind::PiiRead,
            service("shipping"),
        )
        .customer("c999")
        .fields(["name"])
        .purpose("shipping")
        .ip(Some("10.0.0.5".parse().unwrap())),
    );
    only(
        &deployment,
        "2.9.5",
        Status::Partly,
        "differs from the trail now",
    );
}

#[test]
fn a_bulk_read_without_a_purpose_is_a_download_without_a_reason() {
    let mut deployment = Deployment::healthy();
    for customer in 0..12 {
        deployment.events.push(
            event("2026-11-20T05:00:00Z", EventKind::PiiRead, admin("ops"))
                .customer(format!("bulk{customer}"))
                .fields(["phone"])
                .ip(Some("10.0.0.9".parse().unwrap())),
        );
    }
    deployment.refold();
    // The months' summaries changed: acknowledge them again, as a reviewer would.
    deployment
        .events
        .retain(|event| event.kind != EventKind::AccessReviewAcknowledged);
    deployment.refold();
    for month in ["2026-10", "2026-11"] {
        deployment.acknowledge(month, "2026-12-01T02:00:00Z");
    }
    only(
        &deployment,
        "2.9.5",
        Status::Partly,
        "admin:ops read 12 customers on 2026-11-20",
    );
    let review = deployment
        .report()
        .reviews
        .into_iter()
        .find(|r| r.month == "2026-11")
        .unwrap();
    assert_eq!(review.bulk_reads, 1);
}

#[test]
fn an_unanswered_critical_alert_is_a_gap_in_incident_response() {
    let mut deployment = Deployment::healthy();
    deployment
        .events
        .retain(|event| event.kind != EventKind::ResponseAction);
    deployment.refold();
    only(
        &deployment,
        "2.11.5",
        Status::Partly,
        "neither acknowledged nor contained",
    );
    // Answered after the period ended still counts as answered.
    deployment.push(
        event(
            "2026-12-01T09:00:00Z",
            EventKind::AdminConfigChanged,
            admin("ops"),
        )
        .detail("change", "alert.ack")
        .detail("alert_id", "forged/1"),
    );
    assert_eq!(deployment.requirement("2.11.5").status, Status::Met);
    // Ten thousand low alerts do not hide one critical alert nobody answered.
    let mut deployment = Deployment::healthy();
    for index in 0..10_000 {
        deployment.events.push(
            event(
                "2026-11-11T00:00:00Z",
                EventKind::AlertRaised,
                Principal::Anonymous,
            )
            .detail("alert_id", format!("noise/{index}"))
            .detail("rule_id", "haechi.noise")
            .detail("severity", "low"),
        );
    }
    deployment.events.push(
        event(
            "2026-11-12T00:00:00Z",
            EventKind::AlertRaised,
            Principal::Anonymous,
        )
        .detail("alert_id", "late/1")
        .detail("rule_id", "haechi.forged_token")
        .detail("severity", "critical"),
    );
    deployment.refold();
    assert_eq!(
        deployment.facts.activity.alerts.omitted, 2,
        "past the listed bound"
    );
    let response = deployment.requirement("2.11.5");
    assert_eq!(
        response.status,
        Status::Partly,
        "{}",
        response.status_reason
    );
}

#[test]
fn drills_must_be_on_record_and_passed() {
    let mut deployment = Deployment::healthy();
    deployment.facts.drills.runs[0].passed = false;
    only(
        &deployment,
        "2.11.4",
        Status::Partly,
        "coupang drill failed",
    );
    deployment.facts.drills.runs[0].run_at = at("2025-06-01T00:00:00Z");
    only(
        &deployment,
        "2.11.4",
        Status::NotMet,
        "No drill in the last 365 days",
    );
    deployment.facts.drills = DrillFacts::default();
    only(
        &deployment,
        "2.11.4",
        Status::NotMet,
        "No drill reports are on record",
    );
}

#[test]
fn weak_password_hashing_and_switched_off_limits_fail_authentication() {
    let mut deployment = Deployment::healthy();
    deployment.facts.authentication.password_memory_kib = 4096;
    deployment.facts.authentication.password_iterations = 1;
    only(
        &deployment,
        "2.5.4",
        Status::NotMet,
        "below OWASP's minimum",
    );
    let mut deployment = Deployment::healthy();
    deployment.facts.authentication.failures_per_account = 50;
    only(
        &deployment,
        "2.5.3",
        Status::Partly,
        "only after 50 failures",
    );
    deployment.facts.authentication.failures_per_account = 0;
    only(&deployment, "2.5.3", Status::NotMet, "switched off");
}

#[test]
fn dormant_and_unrecorded_accounts_and_blanket_grants_fall_short() {
    let mut deployment = Deployment::healthy();
    deployment.facts.principals.push(PrincipalFacts {
        principal: "service:marketing".into(),
        privileged: false,
        scopes: vec!["ads".into()],
        created_at: at("2026-10-05T00:00:00Z"),
        suspended_at: None,
    });
    only(
        &deployment,
        "2.5.1",
        Status::NotMet,
        "service:marketing exists but its creation is not in the audit trail",
    );
    deployment.push(
        event(
            "2026-10-05T00:00:00Z",
            EventKind::AdminPrincipalCreated,
            admin("ops"),
        )
        .detail("created", "service:marketing"),
    );
    // Recorded now, but never used: dormant once a quarter has passed.
    deployment.facts.generated_at = at("2027-01-10T00:00:00Z");
    let finding = deployment
        .requirement("2.5.1")
        .findings
        .into_iter()
        .find(|finding| finding.text.contains("service:marketing"))
        .unwrap();
    assert_eq!(finding.severity, FindingSeverity::Gap, "{}", finding.text);
    assert!(finding.text.contains("dormant"));

    let mut deployment = Deployment::healthy();
    deployment.facts.grants.push(GrantFacts {
        service: "*".into(),
        purposes: vec!["*".into()],
        fields: vec!["*".into()],
        access: "plaintext".into(),
    });
    only(
        &deployment,
        "2.5.1",
        Status::Partly,
        "in plaintext for any purpose",
    );
}

#[test]
fn a_period_before_any_month_ends_has_no_review_due() {
    let mut deployment = Deployment::healthy();
    deployment.facts.generated_at = at("2026-10-20T00:00:00Z");
    deployment
        .events
        .retain(|event| event.time < deployment.facts.generated_at);
    deployment.refold();
    let report = deployment.report();
    assert_eq!(statuses(&report)["2.9.5"], Status::NotApplicable);
    assert_eq!(statuses(&report)["2.5.6"], Status::NotApplicable);
}

#[test]
fn the_report_names_no_customer() {
    let deployment = Deployment::healthy();
    let json = serde_json::to_string(&deployment.report()).unwrap();
    for day in 1..=30 {
        assert!(
            !json.contains(&format!("\"c{day}\"")),
            "customer c{day} named"
        );
    }
    let _: EvidenceReport = serde_json::from_str(&json).unwrap();
}

#[test]
fn the_review_digest_is_stable_and_changes_with_the_month() {
    let deployment = Deployment::healthy();
    let first = reviews(&deployment.facts.activity, deployment.facts.generated_at);
    let again = reviews(&deployment.facts.activity, deployment.facts.generated_at);
    assert_eq!(first, again);
    assert_ne!(first[0].digest, first[1].digest);
    assert_eq!(first[0].digest.len(), 64);
    // Records of an unrelated kind leave the review alone.
    let mut deployment = Deployment::healthy();
    deployment.push(event(
        "2026-11-03T00:00:00Z",
        EventKind::Logout,
        Principal::Customer("x".into()),
    ));
    assert_eq!(
        reviews(&deployment.facts.activity, deployment.facts.generated_at),
        first
    );
    // A read refused does not count as an access but is counted as refused.
    deployment.push(
        event(
            "2026-11-03T00:00:00Z",
            EventKind::PiiRead,
            service("shipping"),
        )
        .customer("c1")
        .outcome(Decision::Deny, 403),
    );
    let after = reviews(&deployment.facts.activity, deployment.facts.generated_at);
    assert_eq!(after[1].refused, 1);
    assert_ne!(after[1].digest, first[1].digest);
}

#[test]
fn a_closed_month_that_changed_after_the_job_pinned_it_is_a_gap() {
    let mut deployment = Deployment::healthy();
    let november = deployment.report().reviews[1].digest.clone();
    deployment.push(
        event(
            "2026-12-01T00:00:00Z",
            EventKind::AccessReviewPrepared,
            admin("review-job"),
        )
        .detail("month", "2026-11")
        .detail("digest", "0".repeat(64)),
    );
    only(
        &deployment,
        "2.9.5",
        Status::Partly,
        "differs from the one the review job recorded",
    );
    let entry = deployment.report().reviews[1].clone();
    assert_eq!(
        entry.prepared_digest.as_deref(),
        Some("0".repeat(64).as_str())
    );
    assert_eq!(entry.digest, november);
}

#[test]
fn customers_reading_their_own_records_are_one_line_whatever_their_number() {
    let mut activity = Activity::new(period(), 10);
    for customer in 0..20_000 {
        activity.observe(
            &event(
                "2026-11-05T02:00:00Z",
                EventKind::PiiRead,
                Principal::Customer(format!("c{customer}")),
            )
            .customer(format!("c{customer}"))
            .fields(["name"]),
        );
    }
    let activity = activity.finish();
    assert_eq!(activity.daily.len(), 1);
    assert_eq!(
        activity.daily["customers (own records)"]
            .iter()
            .sum::<u64>(),
        20_000
    );
    assert!(
        activity.last_used.is_empty(),
        "customers are not accounts to review"
    );
    let november = reviews(&activity, at("2026-12-02T00:00:00Z")).remove(1);
    assert_eq!(november.principals.len(), 1);
    assert_eq!(november.principals[0].accesses, 20_000);
    assert!(
        november.bulk_reads.is_empty(),
        "a customer reading their own record is no download"
    );
}

#[test]
fn a_clock_that_steps_ahead_does_not_stop_days_being_decided() {
    let mut activity = Activity::new(period(), 10);
    let read = |time: &str, customer: String| {
        event(time, EventKind::PiiRead, service("shipping"))
            .customer(customer)
            .purpose("shipping")
    };
    // One record dated far ahead, then the month goes on as usual, then a record of an early
    // day arrives late.
    activity.observe(&read("2026-11-28T05:00:00Z", "ahead".into()));
    for day in 2..=20 {
        for customer in 0..12 {
            activity.observe(&read(
                &format!("2026-11-{day:02}T05:00:00Z"),
                format!("d{day}c{customer}"),
            ));
        }
    }
    activity.observe(&read("2026-11-03T05:00:00Z", "late".into()));
    let activity = activity.finish();
    let november = reviews(&activity, at("2026-12-02T00:00:00Z")).remove(1);
    assert_eq!(november.bulk_reads.len(), 19, "{:?}", november.bulk_reads);
    let third = november
        .bulk_reads
        .iter()
        .find(|read| read.day == "2026-11-03")
        .unwrap();
    assert_eq!(third.customers, 12, "the late record's day is one line");
}
