//! A rule: its metadata, its detection, its correlation logic and its response, parsed from one
//! YAML document and checked so that a loaded rule can always be evaluated in bounded state.
//!
//! This file holds the rule itself, its metadata and the order of parsing; the parts live
//! beside it: `correlation` (the correlation types), `response` (actions and safeguards) and
//! `duration` (bounded durations). Selections and conditions are [`crate::detection`]'s.

mod correlation;
mod duration;
mod incident;
mod response;

use std::collections::BTreeSet;
use std::time::Duration;

use haechi_events::EventKind;
use serde::{Deserialize, Serialize};

pub(crate) use correlation::{LearningScope, Logic, Probation};
pub(crate) use duration::micros;
pub use incident::{DEFAULT_INCIDENT_WINDOW, IncidentLinks, LinkField, MAX_INCIDENT_WINDOW};
pub(crate) use response::{ActionSpec, Response};

use correlation::parse_correlation;
use duration::duration;
use incident::parse_incident;
use response::parse_response;

use crate::detection::{Condition, Detection};
use crate::fields::Field;
use crate::yaml::{Map, Node, Problem, Value};

/// The longest correlation window (`timespan`, absence `timespan`) a rule may ask for.
pub const MAX_TIMESPAN: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest a `first_seen` rule may remember a value (`retention`).
pub const MAX_RETENTION: Duration = Duration::from_secs(180 * 24 * 3600);
/// How long a `value_count` rule with a `probation` remembers a silent group when it names no
/// `retention`.
pub const DEFAULT_PROBATION_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest learning period (`learning`).
pub const MAX_LEARNING: Duration = Duration::from_secs(90 * 24 * 3600);
/// The longest alert cooldown.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(24 * 3600);
/// The longest a `block_network` action may block for.
pub const MAX_BLOCK_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The cooldown when a rule names none: matches within it grow the open alert.
pub const DEFAULT_COOLDOWN: Duration = Duration::from_secs(15 * 60);
/// The action cap when a rule names none: at most this many actions per rolling day.
pub const DEFAULT_MAX_ACTIONS: u64 = 100;
/// The most fields a `group-by` may list.
pub const MAX_GROUP_FIELDS: usize = 4;
/// The most steps a `temporal_ordered` sequence may have.
pub const MAX_SEQUENCE_STEPS: usize = 8;

/// How bad an alert of a rule is.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth a look when convenient.
    Low,
    /// Worth a look today.
    Medium,
    /// Someone should look now.
    High,
    /// An attack in progress: page someone; containment may already have acted.
    Critical,
}

impl Severity {
    /// `low`, `medium`, `high` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// A loaded, checked detection rule. Built by the loader functions ([`load_str`](crate::load_str),
/// [`load_path`](crate::load_path), [`builtin_rules`](crate::builtin_rules)); evaluated by an
/// [`Engine`](crate::Engine).
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) id: String,
    /// The Sigma rule's UUID (`id:` of a Sigma document); `None` for Haechi's own format.
    pub(crate) sigma_id: Option<String>,
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) severity: Severity,
    pub(crate) false_positives: String,
    pub(crate) file: String,
    pub(crate) line: usize,
    pub(crate) detection: Detection,
    /// The events the rule (or its correlation) looks at; `None` for `temporal_ordered`, whose
    /// steps say it instead.
    pub(crate) condition: Option<Condition>,
    pub(crate) logic: Logic,
    pub(crate) group_by: Vec<Field>,
    pub(crate) max_groups: Option<u64>,
    pub(crate) cooldown: i64,
    pub(crate) context_fields: Vec<Field>,
    pub(crate) response: Response,
    /// How the rule's alerts join incidents.
    pub(crate) incident: IncidentLinks,
    /// The event kinds that can matter to this rule; `None` for any.
    pub(crate) kinds: Option<BTreeSet<EventKind>>,
}

impl Rule {
    /// The rule's unique id, e.g. `haechi.token.forged`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The rule's Sigma UUID, when it was loaded from a Sigma rule file.
    pub fn sigma_id(&self) -> Option<&str> {
        self.sigma_id.as_deref()
    }

    /// A one-line title for alert lists.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// What the rule catches and why it matters.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// The severity of the rule's alerts.
    pub fn severity(&self) -> Severity {
        self.severity
    }

    /// When the rule fires without an attack, and what to check.
    pub fn false_positives(&self) -> &str {
        &self.false_positives
    }

    /// How the rule's alerts join incidents: the fields that tie them and the time window.
    pub fn incident_links(&self) -> &IncidentLinks {
        &self.incident
    }

