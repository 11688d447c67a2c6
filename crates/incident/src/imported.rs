//! Incidents made from a list of affected customers (`haechi incident create --from FILE`):
//! a breach found outside Haechi, or a `haechi scope --out` result, turned into the incident
//! the portal and the notices work from.
//!
//! The list is the JSON lines `haechi scope --out FILE.jsonl` writes: one object per customer
//! with `customer_id`, `fields`, `first`, `last` (RFC 3339) and `reads`. A `contact` member
//! (scope's `--with-contacts`) is refused rather than ignored: plaintext contacts have no
//! place in an incident, and a file holding them should not be passed around.

use std::collections::BTreeSet;

use haechi_detect::Severity;
use haechi_events::Timestamp;
use serde::Deserialize;

use crate::Error;
use crate::model::{Incident, IncidentId, IncidentIndicators, IncidentOrigin, IncidentState};
use crate::store::AffectedCustomer;

/// Longest customer id accepted.
const MAX_ID_LEN: usize = 128;
/// Most fields a line may name.
const MAX_FIELDS: usize = 64;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    customer_id: String,
    #[serde(default)]
    fields: Vec<String>,
    first: Option<String>,
    last: Option<String>,
    #[serde(default)]
    reads: u64,
    contact: Option<serde::de::IgnoredAny>,
}

/// Reads one line of an affected list (`line` is 1-based, for the error). `None` for a blank
/// line.
pub fn parse_affected_line(line: usize, text: &str) -> Result<Option<AffectedCustomer>, Error> {
    let bad = |message: String| Error::BadAffectedList { line, message };
    if text.trim().is_empty() {
        return Ok(None);
    }
    let parsed: Line = serde_json::from_str(text).map_err(|error| bad(error.to_string()))?;
    if parsed.contact.is_some() {
        return Err(bad(
            "holds a plaintext `contact`: write the list with `haechi scope --out FILE \
             --no-contacts`; an incident never keeps contacts"
                .into(),
        ));
    }
    let id = parsed.customer_id;
    if id.is_empty() || id.len() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(bad(format!(
            "`customer_id` must be 1 to {MAX_ID_LEN} bytes without control characters"
        )));
    }
    if parsed.fields.len() > MAX_FIELDS {
        return Err(bad(format!("more than {MAX_FIELDS} fields")));
    }
    for field in &parsed.fields {
        let valid = !field.is_empty()
            && field.len() <= 64
            && field
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !valid {
            return Err(bad(format!(
                "field {:?} is not a field name (a-z, 0-9, _)",
                field.chars().take(40).collect::<String>()
            )));
        }
    }
    let time = |name: &str, text: Option<String>| -> Result<Option<Timestamp>, Error> {
        match text {
            None => Ok(None),
            Some(text) => Timestamp::parse(&text)
                .map(Some)
                .ok_or_else(|| bad(format!("`{name}` {text:?} is not an RFC 3339 time"))),
        }
    };
    let first_seen = time("first", parsed.first)?;
    let last_seen = time("last", parsed.last)?;
    if let (Some(first), Some(last)) = (first_seen, last_seen)
        && last < first
    {
        return Err(bad("`last` is before `first`".into()));
    }
    Ok(Some(AffectedCustomer {
        customer_id: id,
        fields: parsed.fields,
        first_seen,
        last_seen,
        reads: parsed.reads,
    }))
}

/// The incident an affected list makes, before its customers are added
/// ([`ImportedIncident::add`]).
#[derive(Debug, Clone)]
pub struct ImportedIncident {
    incident: Incident,
}

impl ImportedIncident {
    /// An empty imported incident for the file `source` with SHA-256 `sha256` (hex). Its id
    /// is derived from the digest, so importing the same file twice names the same incident.
    pub fn new(
        source: &str,
        sha256: &str,
        title: &str,
        severity: Severity,
        now: Timestamp,
    ) -> Self {
        ImportedIncident {
            incident: Incident {
                id: IncidentId::derive(&format!("import:{sha256}")),
                title: title.to_string(),
                state: IncidentState::Open,
                severity,
                origin: IncidentOrigin::Imported {
                    source: source.to_string(),
                    sha256: sha256.to_string(),
                },
                first_seen: now,
                last_seen: now,
                contained_at: None,
                closure: None,
                indicators: IncidentIndicators::default(),
                customers: 0,
                rules: BTreeSet::new(),
                alert_count: 0,
                alerts: Vec::new(),
                actions: Vec::new(),
                merged: Vec::new(),
                updated_at: now,
            },
        }
    }

    /// The same incident for the file with SHA-256 `sha256` (known once the file was read
    /// through): its id and origin follow the digest.
    pub fn with_digest(mut self, sha256: &str) -> Self {
        self.incident.id = IncidentId::derive(&format!("import:{sha256}"));
        if let IncidentOrigin::Imported { sha256: digest, .. } = &mut self.incident.origin {
            *digest = sha256.to_string();
        }
        self
    }

    /// Counts a customer in (the caller has checked it is not a repeat).
    pub fn add(&mut self, customer: &AffectedCustomer) {
        let incident = &mut self.incident;
        let first = customer.first_seen.or(customer.last_seen);
        let last = customer.last_seen.or(customer.first_seen);
        if let (Some(first), Some(last)) = (first, last) {
            if incident.customers == 0 || first < incident.first_seen {
                incident.first_seen = first;
            }
            if incident.customers == 0 || last > incident.last_seen {
                incident.last_seen = last;
            }
        }
        incident.customers += 1;
    }

    /// The incident as it stands.
    pub fn incident(&self) -> &Incident {
        &self.incident
    }
}
