//! A rule: its metadata, its detection, its correlation logic and its response, parsed from one
//! YAML document and checked so that a loaded rule can always be evaluated in bounded state.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

use haechi_events::{EventKind, Principal};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
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
#[derive(Debug)]
pub struct Rule {
    pub(crate) id: String,
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
    /// The event kinds that can matter to this rule; `None` for any.
    pub(crate) kinds: Option<BTreeSet<EventKind>>,
}

impl Rule {
    /// The rule's unique id, e.g. `haechi.token.forged`.
    pub fn id(&self) -> &str {
        &self.id
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

/// What the rule does with the events its condition selects.
#[derive(Debug)]
pub(crate) enum Logic {
    /// Every selected event is a match.
    Single,
    /// At least `threshold` selected events of a group within `timespan`.
    EventCount { timespan: i64, threshold: u64 },
    /// At least `threshold` distinct values of `field` within a group and `timespan` — only
    /// for groups still in their `probation`, when the rule names one.
    ValueCount {
        field: Field,
        timespan: i64,
        threshold: u64,
        probation: Option<Probation>,
    },
    /// Distinct values of `field` within a group and `timespan`, as a share of the customer
    /// count, at least `fraction` (and at least `min_distinct` values).
    Share {
        field: Field,
        timespan: i64,
        fraction: f64,
        min_distinct: u64,
    },
    /// The steps in order within `timespan`, at least `threshold` times.
    TemporalOrdered {
        timespan: i64,
        steps: Vec<Condition>,
        threshold: u64,
    },
    /// A selected event whose group saw no `expect` event within `lookback` before it.
    Absence { lookback: i64, expect: Condition },
    /// A value of `field` the group has not shown within `retention`, once learning is over.
    FirstSeen {
        field: Field,
        retention: i64,
        learning: i64,
        scope: LearningScope,
    },
    /// A group's window count (events, or distinct `field` values) at least `ratio` times its
    /// learned baseline and at least `min`.
    VolumeBaseline {
        field: Option<Field>,
        timespan: i64,
        learning: i64,
        ratio: f64,
        min: u64,
    },
}

/// A `value_count` rule that watches only new groups: those whose first event (within
/// `retention`) is less than `span` old. The new-service velocity budget is one: a credential
/// with no reading history is held to a small rate until it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Probation {
    /// How long a group counts as new after its first event.
    pub(crate) span: i64,
    /// How long a silent group is remembered; after that it is new again.
    pub(crate) retention: i64,
}

/// Whose learning period a `first_seen` rule waits out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LearningScope {
    /// The learning period starts at the first event the rule sees at all.
    Engine,
    /// Each group has its own learning period, starting at its first event.
    Group,
}

/// The rule's response: actions, safeguards.
#[derive(Debug, Default)]
pub(crate) struct Response {
    pub(crate) dry_run: bool,
    pub(crate) actions: Vec<ActionSpec>,
    pub(crate) allow_networks: Vec<IpNet>,
    pub(crate) allow_principals: Vec<Principal>,
    pub(crate) max_actions: u64,
}

impl Response {
    pub(crate) fn allowlisted_ip(&self, ip: IpAddr) -> bool {
        self.allow_networks
            .iter()
            .any(|network| network.contains(&ip))
    }
}

/// One action a rule may take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ActionSpec {
    RevokeSession,
    RevokeKey,
    BlockNetwork {
        prefix_v4: u8,
        prefix_v6: u8,
        ttl: Duration,
    },
    SuspendPrincipal,
}

impl ActionSpec {
    fn name(&self) -> &'static str {
        match self {
            ActionSpec::RevokeSession => "revoke_session",
            ActionSpec::RevokeKey => "revoke_key",
            ActionSpec::BlockNetwork { .. } => "block_network",
            ActionSpec::SuspendPrincipal => "suspend_principal",
        }
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
];

