//! What a scan reports.

use std::fmt;

use serde::Serialize;

/// The kinds of personal data the scanner recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PiiKind {
    /// 주민등록번호: a citizen's resident registration number.
    ResidentRegistrationNumber,
    /// 외국인등록번호: a registered foreigner's number.
    ForeignerRegistrationNumber,
    /// A mobile number (010, and the legacy 011/016/017/018/019).
    MobilePhone,
    /// A landline, internet phone (070) or relay (050x) number.
    Landline,
    /// An e-mail address.
    Email,
    /// 개인통관고유부호: a personal customs clearance code.
    CustomsCode,
    /// A payment card number.
    CardNumber,
    /// 사업자등록번호: a business registration number (a sole trader's is personal data).
    BusinessNumber,
    /// A passport number.
    Passport,
    /// A driver licence number.
    DriverLicence,
    /// A road-name address with building number (and postal code, when given).
    Address,
}

impl PiiKind {
    /// Every kind, in a stable order for reports.
    pub const ALL: [Self; 11] = [
        Self::ResidentRegistrationNumber,
        Self::ForeignerRegistrationNumber,
        Self::MobilePhone,
        Self::Landline,
        Self::Email,
        Self::CustomsCode,
        Self::CardNumber,
        Self::BusinessNumber,
        Self::Passport,
        Self::DriverLicence,
        Self::Address,
    ];

    /// The kind's short name, as in reports and the labelled corpus (`rrn`, `mobile`, …).
    pub fn label(self) -> &'static str {
        match self {
            Self::ResidentRegistrationNumber => "rrn",
            Self::ForeignerRegistrationNumber => "frn",
            Self::MobilePhone => "mobile",
            Self::Landline => "landline",
            Self::Email => "email",
            Self::CustomsCode => "customs",
            Self::CardNumber => "card",
            Self::BusinessNumber => "brn",
            Self::Passport => "passport",
            Self::DriverLicence => "licence",
            Self::Address => "address",
        }
    }

    /// The kind a [`PiiKind::label`] names.
    pub fn from_label(label: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.label() == label)
    }
}

impl fmt::Display for PiiKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One piece of evidence for or against a finding; together they explain its confidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason", content = "detail")]
#[non_exhaustive]
pub enum Reason {
    /// The text has the kind's shape; the detail names which spelling.
    Shape(&'static str),
    /// The kind's check digit matches.
    ChecksumValid,
    /// The check digit does not match. For registration numbers this lowers confidence only:
    /// numbers issued since 2020-10-05 have no check digit.
    ChecksumFailed,
    /// A word that usually introduces this kind is nearby (`주민번호`, `통관부호`, `여권` …).
    ContextWord(&'static str),
    /// A word that usually introduces something else is nearby (`주문번호`, `송장` …).
    CounterContextWord(&'static str),
    /// A card number's leading digits belong to a known issuer (Visa, Mastercard …).
    KnownIssuer(&'static str),
    /// The postal code's province prefix agrees with the address's province.
    PostalCodeMatchesProvince,
    /// The postal code's province prefix contradicts the address's province.
    PostalCodeContradictsProvince,
}

/// A piece of personal data found in a text: its kind, where it is, and how sure the scanner
/// is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// What was found.
    pub kind: PiiKind,
    /// Byte offset of the first byte, in the scanned text.
    pub start: usize,
    /// Byte offset one past the last byte, in the scanned text.
    pub end: usize,
    /// How likely the text is really this kind, from 0 to 1.
    pub confidence: f32,
    /// The evidence behind the confidence.
    pub reasons: Vec<Reason>,
}

impl Finding {
    /// The found text, sliced out of the text that was scanned.
    ///
    /// Returns an empty string if `text` is not the text the finding came from and the offsets
    /// do not fall on its character boundaries.
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.start..self.end).unwrap_or_default()
    }

    /// Whether the two findings share at least one byte.
    pub fn overlaps(&self, other: &Finding) -> bool {
        self.start < other.end && other.start < self.end
    }
}

/// Accumulates a finding's confidence and reasons; recognisers build findings through it.
#[derive(Debug)]
pub(crate) struct Evidence {
    confidence: f32,
    reasons: Vec<Reason>,
}

impl Evidence {
    pub(crate) fn new(base: f32, shape: &'static str) -> Self {
        Self {
            confidence: base,
            reasons: vec![Reason::Shape(shape)],
        }
    }

    /// Adds (or, with a negative delta, subtracts) confidence for a reason.
    pub(crate) fn add(&mut self, delta: f32, reason: Reason) {
        self.confidence += delta;
        self.reasons.push(reason);
    }

    pub(crate) fn into_finding(self, kind: PiiKind, start: usize, end: usize) -> Finding {
        Finding {
            kind,
            start,
            end,
            confidence: self.confidence.clamp(0.0, 1.0),
            reasons: self.reasons,
        }
    }
}
