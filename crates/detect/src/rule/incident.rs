//! `incident:` — which of an alert's fields tie it to other alerts of the same attack, and for
//! how long. The incident model itself (`haechi-incident`) reads this; the engine does not.
//!
//! ```yaml
//! incident:
//!   correlate: [kid, ip]   # alerts sharing a value of one of these belong together
//!   window: 1d             # … when they are at most this far apart
//! ```
//!
//! A rule that says nothing correlates on its `group-by` fields that are indicators (an
//! alert about `ip=203.0.113.9` joins other alerts about that address). The fields named are
//! added to the rule's context `fields`, so every alert carries their values.

use std::time::Duration;

use crate::fields::Field;
use crate::yaml::{Map, Node, Problem};

use super::duration::duration;

/// The longest `incident.window` a rule may ask for.
pub const MAX_INCIDENT_WINDOW: Duration = Duration::from_secs(7 * 24 * 3600);
/// The window when a rule names none: alerts a day apart still belong to one campaign (the
/// longest built-in correlation windows are a day).
pub const DEFAULT_INCIDENT_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// A field an alert can be tied to other alerts by: an indicator of who is behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LinkField {
    /// The signing key of the token used (`kid`).
    Kid,
    /// The client address (`ip`).
    Ip,
    /// The client's `User-Agent` (`user_agent`). Weak alone — common browsers share one —
    /// so no built-in rule correlates on it.
    UserAgent,
    /// The session (`sid`).
    Sid,
    /// The principal (`principal`): a service credential or an administrator.
    Principal,
}

impl LinkField {
    /// Every link field, in the order incidents list their indicators.
    pub const ALL: [LinkField; 5] = [
        LinkField::Kid,
        LinkField::Ip,
        LinkField::UserAgent,
        LinkField::Sid,
        LinkField::Principal,
    ];

    /// The field's name in rules and in an alert's `context`.
    pub fn name(self) -> &'static str {
        match self {
            LinkField::Kid => "kid",
            LinkField::Ip => "ip",
            LinkField::UserAgent => "user_agent",
            LinkField::Sid => "sid",
            LinkField::Principal => "principal",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        LinkField::ALL
            .into_iter()
            .find(|field| field.name() == name)
    }

    fn field(self) -> Field {
        match self {
            LinkField::Kid => Field::Kid,
            LinkField::Ip => Field::Ip,
            LinkField::UserAgent => Field::UserAgent,
            LinkField::Sid => Field::Sid,
            LinkField::Principal => Field::Principal,
        }
    }
}

/// How a rule's alerts join incidents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentLinks {
    /// The fields whose values tie an alert to an incident (none: every alert is its own
    /// incident).
    pub correlate: Vec<LinkField>,
    /// How far apart in event time two alerts may be and still be tied.
    pub window: Duration,
    /// Whether the customer each matching event names (`customer_id`) is a customer the
    /// incident affected — on, with `customers: customer_id`, only for rules whose events
    /// name customers whose data went somewhere (a leaked item); off for the rest, whose
    /// events may name a customer someone merely asked for.
    pub affected_customers: bool,
}

/// Parses `incident:` (or derives the default from `group_by`), and adds the fields to
/// `context_fields` so alerts carry their values.
pub(crate) fn parse_incident(
    node: Option<&Node>,
    group_by: &[Field],
    context_fields: &mut Vec<Field>,
) -> Result<IncidentLinks, Problem> {
    let mut links = IncidentLinks {
        correlate: LinkField::ALL
            .into_iter()
            .filter(|field| group_by.contains(&field.field()))
            .collect(),
        window: DEFAULT_INCIDENT_WINDOW,
        affected_customers: false,
    };
    if let Some(node) = node {
        let map = Map::of(node, "`incident`")?;
        map.only(&["correlate", "window", "customers"], "`incident`")?;
        if let Some(customers) = map.get("customers") {
            let name = customers.text("`incident.customers`")?;
            if name != "customer_id" {
                return Err(Problem::at(
                    customers,
                    format!("`incident.customers` names {name:?}; it can only be customer_id"),
                ));
            }
            links.affected_customers = true;
            if !context_fields.contains(&Field::CustomerId) {
                context_fields.push(Field::CustomerId);
            }
        }
        if let Some(list) = map.get("correlate") {
            let mut correlate = Vec::new();
            for (item, name) in list.text_list("`incident.correlate`")? {
                let field = LinkField::parse(name).ok_or_else(|| {
                    Problem::at(
                        item,
                        format!(
                            "`incident.correlate` names {name:?}; alerts correlate on kid, ip, \
                             user_agent, sid or principal"
                        ),
                    )
                })?;
                if correlate.contains(&field) {
                    return Err(Problem::at(item, format!("{name:?} is named twice")));
                }
                correlate.push(field);
            }
            links.correlate = correlate;
        }
        if let Some(window) = map.get("window") {
            let micros = duration(window, "`incident.window`", MAX_INCIDENT_WINDOW)?;
            links.window = Duration::from_micros(micros.unsigned_abs());
        }
    }
    for field in &links.correlate {
        if !context_fields.contains(&field.field()) {
            context_fields.push(field.field());
        }
    }
    Ok(links)
}
