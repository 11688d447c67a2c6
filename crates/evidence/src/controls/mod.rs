//! The controls: each one's place in ISMS-P 2023 and the PIPA safeguard standard, what an
//! auditor checks, and the judgement of the live facts.
//!
//! One file per ISMS-P subdomain; each control is one [`Control`] value in its file and one
//! line in [`CONTROLS`]. A judgement returns findings; the status follows from them (a failure
//! → not met, a gap → partly), so a status can never say more than its findings allow.

mod access_records;
mod accounts;
mod authentication;
mod cryptography;
mod response;

use crate::facts::Facts;
use crate::report::{
    EvidenceItem, Finding, FindingSeverity, Requirement, RequirementAttributes, Status, Table,
};

/// Rows a table in the report lists; the rest are counted, and findings are judged from all.
pub const TABLE_ROWS: usize = 200;

/// A control of the catalogue.
pub struct Control {
    /// ISMS-P 2023 control id.
    pub id: &'static str,
    /// Korean name / English name.
    pub name: &'static str,
    /// The control's requirement, quoted.
    pub description: &'static str,
    /// `2.5. 인증 및 권한관리` …
    pub subdomain: &'static str,
    /// What the auditor checks.
    pub checklist: &'static [&'static str],
    /// PIPA safeguard standard articles (and other laws) it implements.
    pub regulations: &'static [&'static str],
    /// The evidence an auditor asks for.
    pub audit_evidence: &'static [&'static str],
    /// Typical non-compliance cases.
    pub non_compliance: &'static [&'static str],
    /// The judgement.
    pub assess: fn(&Facts) -> Assessment,
}

/// Every control, in ISMS-P order.
pub const CONTROLS: &[&Control] = &[
    &accounts::USER_ACCOUNTS,
    &authentication::USER_AUTHENTICATION,
    &authentication::PASSWORDS,
    &accounts::PRIVILEGED_ACCOUNTS,
    &accounts::ACCESS_RIGHTS_REVIEW,
    &cryptography::CRYPTOGRAPHIC_POLICY,
    &cryptography::KEY_MANAGEMENT,
    &access_records::RECORD_KEEPING,
    &access_records::RECORD_REVIEW,
    &response::DRILLS,
    &response::INCIDENT_RESPONSE,
];

/// A judgement: the evidence shown and what falls short.
#[derive(Debug, Default)]
pub struct Assessment {
    /// What the system shows.
    pub evidence: Vec<EvidenceItem>,
    /// What falls short.
    pub findings: Vec<Finding>,
    /// Why it is met, in one sentence (used when nothing falls short).
    pub met_because: String,
    /// Set when the control does not apply, with why.
    pub not_applicable: Option<String>,
}

impl Assessment {
    pub(crate) fn text(&mut self, title: &str, text: impl Into<String>, source: &str) {
        self.evidence.push(EvidenceItem {
            title: title.into(),
            text: Some(text.into()),
            table: None,
            source: source.into(),
        });
    }

    pub(crate) fn table(
        &mut self,
        title: &str,
        columns: &[&str],
        rows: Vec<Vec<String>>,
        source: &str,
    ) {
        let total = rows.len();
        let rows: Vec<Vec<String>> = rows.into_iter().take(TABLE_ROWS).collect();
        self.evidence.push(EvidenceItem {
            title: title.into(),
            text: None,
            table: Some(Table {
                columns: columns.iter().map(|column| column.to_string()).collect(),
                rows_omitted: (total - rows.len()) as u64,
                rows,
            }),
            source: source.into(),
        });
    }

    pub(crate) fn failure(&mut self, text: impl Into<String>) {
        self.finding(FindingSeverity::Failure, text);
    }

    pub(crate) fn gap(&mut self, text: impl Into<String>) {
        self.finding(FindingSeverity::Gap, text);
    }

    pub(crate) fn note(&mut self, text: impl Into<String>) {
        self.finding(FindingSeverity::Note, text);
    }

    fn finding(&mut self, severity: FindingSeverity, text: impl Into<String>) {
        self.findings.push(Finding {
            severity,
            text: text.into(),
        });
    }

    /// The status the findings allow.
    pub fn status(&self) -> Status {
        if self.not_applicable.is_some() {
            return Status::NotApplicable;
        }
        match self.findings.iter().map(|finding| finding.severity).max() {
            Some(FindingSeverity::Failure) => Status::NotMet,
            Some(FindingSeverity::Gap) => Status::Partly,
            _ => Status::Met,
        }
    }

    /// Why: the decisive findings, or why it is met.
    pub fn reason(&self) -> String {
        if let Some(why) = &self.not_applicable {
            return why.clone();
        }
        let decisive = match self.status() {
            Status::NotMet => FindingSeverity::Failure,
            Status::Partly => FindingSeverity::Gap,
            _ => return self.met_because.clone(),
        };
        let texts: Vec<&str> = self
            .findings
            .iter()
            .filter(|finding| finding.severity == decisive)
            .map(|finding| finding.text.as_str())
            .collect();
        let shown = texts.len().min(3);
        let mut reason = texts[..shown].join(" ");
        if texts.len() > shown {
            reason.push_str(&format!(" (and {} more findings)", texts.len() - shown));
        }
        reason
    }
}

impl Control {
    /// Judges the control on `facts`.
    pub fn requirement(&self, facts: &Facts, assessment_date: &str) -> Requirement {
        let assessment = (self.assess)(facts);
        let strings = |items: &[&str]| items.iter().map(|item| item.to_string()).collect();
        Requirement {
            id: self.id.into(),
            name: self.name.into(),
            description: self.description.into(),
            attributes: RequirementAttributes {
                domain: "2. 보호대책 요구사항 (Protection measures)".into(),
                subdomain: self.subdomain.into(),
                section: format!("{} {}", self.id, self.name),
                audit_checklist: strings(self.checklist),
                related_regulations: strings(self.regulations),
                audit_evidence: strings(self.audit_evidence),
                non_compliance_cases: strings(self.non_compliance),
            },
            status: assessment.status(),
            status_reason: assessment.reason(),
            assessment_date: assessment_date.into(),
            evidence: assessment.evidence,
            findings: assessment.findings,
        }
    }
}

/// Days between two instants, rounded down.
pub(crate) fn days_between(
    earlier: haechi_events::Timestamp,
    later: haechi_events::Timestamp,
) -> u64 {
    later.since(earlier).as_secs() / 86_400
}
