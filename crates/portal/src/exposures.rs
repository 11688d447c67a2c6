//! A customer's own exposure report: which of their fields each incident exposed, when, what
//! the company did — and, as plainly, which fields no incident exposed.
//!
//! "Not exposed" means "in no incident the company has recorded": the report says which
//! incidents it covers, and the portal says so beside the list.

use std::collections::BTreeSet;

use haechi_detect::ActionKind;
use haechi_events::Timestamp;
use haechi_incident::{CustomerExposure, IncidentId, IncidentState};
use haechi_vault::PiiField;
use serde::Serialize;
use utoipa::ToSchema;

/// What the signed-in customer learns about their own data.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "exposed": ["name", "email", "phone", "addresses"],
    "not_exposed": ["birth_date", "customs_code"],
    "incidents": [{
        "incident_id": "INC-3F9A1C0E5B2D", "title": "개인정보 유출 안내", "state": "contained",
        "fields": ["name", "email", "phone", "addresses"],
        "first_seen": 1749603600108219_i64, "last_seen": 1749621457393460_i64, "reads": 2,
        "contained_at": 1749621460000000_i64,
        "measures": [{"kind": "signing_key_revoked", "count": 1, "first_at": 1749621460000000_i64}]
    }]
}))]
pub struct ExposureReport {
    /// Fields of the customer's record that at least one incident exposed, by name, in the
    /// record's order (`name`, `email`, `phone`, `birth_date`, `customs_code`, `addresses`).
    pub exposed: Vec<String>,
    /// Fields of a customer record that no recorded incident exposed, in the same order.
    pub not_exposed: Vec<String>,
    /// The incidents that recorded this customer, most recently active first.
    pub incidents: Vec<IncidentExposure>,
}

/// One incident, as it concerns this customer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IncidentExposure {
    /// The incident.
    pub incident_id: IncidentId,
    /// Its title: the published statement's when there is one.
    pub title: String,
    /// Open, contained or closed.
    pub state: IncidentState,
    /// The customer's fields it exposed (empty: it named the customer without saying which
    /// fields; the portal then says the record may have been read).
    pub fields: Vec<String>,
    /// The first exposure of this customer's data, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    /// The last, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    /// Reads of this customer's data within the incident (0: unknown).
    pub reads: u64,
    /// When containment began, if it has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contained_at: Option<Timestamp>,
    /// What was done, by kind.
    pub measures: Vec<Measure>,
}

/// One kind of containment carried out, counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Measure {
    /// `signing_key_revoked`, `networks_blocked`, `sessions_ended`, `accounts_suspended` or
    /// `other`.
    pub kind: &'static str,
    /// How many (keys, networks, sessions, accounts).
    pub count: u64,
    /// When the first was carried out.
    pub first_at: Timestamp,
}

impl ExposureReport {
    /// The report over the customer's `exposures`; `title_of` gives an incident's published
    /// statement title, if any.
    pub fn new<'a>(
        exposures: &[CustomerExposure],
        title_of: impl Fn(&IncidentId) -> Option<&'a str>,
    ) -> Self {
        let mut exposed = BTreeSet::new();
        let incidents = exposures
            .iter()
            .map(|exposure| {
                let incident = &exposure.incident;
                let customer = &exposure.customer;
                let fields = in_record_order(customer.fields.iter().cloned().collect());
                exposed.extend(fields.iter().cloned());
                IncidentExposure {
                    incident_id: incident.id.clone(),
                    title: title_of(&incident.id)
                        .map_or_else(|| incident.title.clone(), str::to_string),
                    state: incident.state,
                    fields,
                    first_seen: customer.first_seen,
                    last_seen: customer.last_seen,
                    reads: customer.reads,
                    contained_at: incident.contained_at,
                    measures: measures(incident),
                }
            })
            .collect();
        let not_exposed = PiiField::ALL
            .iter()
            .map(|field| field.as_str())
            .filter(|name| !exposed.contains(*name))
            .map(str::to_string)
            .collect();
        ExposureReport {
            exposed: in_record_order(exposed),
            not_exposed,
            incidents,
        }
    }
}

/// Field names, each once, in the record's order, then any other names an import used
/// (alphabetically).
fn in_record_order(names: BTreeSet<String>) -> Vec<String> {
    let mut names: Vec<String> = names.into_iter().collect();
    names.sort_by_key(|name| {
        PiiField::ALL
            .iter()
            .position(|field| field.as_str() == name)
            .unwrap_or(PiiField::ALL.len())
    });
    names
}

/// The containment an incident carried out, by kind, each target counted once.
fn measures(incident: &haechi_incident::Incident) -> Vec<Measure> {
    let mut kinds: Vec<(&'static str, BTreeSet<String>, Timestamp)> = Vec::new();
    for action in incident.actions.iter().filter(|action| action.carried_out) {
        let (kind, target) = match &action.kind {
            ActionKind::RevokeKey { kid } => ("signing_key_revoked", kid.clone()),
            ActionKind::BlockNetwork { network, .. } => ("networks_blocked", network.to_string()),
            ActionKind::RevokeSession { sid } => ("sessions_ended", sid.clone()),
            ActionKind::SuspendPrincipal { principal } => {
                ("accounts_suspended", principal.to_string())
            }
            // A kind of action added later: counted, under a name the portal words generally.
            other => ("other", format!("{other:?}")),
        };
        match kinds.iter_mut().find(|(name, _, _)| *name == kind) {
            Some((_, targets, first)) => {
                targets.insert(target);
                *first = (*first).min(action.at);
            }
            None => kinds.push((kind, BTreeSet::from([target]), action.at)),
        }
    }
    kinds
        .into_iter()
        .map(|(kind, targets, first_at)| Measure {
            kind,
            count: targets.len() as u64,
            first_at,
        })
        .collect()
}