/// Parses one rule document. `Err` carries the rule id when it was readable.
pub(crate) fn parse_rule(file: &str, root: &Node) -> Result<Rule, (Option<String>, Problem)> {
    let map = Map::of(root, "a rule").map_err(|problem| (None, problem))?;
    let id = parse_id(map).map_err(|problem| (None, problem))?;
    parse_body(file, root, map, &id).map_err(|problem| (Some(id), problem))
}

fn parse_id(map: Map<'_>) -> Result<String, Problem> {
    let node = map.require("id", "a rule")?;
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
            "`id` must be 1 to 128 characters of a-z, 0-9, `.`, `_`, `-`",
        ))
    }
}

fn parse_body(file: &str, root: &Node, map: Map<'_>, id: &str) -> Result<Rule, Problem> {
    map.only(RULE_KEYS, "a rule")?;
    let title = required_text(map, "title")?;
    let description = required_text(map, "description")?;
    let false_positives = required_text(map, "false_positives")?;
    let severity_node = map.require("severity", "a rule")?;
    let severity = match severity_node.text("`severity`")? {
        "low" => Severity::Low,
        "medium" => Severity::Medium,
        "high" => Severity::High,
        "critical" => Severity::Critical,
        other => {
            return Err(Problem::at(
                severity_node,
                format!("unknown severity {other:?}; known: low, medium, high, critical"),
            ));
        }
    };
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

    let detection_node = map.require("detection", "a rule")?;
    let detection_map = Map::of(detection_node, "`detection`")?;
    let detection = Detection::parse(detection_map)?;

    let correlation = match map.get("correlation") {
        None => None,
        Some(node) => Some(Map::of(node, "`correlation`")?),
    };
    let correlation_type = match correlation {
        None => None,
        Some(correlation) => Some(correlation.require("type", "`correlation`")?),
    };
    let is_temporal =
        correlation_type.is_some_and(|node| node.value == Value::String("temporal_ordered".into()));
    let condition = match (detection_map.get("condition"), is_temporal) {
        (Some(node), false) => Some(detection.compile(node, "`condition`")?),
        (None, false) => {
            return Err(Problem::at(
                detection_node,
                "`detection` requires a `condition`",
            ));
        }
        (Some(node), true) => {
            return Err(Problem::at(
                node,
                "a temporal_ordered rule names its steps in `correlation.sequence`; remove \
                 `detection.condition`",
            ));
        }
        (None, true) => None,
    };

    let (logic, group_by, max_groups) = match correlation {
        None => {
            let group_by = match map.get("group-by") {
                None => Vec::new(),
                Some(node) => parse_group_by(node, None)?,
            };
            (Logic::Single, group_by, None)
        }
        Some(correlation) => {
            if let Some(node) = map.get("group-by") {
                return Err(Problem::at(
                    node,
                    "a correlation rule names `group-by` inside `correlation`",
                ));
            }
            parse_correlation(correlation, &detection)?
        }
    };

    let cooldown = match map.get("cooldown") {
        None => micros(DEFAULT_COOLDOWN),
        Some(node) => duration(node, "`cooldown`", MAX_COOLDOWN)?,
    };
    let response = match map.get("response") {
        None => Response::default(),
        Some(node) => parse_response(node)?,
    };

    let mut kinds: Option<BTreeSet<EventKind>> = Some(BTreeSet::new());
    let mut route = |found: Option<BTreeSet<EventKind>>| match (&mut kinds, found) {
        (Some(all), Some(found)) => all.extend(found),
        (all, None) => *all = None,
        (None, Some(_)) => {}
    };
    if let Some(condition) = &condition {
        route(detection.kinds(condition));
    }
    match &logic {
        Logic::TemporalOrdered { steps, .. } => {
            for step in steps {
                route(detection.kinds(step));
            }
        }
        Logic::Absence { expect, .. } => route(detection.kinds(expect)),
        _ => {}
    }

    Ok(Rule {
        id: id.to_string(),
        title,
        description,
        severity,
        false_positives,
        file: file.to_string(),
        line: root.position.line,
        detection,
        condition,
        logic,
        group_by,
        max_groups,
        cooldown,
        context_fields,
        response,
        kinds,
    })
}