    /// The file the rule was loaded from and the line its document starts on.
    pub fn source(&self) -> (&str, usize) {
        (&self.file, self.line)
    }

    /// The names of the rule's `group-by` fields, in order (`ip`, `principal`, `detail.NAME` …);
    /// empty when the rule has none. An alert's `group_key` is made of these fields' values.
    pub fn group_by_names(&self) -> Vec<String> {
        self.group_by
            .iter()
            .map(|field| field.name().into_owned())
            .collect()
    }

    /// Sets the count a `value_count` or `event_count` rule's window must reach (at least 1):
    /// how the server applies a configured budget to a built-in rule (the new-service
    /// velocity budget). Returns `false`, changing nothing, for other kinds of rule.
    pub fn set_count_threshold(&mut self, count: u64) -> bool {
        match &mut self.logic {
            Logic::ValueCount { threshold, .. } | Logic::EventCount { threshold, .. } => {
                *threshold = count.max(1);
                true
            }
            _ => false,
        }
    }

    /// Whether the rule's response actions only report (`dry_run: true`) or are enforced.
    /// `None` when the rule names no actions.
    pub fn dry_run(&self) -> Option<bool> {
        (!self.response.actions.is_empty()).then_some(self.response.dry_run)
    }

    /// The audit event's fields (as archive columns: `principal`, `ip`, `detail` …) the rule
    /// reads to evaluate an event, fill its alerts' context and decide its actions' targets:
    /// what a replay must decode.
    pub fn columns_read(&self) -> std::collections::BTreeSet<&'static str> {
        let logic_field = match &self.logic {
            Logic::ValueCount { field, .. }
            | Logic::Share { field, .. }
            | Logic::FirstSeen { field, .. } => Some(field),
            Logic::VolumeBaseline { field, .. } => field.as_ref(),
            _ => None,
        };
        self.detection
            .fields()
            .chain(&self.group_by)
            .chain(&self.context_fields)
            .chain(logic_field)
            .map(Field::column)
            .chain(self.response.columns_read())
            .chain(["seq", "time", "kind"])
            .collect()
    }

    /// How much event history the rule needs to see before its state is complete: its window,
    /// lookback, retention or learning period, whichever is longest. A server that restarts
    /// replays at least this much of the audit trail (with actions ignored) to warm the engine.
    pub fn history_needed(&self) -> Duration {
        let micros = match &self.logic {
            Logic::Single => 0,
            Logic::EventCount { timespan, .. }
            | Logic::Share { timespan, .. }
            | Logic::TemporalOrdered { timespan, .. } => *timespan,
            Logic::ValueCount {
                timespan,
                probation,
                ..
            } => probation.map_or(*timespan, |probation| (*timespan).max(probation.retention)),
            Logic::Absence { lookback, .. } => *lookback,
            Logic::FirstSeen {
                retention,
                learning,
                ..
            } => (*retention).max(*learning),
            Logic::VolumeBaseline {
                timespan, learning, ..
            } => (*timespan).max(*learning),
        };
        Duration::from_micros(micros.unsigned_abs())
    }
}

const RULE_KEYS: &[&str] = &[
    "id",
    "title",
    "description",
    "severity",
    "false_positives",
    "author",
    "references",
    "tags",
    "fields",
    "detection",
    "correlation",
    "group-by",
    "cooldown",
    "response",
    "incident",
];

/// Parses one rule document. `Err` carries the rule id when it was readable.
pub(crate) fn parse_rule(file: &str, root: &Node) -> Result<Rule, (Option<String>, Problem)> {
    let map = Map::of(root, "a rule").map_err(|problem| (None, problem))?;
    let id = parse_id(map).map_err(|problem| (None, problem))?;
    parse_body(file, root, map, &id).map_err(|problem| (Some(id), problem))
}

fn parse_id(map: Map<'_>) -> Result<String, Problem> {
    readable_id(map.require("id", "a rule")?, "`id`")
}

/// A rule's readable id (`id` in Haechi's format, `name` in Sigma's), checked.
pub(crate) fn readable_id(node: &Node, what: &str) -> Result<String, Problem> {
    let id = node.scalar_text().unwrap_or_default();
    let valid = !id.is_empty()
        && id.len() <= 128
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if valid {
        Ok(id)
    } else {
        Err(Problem::at(
            node,
            format!("{what} must be 1 to 128 characters of a-z, 0-9, `.`, `_`, `-`"),
        ))
    }
}

