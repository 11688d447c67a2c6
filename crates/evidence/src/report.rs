//! The evidence report: what the auditor receives, as JSON and as the HTML page.
//!
//! Each requirement follows the shape compliance tools already exchange (Prowler's ISMS-P
//! framework files: `Id`, `Name`, `Description`, `Attributes` with `Domain`, `Subdomain`,
//! `Section`, `AuditChecklist`, `RelatedRegulations`, `AuditEvidence`, `NonComplianceCases`),
//! in snake case, plus what Haechi adds: the live evidence, the findings, a status and why.
//! The JSON Schema of this document is generated from these types (`haechi evidence schema`,
//! committed as `docs/evidence.schema.json`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The version of the report's format; a reader refuses another.
pub const REPORT_FORMAT: &str = "haechi.evidence.v1";

/// An evidence report for one period.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceReport {
    /// Always `haechi.evidence.v1`.
    pub format: String,
    /// The frameworks the requirements come from.
    pub framework: String,
    /// The company the report is about (`[notice] company`, or the data directory's name).
    pub organisation: String,
    /// The period the evidence covers (dates in KST, both inclusive).
    pub period: ReportPeriod,
    /// When the report was generated (RFC 3339, UTC): every requirement's assessment date.
    pub generated_at: String,
    /// Who generated it: `admin:NAME` through the API, `operator` from the command line.
    pub generated_by: String,
    /// The audit trail the report was judged from, as verified: the report is anchored to it.
    pub trail: TrailHead,
    /// Counts of requirements by status.
    pub summary: StatusCounts,
    /// The requirements, in control order.
    pub requirements: Vec<Requirement>,
    /// The pictures: access volume per principal, alert response times, key ages (SVG).
    pub figures: Vec<Figure>,
    /// The monthly access reviews of the period.
    pub reviews: Vec<MonthlyReviewEntry>,
}

/// The period a report covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportPeriod {
    /// First day (`YYYY-MM-DD`, KST).
    pub from: String,
    /// Last day (`YYYY-MM-DD`, KST), inclusive.
    pub to: String,
}

/// Where the verified trail stood when the report was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TrailHead {
    /// Records verified.
    pub records: u64,
    /// The newest record's seq.
    pub last_seq: u64,
    /// The seq the newest signed checkpoint covers.
    pub last_signed_seq: u64,
}

/// How many requirements have each status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusCounts {
    /// Met.
    pub met: u32,
    /// Partly met.
    pub partly: u32,
    /// Not met.
    pub not_met: u32,
    /// Not applicable.
    pub not_applicable: u32,
}

impl StatusCounts {
    /// Counts `requirements` by status.
    pub fn of(requirements: &[Requirement]) -> Self {
        let mut counts = StatusCounts::default();
        for requirement in requirements {
            match requirement.status {
                Status::Met => counts.met += 1,
                Status::Partly => counts.partly += 1,
                Status::NotMet => counts.not_met += 1,
                Status::NotApplicable => counts.not_applicable += 1,
            }
        }
        counts
    }
}

/// One control, assessed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    /// The ISMS-P 2023 control id (`2.5.1`).
    pub id: String,
    /// The control's name (Korean, then English).
    pub name: String,
    /// What the control requires.
    pub description: String,
    /// The control's place in the frameworks and what an auditor checks.
    pub attributes: RequirementAttributes,
    /// Met, partly, not met or not applicable.
    pub status: Status,
    /// Why this status: the facts that decided it.
    pub status_reason: String,
    /// When it was assessed (RFC 3339, UTC).
    pub assessment_date: String,
    /// The live evidence, as read from the running system.
    pub evidence: Vec<EvidenceItem>,
    /// What falls short: every finding is shown, none is summarised away.
    pub findings: Vec<Finding>,
}

/// Where a control sits and what an auditor checks (Prowler's ISMS-P attribute block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirementAttributes {
    /// `2. 보호대책 요구사항` (protection measures).
    pub domain: String,
    /// The subdomain (`2.5. 인증 및 권한관리`).
    pub subdomain: String,
    /// The section (`2.5.1 사용자 계정 관리`).
    pub section: String,
    /// The auditor's checklist for the control.
    pub audit_checklist: Vec<String>,
    /// The laws and articles the control implements (PIPA safeguard standard articles).
    pub related_regulations: Vec<String>,
    /// What evidence the auditor asks for.
    pub audit_evidence: Vec<String>,
    /// Typical non-compliance cases the auditor looks for.
    pub non_compliance_cases: Vec<String>,
}

/// A control's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every check holds.
    Met,
    /// Some checks hold, some findings remain.
    Partly,
    /// The control's core check fails, or the evidence is missing.
    NotMet,
    /// The control does not apply to what this deployment does.
    NotApplicable,
}

impl Status {
    /// The status's name in the JSON (`met`, `partly`, `not_met`, `not_applicable`).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Met => "met",
            Status::Partly => "partly",
            Status::NotMet => "not_met",
            Status::NotApplicable => "not_applicable",
        }
    }

    /// The worse of two statuses (not applicable is never worse).
    pub fn worst(self, other: Status) -> Status {
        match (self, other) {
            (Status::NotApplicable, other) | (other, Status::NotApplicable) => other,
            (left, right) => left.max(right),
        }
    }
}

/// One piece of live evidence: a fact, or a table of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceItem {
    /// What it shows.
    pub title: String,
    /// A sentence, when the evidence is one fact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A table, when it is many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<Table>,
    /// Where the fact was read (`audit trail`, `store: clients`, `configuration`, …).
    pub source: String,
}

/// A table of evidence: column names and rows of text cells.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each as many cells as there are columns.
    pub rows: Vec<Vec<String>>,
    /// Rows left out because the table reached its bound: counted, and the findings are judged
    /// from every row, listed or not.
    #[serde(default)]
    pub rows_omitted: u64,
}

/// A non-compliance case found in the evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// How much it weighs toward the status.
    pub severity: FindingSeverity,
    /// What was found.
    pub text: String,
}

/// How much a finding weighs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingSeverity {
    /// Worth a look; the control can still be met.
    Note,
    /// The control is partly met while it stands.
    Gap,
    /// The control is not met while it stands.
    Failure,
}

/// A picture in the report: an inline SVG and the numbers it draws.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Figure {
    /// Stable id (`access-volume`, `alert-response`, `key-ages`).
    pub id: String,
    /// Caption.
    pub title: String,
    /// The SVG document (no script, no external reference).
    pub svg: String,
}

/// One month's access review in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MonthlyReviewEntry {
    /// `YYYY-MM` (KST).
    pub month: String,
    /// SHA-256 of the month's summary as the reviewer saw it (hex).
    pub digest: String,
    /// Reads and lookups of personal data in the month.
    pub accesses: u64,
    /// Principals that read personal data in the month.
    pub principals: u64,
    /// Bulk reads (a principal's day above the bulk threshold) in the month.
    pub bulk_reads: u64,
    /// Alerts raised in the month.
    pub alerts: u64,
    /// Whether the month had ended when the report was made (an open month is not yet due).
    pub closed: bool,
    /// The digest the review job recorded when the month ended (`audit.review_prepared`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepared_digest: Option<String>,
    /// The reviewer's acknowledgement, if recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<ReviewAcknowledgement>,
}

/// A recorded acknowledgement of a monthly review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewAcknowledgement {
    /// The reviewer (`admin:NAME`).
    pub reviewer: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The reviewer's note.
    pub note: String,
    /// Whether the summary the reviewer acknowledged is the one the trail gives now.
    pub digest_matches: bool,
}