fn required_text(map: Map<'_>, key: &str) -> Result<String, Problem> {
    let node = map.require(key, "a rule")?;
    let text = node.text(&format!("`{key}`"))?.trim();
    if text.is_empty() {
        return Err(Problem::at(node, format!("`{key}` is empty")));
    }
    Ok(text.to_string())
}

fn parse_group_by(node: &Node, max_groups: Option<u64>) -> Result<Vec<Field>, Problem> {
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

type Correlation = (Logic, Vec<Field>, Option<u64>);

fn parse_correlation(map: Map<'_>, detection: &Detection) -> Result<Correlation, Problem> {
    let type_node = map.require("type", "`correlation`")?;
    let kind = type_node.text("`correlation.type`")?;
    let allowed: &[&str] = match kind {
        "event_count" => &["type", "group-by", "timespan", "condition", "max_groups"],
        "value_count" => &[
            "type",
            "group-by",
            "timespan",
            "condition",
            "field",
            "max_groups",
            "probation",
            "retention",
        ],
        "share" => &[
            "type",
            "group-by",
            "timespan",
            "condition",
            "field",
            "population",
            "max_groups",
        ],
        "temporal_ordered" => &[
            "type",
            "group-by",
            "timespan",
            "sequence",
            "condition",
            "max_groups",
        ],
        "absence" => &["type", "group-by", "timespan", "expect", "max_groups"],
        "first_seen" => &[
            "type",
            "group-by",
            "field",
            "retention",
            "learning",
            "learning_scope",
            "max_groups",
        ],
        "volume_baseline" => &[
            "type",
            "group-by",
            "timespan",
            "field",
            "learning",
            "condition",
            "max_groups",
        ],
        other => {
            return Err(Problem::at(
                type_node,
                format!(
                    "unknown correlation type {other:?}; known: event_count, value_count, share, \
                     temporal_ordered, absence, first_seen, volume_baseline"
                ),
            ));
        }
    };
    map.only(allowed, &format!("a {kind} correlation"))?;
    let max_groups = match map.get("max_groups") {
        None => None,
        Some(node) => Some(node.count("`max_groups`")?.max(1)),
    };
    let group_by = parse_group_by(map.require("group-by", "`correlation`")?, max_groups)?;
    let timespan = |map: Map<'_>| {
        duration(
            map.require("timespan", "`correlation`")?,
            "`timespan`",
            MAX_TIMESPAN,
        )
    };

    let condition = match map.get("condition") {
        None => None,
        Some(node) => Some(Map::of(node, "`correlation.condition`")?),
    };
    // Sigma puts value_count's field inside `condition`; both places are accepted.
    let field = |required: bool| -> Result<Option<Field>, Problem> {
        let outer = map.get("field");
        let inner = condition.and_then(|condition| condition.get("field"));
        let node = match (outer, inner) {
            (Some(_), Some(inner)) => {
                return Err(Problem::at(
                    inner,
                    "`field` is given twice (in `correlation` and in its `condition`)",
                ));
            }
            (Some(node), None) | (None, Some(node)) => node,
            (None, None) if required => {
                return Err(Problem::at(
                    map.node,
                    format!("a {kind} correlation requires `field`"),
                ));
            }
            (None, None) => return Ok(None),
        };
        let name = node.text("`field`")?;
        let field = Field::parse(name).map_err(|message| Problem::at(node, message))?;
        if field.is_lookup() {
            return Err(Problem::at(node, format!("cannot count lookup `{name}`")));
        }
        if group_by.contains(&field) {
            return Err(Problem::at(
                node,
                format!("`{name}` is also in `group-by`; its count would always be 1"),
            ));
        }
        Ok(Some(field))
    };
    let count_threshold = |default: Option<u64>| -> Result<u64, Problem> {
        let Some(condition) = condition else {
            return default.ok_or_else(|| {
                Problem::at(
                    map.node,
                    format!("a {kind} correlation requires `condition`"),
                )
            });
        };
        condition.only(&["gte", "gt", "field"], "a count condition")?;
        match (condition.get("gte"), condition.get("gt")) {
            (Some(node), None) => Ok(node.count("`gte`")?.max(1)),
            (None, Some(node)) => Ok(node.count("`gt`")?.saturating_add(1)),
            _ => Err(Problem::at(
                condition.node,
                "a count condition is `{gte: N}` or `{gt: N}` (exactly one)",
            )),
        }
    };

    let logic = match kind {
        "event_count" => Logic::EventCount {
            timespan: timespan(map)?,
            threshold: count_threshold(None)?,
        },
        "value_count" => Logic::ValueCount {
            field: field(true)?.unwrap_or(Field::Seq),
            timespan: timespan(map)?,
            threshold: count_threshold(None)?,
            probation: probation(map)?,
        },
        "share" => {
            if let Some(node) = map.get("population")
                && node.text("`population`")? != "customers"
            {
                return Err(Problem::at(node, "`population` must be `customers`"));
            }
            let condition = condition.ok_or_else(|| {
                Problem::at(
                    map.node,
                    "a share correlation requires `condition: {gte: FRACTION}`",
                )
            })?;
            condition.only(&["gte", "min", "field"], "a share condition")?;
            let fraction_node = condition.require("gte", "a share condition")?;
            let fraction = fraction_node.number("`gte`")?;
            if !(fraction > 0.0 && fraction <= 1.0) {
                return Err(Problem::at(
                    fraction_node,
                    "a share is a fraction above 0 and at most 1 (0.001 is 0.1 %)",
                ));
            }
            let min_distinct = match condition.get("min") {
                None => 1,
                Some(node) => node.count("`min`")?.max(1),
            };
            Logic::Share {
                field: field(true)?.unwrap_or(Field::Seq),
                timespan: timespan(map)?,
                fraction,
                min_distinct,
            }
        }
        "temporal_ordered" => {
            let node = map.require("sequence", "`correlation`")?;
            let Value::Sequence(items) = &node.value else {
                return Err(Problem::at(node, "`sequence` is a list of conditions"));
            };
            if items.len() < 2 || items.len() > MAX_SEQUENCE_STEPS {
                return Err(Problem::at(
                    node,
                    format!("`sequence` has 2 to {MAX_SEQUENCE_STEPS} steps"),
                ));
            }
            let steps = items
                .iter()
                .map(|item| detection.compile(item, "sequence step"))
                .collect::<Result<_, _>>()?;
            Logic::TemporalOrdered {
                timespan: timespan(map)?,
                steps,
                threshold: count_threshold(Some(1))?,
            }
        }
        "absence" => Logic::Absence {
            lookback: timespan(map)?,
            expect: detection.compile(map.require("expect", "`correlation`")?, "`expect`")?,
        },
        "first_seen" => {
            let scope = match map.get("learning_scope") {
                None => LearningScope::Engine,
                Some(node) => match node.text("`learning_scope`")? {
                    "engine" => LearningScope::Engine,
                    "group" => LearningScope::Group,
                    _ => return Err(Problem::at(node, "`learning_scope` is `engine` or `group`")),
                },
            };
            Logic::FirstSeen {
                field: field(true)?.unwrap_or(Field::Seq),
                retention: duration(
                    map.require("retention", "a first_seen correlation")?,
                    "`retention`",
                    MAX_RETENTION,
                )?,
                learning: learning(map)?,
                scope,
            }
        }
        _ => {
            let condition = condition.ok_or_else(|| {
                Problem::at(
                    map.node,
                    "a volume_baseline correlation requires `condition: {ratio: R, min: N}`",
                )
            })?;
            condition.only(&["ratio", "min", "field"], "a volume_baseline condition")?;
            let ratio_node = condition.require("ratio", "a volume_baseline condition")?;
            let ratio = ratio_node.number("`ratio`")?;
            if !(1.0..=1000.0).contains(&ratio) {
                return Err(Problem::at(ratio_node, "`ratio` is between 1 and 1000"));
            }
            let min = condition.require("min", "a volume_baseline condition")?;
            Logic::VolumeBaseline {
                field: field(false)?,
                timespan: timespan(map)?,
                learning: learning(map)?,
                ratio,
                min: min.count("`min`")?.max(1),
            }
        }
    };
    Ok((logic, group_by, max_groups))
}

