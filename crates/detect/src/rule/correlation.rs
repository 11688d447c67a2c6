//! A rule's `correlation:` block: what it does with the events its condition selects. Each
//! correlation type is an entry of [`TYPES`] (its name, the keys it accepts, its parser) and a
//! [`Logic`] variant, which the engine evaluates in `engine/evaluate/`.

use super::duration::{duration, micros};
use super::{
    DEFAULT_PROBATION_RETENTION, MAX_LEARNING, MAX_RETENTION, MAX_SEQUENCE_STEPS, MAX_TIMESPAN,
    parse_group_by,
};
use crate::detection::{Condition, Detection};
use crate::fields::Field;
use crate::yaml::{Map, Node, Problem, Value};

/// What the rule does with the events its condition selects.
#[derive(Debug, Clone)]
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

/// A correlation's logic, group-by fields and group cap.
pub(crate) type Correlation = (Logic, Vec<Field>, Option<u64>);

/// One correlation type: its name in `correlation.type`, the keys its mapping may hold, and
/// its parser.
struct CorrelationType {
    name: &'static str,
    keys: &'static [&'static str],
    parse: fn(&Spec<'_>) -> Result<Logic, Problem>,
}

/// The correlation types, in the order error messages list them. A new type is one entry
/// here, its parser below, a [`Logic`] variant and its evaluation in the engine.
const TYPES: &[CorrelationType] = &[
    CorrelationType {
        name: "event_count",
        keys: &["type", "group-by", "timespan", "condition", "max_groups"],
        parse: event_count,
    },
    CorrelationType {
        name: "value_count",
        keys: &[
            "type",
            "group-by",
            "timespan",
            "condition",
            "field",
            "max_groups",
            "probation",
            "retention",
        ],
        parse: value_count,
    },
    CorrelationType {
        name: "share",
        keys: &[
            "type",
            "group-by",
            "timespan",
            "condition",
            "field",
            "population",
            "max_groups",
        ],
        parse: share,
    },
    CorrelationType {
        name: "temporal_ordered",
        keys: &[
            "type",
            "group-by",
            "timespan",
            "sequence",
            "condition",
            "max_groups",
        ],
        parse: temporal_ordered,
    },
    CorrelationType {
        name: "absence",
        keys: &["type", "group-by", "timespan", "expect", "max_groups"],
        parse: absence,
    },
    CorrelationType {
        name: "first_seen",
        keys: &[
            "type",
            "group-by",
            "field",
            "retention",
            "learning",
            "learning_scope",
            "max_groups",
        ],
        parse: first_seen,
    },
    CorrelationType {
        name: "volume_baseline",
        keys: &[
            "type",
            "group-by",
            "timespan",
            "field",
            "learning",
            "condition",
            "max_groups",
        ],
        parse: volume_baseline,
    },
];

/// Parses `correlation:`: its type, the keys every type shares (`group-by`, `max_groups`,
/// `condition`), then the type's own.
///
/// `steps` are a Sigma `temporal_ordered` correlation's steps (one per base rule it names), which
/// take the place of `sequence`.
pub(crate) fn parse_correlation(
    map: Map<'_>,
    detection: &Detection,
    steps: Option<&[Condition]>,
) -> Result<Correlation, Problem> {
    let type_node = map.require("type", "`correlation`")?;
    let kind = type_node.text("`correlation.type`")?;
    let Some(correlation_type) = TYPES.iter().find(|known| known.name == kind) else {
        let known: Vec<&str> = TYPES.iter().map(|known| known.name).collect();
        return Err(Problem::at(
            type_node,
            format!(
                "unknown correlation type {kind:?}; known: {}",
                known.join(", ")
            ),
        ));
    };
    map.only(correlation_type.keys, &format!("a {kind} correlation"))?;
    let max_groups = match map.get("max_groups") {
        None => None,
        Some(node) => Some(node.count("`max_groups`")?.max(1)),
    };
    let group_by = parse_group_by(map.require("group-by", "`correlation`")?, max_groups)?;
    let condition = match map.get("condition") {
        None => None,
        Some(node) => Some(Map::of(node, "`correlation.condition`")?),
    };
    let spec = Spec {
        map,
        kind,
        condition,
        group_by: &group_by,
        detection,
        steps,
    };
    let logic = (correlation_type.parse)(&spec)?;
    Ok((logic, group_by, max_groups))
}