/// Parses everything after the `id`, in the order its errors are reported: the metadata, the
/// detection and its condition, then (in [`assemble`]) the correlation, the cooldown and the
/// response.
fn parse_body(file: &str, root: &Node, map: Map<'_>, id: &str) -> Result<Rule, Problem> {
    map.only(RULE_KEYS, "a rule")?;
    let metadata = parse_metadata(map)?;

    let detection_node = map.require("detection", "a rule")?;
    let detection_map = Map::of(detection_node, "`detection`")?;
    let detection = Detection::parse(detection_map)?;

    let correlation = match map.get("correlation") {
        None => None,
        Some(node) => Some(Map::of(node, "`correlation`")?),
    };
    let condition = parse_condition(&detection, detection_node, detection_map, correlation)?;
    assemble(
        file,
        Parts {
            id: id.to_string(),
            sigma_id: None,
            line: root.position.line,
            metadata,
            detection,
            condition,
            steps: None,
            correlation,
            group_by: map.get("group-by"),
            cooldown: map.get("cooldown"),
            response: map.get("response"),
            incident: map.get("incident"),
        },
    )
}

/// A rule document's parts, read from Haechi's own format or from Sigma documents
/// ([`crate::sigma`]), before they are checked together into a [`Rule`].
pub(crate) struct Parts<'a> {
    /// The rule's readable id (Sigma's `name`).
    pub(crate) id: String,
    /// The Sigma rule's UUID, for rules loaded from Sigma.
    pub(crate) sigma_id: Option<String>,
    /// The line the rule's document starts on.
    pub(crate) line: usize,
    pub(crate) metadata: Metadata,
    pub(crate) detection: Detection,
    /// The events the rule looks at; `None` for `temporal_ordered`.
    pub(crate) condition: Option<Condition>,
    /// A Sigma `temporal_ordered` correlation's steps: one condition per base rule, in order.
    pub(crate) steps: Option<Vec<Condition>>,
    pub(crate) correlation: Option<Map<'a>>,
    pub(crate) group_by: Option<&'a Node>,
    pub(crate) cooldown: Option<&'a Node>,
    pub(crate) response: Option<&'a Node>,
    pub(crate) incident: Option<&'a Node>,
}

/// Checks a rule's parts together: the correlation (or the single-event `group-by`), the
/// cooldown, the response and the incident links.
pub(crate) fn assemble(file: &str, parts: Parts<'_>) -> Result<Rule, Problem> {
    let Parts {
        id,
        sigma_id,
        line,
        metadata:
            Metadata {
                title,
                description,
                severity,
                false_positives,
                mut context_fields,
            },
        detection,
        condition,
        steps,
        correlation,
        group_by,
        cooldown,
        response,
        incident,
    } = parts;
    let (logic, group_by, max_groups) = match correlation {
        None => {
            let group_by = match group_by {
                None => Vec::new(),
                Some(node) => parse_group_by(node, None)?,
            };
            (Logic::Single, group_by, None)
        }
        Some(correlation) => {
            if let Some(node) = group_by {
                return Err(Problem::at(
                    node,
                    "a correlation rule names `group-by` inside `correlation`",
                ));
            }
            parse_correlation(correlation, &detection, steps.as_deref())?
        }
    };

    let cooldown = match cooldown {
        None => micros(DEFAULT_COOLDOWN),
        Some(node) => duration(node, "`cooldown`", MAX_COOLDOWN)?,
    };
    let response = match response {
        None => Response::default(),
        Some(node) => parse_response(node)?,
    };
    let incident = parse_incident(incident, &group_by, &mut context_fields)?;
    let kinds = routed_kinds(&detection, condition.as_ref(), &logic);

    Ok(Rule {
        id,
        sigma_id,
        title,
        description,
        severity,
        false_positives,
        file: file.to_string(),
        line,
        detection,
        condition,
        logic,
        group_by,
        max_groups,
        cooldown,
        context_fields,
        response,
        incident,
        kinds,
    })
}

/// What a rule says about itself for the people reading its alerts.
pub(crate) struct Metadata {
    pub(crate) title: String,
    pub(crate) description: String,
    pub(crate) severity: Severity,
    pub(crate) false_positives: String,
    pub(crate) context_fields: Vec<Field>,
}