/// `probation: D` (with an optional `retention: D`, default and at least the probation) of a
/// `value_count` correlation.
fn probation(map: Map<'_>) -> Result<Option<Probation>, Problem> {
    let Some(node) = map.get("probation") else {
        if let Some(node) = map.get("retention") {
            return Err(Problem::at(
                node,
                "`retention` of a value_count correlation goes with `probation`",
            ));
        }
        return Ok(None);
    };
    let span = duration(node, "`probation`", MAX_LEARNING)?;
    let retention = match map.get("retention") {
        None => span.max(micros(DEFAULT_PROBATION_RETENTION)),
        Some(node) => {
            let retention = duration(node, "`retention`", MAX_RETENTION)?;
            if retention < span {
                return Err(Problem::at(
                    node,
                    "`retention` is at least the `probation`: a group forgotten before its \
                     probation ends would never leave it",
                ));
            }
            retention
        }
    };
    Ok(Some(Probation { span, retention }))
}

fn learning(map: Map<'_>) -> Result<i64, Problem> {
    match map.get("learning") {
        None => Err(Problem::at(
            map.node,
            "this correlation requires `learning`",
        )),
        Some(node) => duration(node, "`learning`", MAX_LEARNING),
    }
}

pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Parses `30s`, `10m`, `1h`, `1d` into microseconds, checking `1s ≤ d ≤ max`.
fn duration(node: &Node, what: &str, max: Duration) -> Result<i64, Problem> {
    let text = node.scalar_text().unwrap_or_default();
    let parsed = parse_duration(&text).ok_or_else(|| {
        Problem::at(
            node,
            format!("{what} must be a duration such as 30s, 10m, 1h or 1d, not {text:?}"),
        )
    })?;
    if parsed.is_zero() {
        return Err(Problem::at(node, format!("{what} must be positive")));
    }
    if parsed > max {
        return Err(Problem::at(
            node,
            format!(
                "{what} {text} is longer than the maximum of {}; longer windows would need \
                 unbounded state",
                format_duration(max)
            ),
        ));
    }
    Ok(micros(parsed))
}

pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(seconds).map(Duration::from_secs)
}

pub(crate) fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

fn parse_response(node: &Node) -> Result<Response, Problem> {
    let map = Map::of(node, "`response`")?;
    map.only(
        &["dry_run", "actions", "allowlist", "max_actions"],
        "`response`",
    )?;
    let mut actions: Vec<ActionSpec> = Vec::new();
    if let Some(list) = map.get("actions") {
        for item in list.items() {
            let (name, parameters) = match &item.value {
                Value::String(name) => (name.as_str(), None),
                Value::Mapping(entries) if entries.len() == 1 => {
                    (entries[0].0.text.as_str(), Some(&entries[0].1))
                }
                _ => {
                    return Err(Problem::at(
                        item,
                        "an action is a name (`revoke_key`) or a one-key mapping \
                         (`block_network: {prefix_len: 32, ttl: 1h}`)",
                    ));
                }
            };
            let action = match name {
                "revoke_session" | "revoke_key" | "suspend_principal" => {
                    if let Some(parameters) = parameters
                        && parameters.value != Value::Null
                        && parameters.value != Value::Mapping(Vec::new())
                    {
                        return Err(Problem::at(
                            parameters,
                            format!("`{name}` takes no parameters"),
                        ));
                    }
                    match name {
                        "revoke_session" => ActionSpec::RevokeSession,
                        "revoke_key" => ActionSpec::RevokeKey,
                        _ => ActionSpec::SuspendPrincipal,
                    }
                }
                "block_network" => parse_block(item, parameters)?,
                other => {
                    return Err(Problem::at(
                        item,
                        format!(
                            "unknown action {other:?}; known: revoke_session, revoke_key, \
                             block_network, suspend_principal"
                        ),
                    ));
                }
            };
            if let Some(previous) = actions.iter().find(|known| known.name() == action.name()) {
                let message = if *previous == action {
                    format!("action `{}` is listed twice", action.name())
                } else {
                    format!(
                        "action `{}` is listed twice with conflicting parameters",
                        action.name()
                    )
                };
                return Err(Problem::at(item, message));
            }
            actions.push(action);
        }
    }
    let dry_run = match map.get("dry_run") {
        Some(node) => node.boolean("`dry_run`")?,
        None if actions.is_empty() => true,
        None => {
            return Err(Problem::at(
                node,
                "a response with actions must say `dry_run: true` (only report what would be \
                 done) or `dry_run: false` (enforce)",
            ));
        }
    };
    let max_actions = match map.get("max_actions") {
        None => DEFAULT_MAX_ACTIONS,
        Some(node) => {
            let cap = node.count("`max_actions`")?;
            if cap == 0 && !actions.is_empty() {
                return Err(Problem::at(
                    node,
                    "`max_actions: 0` contradicts the listed actions; remove them or raise the cap",
                ));
            }
            cap
        }
    };
    let mut allow_networks = Vec::new();
    let mut allow_principals = Vec::new();
    if let Some(node) = map.get("allowlist") {
        if actions.is_empty() {
            return Err(Problem::at(
                node,
                "an allowlist only applies to actions; none are listed",
            ));
        }
        let allowlist = Map::of(node, "`allowlist`")?;
        allowlist.only(&["cidrs", "principals"], "`allowlist`")?;
        if let Some(list) = allowlist.get("cidrs") {
            for (item, text) in list.text_list("an allowlist network")? {
                let network: IpNet = text
                    .parse()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| Problem::at(item, format!("{text:?} is not a network")))?;
                if network.prefix_len() == 0 {
                    return Err(Problem::at(
                        item,
                        "an allowlist of every address disables the rule's actions; set \
                         `dry_run: true` instead",
                    ));
                }
                allow_networks.push(network.trunc());
            }
        }
        if let Some(list) = allowlist.get("principals") {
            for (item, text) in list.text_list("an allowlist principal")? {
                allow_principals.push(
                    text.parse::<Principal>()
                        .map_err(|error| Problem::at(item, error.to_string()))?,
                );
            }
        }
    }
    Ok(Response {
        dry_run,
        actions,
        allow_networks,
        allow_principals,
        max_actions,
    })
}