/// A `correlation:` mapping being parsed, with the parts every type shares.
struct Spec<'a> {
    map: Map<'a>,
    /// The correlation type's name.
    kind: &'a str,
    /// `condition:`, when given.
    condition: Option<Map<'a>>,
    group_by: &'a [Field],
    detection: &'a Detection,
    /// A Sigma correlation's steps, from its base rules.
    steps: Option<&'a [Condition]>,
}

impl Spec<'_> {
    /// `timespan:`, required.
    fn timespan(&self) -> Result<i64, Problem> {
        duration(
            self.map.require("timespan", "`correlation`")?,
            "`timespan`",
            MAX_TIMESPAN,
        )
    }

    /// The counted `field`, required.
    fn field(&self) -> Result<Field, Problem> {
        match self.field_node()? {
            Some(node) => self.check_field(node),
            None => Err(Problem::at(
                self.map.node,
                format!("a {} correlation requires `field`", self.kind),
            )),
        }
    }

    /// The counted `field`, when given.
    fn optional_field(&self) -> Result<Option<Field>, Problem> {
        self.field_node()?
            .map(|node| self.check_field(node))
            .transpose()
    }

    /// Sigma puts value_count's field inside `condition`; both places are accepted, not both.
    fn field_node(&self) -> Result<Option<&Node>, Problem> {
        let outer = self.map.get("field");
        let inner = self.condition.and_then(|condition| condition.get("field"));
        match (outer, inner) {
            (Some(_), Some(inner)) => Err(Problem::at(
                inner,
                "`field` is given twice (in `correlation` and in its `condition`)",
            )),
            (Some(node), None) | (None, Some(node)) => Ok(Some(node)),
            (None, None) => Ok(None),
        }
    }

    fn check_field(&self, node: &Node) -> Result<Field, Problem> {
        let name = node.text("`field`")?;
        let field = Field::parse(name).map_err(|message| Problem::at(node, message))?;
        if field.is_lookup() {
            return Err(Problem::at(node, format!("cannot count lookup `{name}`")));
        }
        if self.group_by.contains(&field) {
            return Err(Problem::at(
                node,
                format!("`{name}` is also in `group-by`; its count would always be 1"),
            ));
        }
        Ok(field)
    }

    /// `condition: {gte: N}` or `{gt: N}`; without a condition, `default` (or an error when
    /// there is none).
    fn count_threshold(&self, default: Option<u64>) -> Result<u64, Problem> {
        let Some(condition) = self.condition else {
            return default.ok_or_else(|| {
                Problem::at(
                    self.map.node,
                    format!("a {} correlation requires `condition`", self.kind),
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
    }

    /// `condition:`, required, with what it should look like for the error.
    fn required_condition(&self, shape: &str) -> Result<Map<'_>, Problem> {
        self.condition.ok_or_else(|| {
            Problem::at(
                self.map.node,
                format!("a {} correlation requires `condition: {shape}`", self.kind),
            )
        })
    }

    /// `learning:`, required.
    fn learning(&self) -> Result<i64, Problem> {
        match self.map.get("learning") {
            None => Err(Problem::at(
                self.map.node,
                "this correlation requires `learning`",
            )),
            Some(node) => duration(node, "`learning`", MAX_LEARNING),
        }
    }

    /// `probation: D` (with an optional `retention: D`, default and at least the probation) of
    /// a `value_count` correlation.
    fn probation(&self) -> Result<Option<Probation>, Problem> {
        let map = self.map;
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
}

fn event_count(spec: &Spec<'_>) -> Result<Logic, Problem> {
    Ok(Logic::EventCount {
        timespan: spec.timespan()?,
        threshold: spec.count_threshold(None)?,
    })
}

fn value_count(spec: &Spec<'_>) -> Result<Logic, Problem> {
    Ok(Logic::ValueCount {
        field: spec.field()?,
        timespan: spec.timespan()?,
        threshold: spec.count_threshold(None)?,
        probation: spec.probation()?,
    })
}

fn share(spec: &Spec<'_>) -> Result<Logic, Problem> {
    if let Some(node) = spec.map.get("population")
        && node.text("`population`")? != "customers"
    {
        return Err(Problem::at(node, "`population` must be `customers`"));
    }
    let condition = spec.required_condition("{gte: FRACTION}")?;
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
    Ok(Logic::Share {
        field: spec.field()?,
        timespan: spec.timespan()?,
        fraction,
        min_distinct,
    })
}

fn temporal_ordered(spec: &Spec<'_>) -> Result<Logic, Problem> {
    let steps: Vec<Condition> = match (spec.steps, spec.map.get("sequence")) {
        (Some(_), Some(node)) => {
            return Err(Problem::at(
                node,
                "a Sigma correlation's steps are the rules it names in `rules`; remove `sequence`",
            ));
        }
        (Some(steps), None) => steps.to_vec(),
        (None, node) => {
            let node = node
                .ok_or_else(|| Problem::at(spec.map.node, "`correlation` requires `sequence`"))?;
            let Value::Sequence(items) = &node.value else {
                return Err(Problem::at(node, "`sequence` is a list of conditions"));
            };
            items
                .iter()
                .map(|item| spec.detection.compile(item, "sequence step"))
                .collect::<Result<_, _>>()?
        }
    };
    if steps.len() < 2 || steps.len() > MAX_SEQUENCE_STEPS {
        return Err(Problem::at(
            spec.map.get("sequence").unwrap_or(spec.map.node),
            format!("a temporal_ordered correlation has 2 to {MAX_SEQUENCE_STEPS} steps"),
        ));
    }
    Ok(Logic::TemporalOrdered {
        timespan: spec.timespan()?,
        steps,
        threshold: spec.count_threshold(Some(1))?,
    })
}

fn absence(spec: &Spec<'_>) -> Result<Logic, Problem> {
    Ok(Logic::Absence {
        lookback: spec.timespan()?,
        expect: spec
            .detection
            .compile(spec.map.require("expect", "`correlation`")?, "`expect`")?,
    })
}

fn first_seen(spec: &Spec<'_>) -> Result<Logic, Problem> {
    let scope = match spec.map.get("learning_scope") {
        None => LearningScope::Engine,
        Some(node) => match node.text("`learning_scope`")? {
            "engine" => LearningScope::Engine,
            "group" => LearningScope::Group,
            _ => return Err(Problem::at(node, "`learning_scope` is `engine` or `group`")),
        },
    };
    Ok(Logic::FirstSeen {
        field: spec.field()?,
        retention: duration(
            spec.map.require("retention", "a first_seen correlation")?,
            "`retention`",
            MAX_RETENTION,
        )?,
        learning: spec.learning()?,
        scope,
    })
}

fn volume_baseline(spec: &Spec<'_>) -> Result<Logic, Problem> {
    let condition = spec.required_condition("{ratio: R, min: N}")?;
    condition.only(&["ratio", "min", "field"], "a volume_baseline condition")?;
    let ratio_node = condition.require("ratio", "a volume_baseline condition")?;
    let ratio = ratio_node.number("`ratio`")?;
    if !(1.0..=1000.0).contains(&ratio) {
        return Err(Problem::at(ratio_node, "`ratio` is between 1 and 1000"));
    }
    let min = condition.require("min", "a volume_baseline condition")?;
    Ok(Logic::VolumeBaseline {
        field: spec.optional_field()?,
        timespan: spec.timespan()?,
        learning: spec.learning()?,
        ratio,
        min: min.count("`min`")?.max(1),
    })
}