/// `title`, `description`, `false_positives`, `severity`, the informational `author`,
/// `references` and `tags`, and the context `fields` alerts carry.
fn parse_metadata(map: Map<'_>) -> Result<Metadata, Problem> {
    let title = required_text(map, "title")?;
    let description = required_text(map, "description")?;
    let false_positives = required_text(map, "false_positives")?;
    let severity = parse_severity(map.require("severity", "a rule")?, "`severity`")?;
    for key in ["author"] {
        if let Some(node) = map.get(key) {
            node.text(&format!("`{key}`"))?;
        }
    }
    for key in ["references", "tags"] {
        if let Some(node) = map.get(key) {
            node.text_list(&format!("`{key}`"))?;
        }
    }
    let context_fields = match map.get("fields") {
        None => Vec::new(),
        Some(node) => node
            .text_list("`fields`")?
            .into_iter()
            .map(|(item, name)| Field::parse(name).map_err(|message| Problem::at(item, message)))
            .collect::<Result<_, _>>()?,
    };
    Ok(Metadata {
        title,
        description,
        severity,
        false_positives,
        context_fields,
    })
}

/// `detection.condition`: required, except in a `temporal_ordered` rule, whose steps in
/// `correlation.sequence` take its place.
fn parse_condition(
    detection: &Detection,
    detection_node: &Node,
    detection_map: Map<'_>,
    correlation: Option<Map<'_>>,
) -> Result<Option<Condition>, Problem> {
    let correlation_type = match correlation {
        None => None,
        Some(correlation) => Some(correlation.require("type", "`correlation`")?),
    };
    let is_temporal =
        correlation_type.is_some_and(|node| node.value == Value::String("temporal_ordered".into()));
    match (detection_map.get("condition"), is_temporal) {
        (Some(node), false) => Ok(Some(detection.compile(node, "`condition`")?)),
        (None, false) => Err(Problem::at(
            detection_node,
            "`detection` requires a `condition`",
        )),
        (Some(node), true) => Err(Problem::at(
            node,
            "a temporal_ordered rule names its steps in `correlation.sequence`; remove \
             `detection.condition`",
        )),
        (None, true) => Ok(None),
    }
}

/// The event kinds that can matter to a rule: those its condition, sequence steps or expected
/// events can hold for; `None` when any kind can.
fn routed_kinds(
    detection: &Detection,
    condition: Option<&Condition>,
    logic: &Logic,
) -> Option<BTreeSet<EventKind>> {
    let mut kinds: Option<BTreeSet<EventKind>> = Some(BTreeSet::new());
    let mut route = |found: Option<BTreeSet<EventKind>>| match (&mut kinds, found) {
        (Some(all), Some(found)) => all.extend(found),
        (all, None) => *all = None,
        (None, Some(_)) => {}
    };
    if let Some(condition) = condition {
        route(detection.kinds(condition));
    }
    match logic {
        Logic::TemporalOrdered { steps, .. } => {
            for step in steps {
                route(detection.kinds(step));
            }
        }
        Logic::Absence { expect, .. } => route(detection.kinds(expect)),
        _ => {}
    }
    kinds
}

/// `low`, `medium`, `high` or `critical`.
pub(crate) fn parse_severity(node: &Node, what: &str) -> Result<Severity, Problem> {
    match node.text(what)? {
        "low" => Ok(Severity::Low),
        "medium" => Ok(Severity::Medium),
        "high" => Ok(Severity::High),
        "critical" => Ok(Severity::Critical),
        other => Err(Problem::at(
            node,
            format!(
                "unknown {} {other:?}; known: low, medium, high, critical",
                what.trim_matches('`')
            ),
        )),
    }
}

pub(crate) fn required_text(map: Map<'_>, key: &str) -> Result<String, Problem> {
    let node = map.require(key, "a rule")?;
    let text = node.text(&format!("`{key}`"))?.trim();
    if text.is_empty() {
        return Err(Problem::at(node, format!("`{key}` is empty")));
    }
    Ok(text.to_string())
}

pub(crate) fn parse_group_by(node: &Node, max_groups: Option<u64>) -> Result<Vec<Field>, Problem> {
    let items = node.text_list("`group-by`")?;
    if items.is_empty() || items.len() > MAX_GROUP_FIELDS {
        return Err(Problem::at(
            node,
            format!("`group-by` lists 1 to {MAX_GROUP_FIELDS} fields"),
        ));
    }
    let mut fields = Vec::new();
    for (item, name) in items {
        let field = Field::parse(name).map_err(|message| Problem::at(item, message))?;
        if field.is_lookup() {
            return Err(Problem::at(
                item,
                format!("cannot group by lookup `{name}`"),
            ));
        }
        if field.is_per_event() && max_groups.is_none() {
            return Err(Problem::at(
                item,
                format!(
                    "grouping by `{name}` makes a group per event, which needs unbounded state; \
                     group by a coarser field or set `max_groups`"
                ),
            ));
        }
        if fields.contains(&field) {
            return Err(Problem::at(item, format!("`{name}` is listed twice")));
        }
        fields.push(field);
    }
    Ok(fields)
}