fn parse_block(item: &Node, parameters: Option<&Node>) -> Result<ActionSpec, Problem> {
    let Some(parameters) = parameters.filter(|node| node.value != Value::Null) else {
        return Err(Problem::at(
            item,
            "`block_network` needs `ttl` (and optionally `prefix_len`, `prefix_len_v6`)",
        ));
    };
    let map = Map::of(parameters, "`block_network`")?;
    map.only(&["prefix_len", "prefix_len_v6", "ttl"], "`block_network`")?;
    let prefix = |key: &str, default: u64, low: u64, high: u64| -> Result<u8, Problem> {
        let Some(node) = map.get(key) else {
            return Ok(u8::try_from(default).unwrap_or(u8::MAX));
        };
        let value = node.count(&format!("`{key}`"))?;
        if value < low || value > high {
            return Err(Problem::at(
                node,
                format!(
                    "`{key}` must be between {low} and {high}; shorter prefixes would block \
                     too many innocent addresses"
                ),
            ));
        }
        Ok(u8::try_from(value).unwrap_or(u8::MAX))
    };
    let ttl = duration(
        map.require("ttl", "`block_network`")?,
        "`ttl`",
        MAX_BLOCK_TTL,
    )?;
    Ok(ActionSpec::BlockNetwork {
        prefix_v4: prefix("prefix_len", 32, 16, 32)?,
        prefix_v6: prefix("prefix_len_v6", 64, 32, 128)?,
        ttl: Duration::from_micros(ttl.unsigned_abs()),
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5w"), None);
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }
}
