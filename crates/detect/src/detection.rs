//! Single-event matching: named selections of field tests, and the boolean condition over them.
//!
//! This file holds a rule's selections and the questions asked of them (does a condition hold,
//! which event kinds can it hold for); beside it: `field_test` (one `field|modifiers: values`
//! entry), `pattern` (its values compiled by field type) and `condition` (the condition
//! language).

mod condition;
mod field_test;
mod memo;
mod pattern;

use std::collections::BTreeSet;

use haechi_events::EventKind;

pub(crate) use condition::Condition;
pub(crate) use memo::{RuleSelections, SelectionMemo};

use condition::{is_identifier, is_reserved};
use field_test::{FieldTest, Operator};
use pattern::Pattern;

use crate::fields::{EventView, Field};
use crate::yaml::{Map, Node, Problem, Value};

/// The longest regular expression a rule may hold, in bytes of pattern text.
pub const MAX_REGEX_LENGTH: usize = 1024;
/// The most memory one compiled regular expression may take (the regex crate's `size_limit`).
pub const MAX_REGEX_COMPILED_BYTES: usize = 256 * 1024;
/// The most values one field test may list.
pub const MAX_VALUES_PER_TEST: usize = 1024;

/// The named selections of a rule and the compiled conditions over them.
#[derive(Debug, Clone)]
pub(crate) struct Detection {
    /// Selection names and their tests, in document order.
    pub(crate) selections: Vec<(String, Selection)>,
}

/// One selection: alternatives (a list in YAML) of conjunctions (a mapping in YAML).
#[derive(Debug, Clone)]
pub(crate) struct Selection {
    alternatives: Vec<Vec<FieldTest>>,
}

impl Detection {
    /// Parses the `detection:` mapping, minus `condition` (the caller parses conditions, because
    /// correlation rules name further expressions over the same selections).
    pub(crate) fn parse(map: Map<'_>) -> Result<Detection, Problem> {
        let mut selections = Vec::new();
        for (key, node) in map.entries {
            if key.text == "condition" {
                continue;
            }
            if !is_identifier(&key.text) || is_reserved(&key.text) {
                return Err(Problem::at_key(
                    key,
                    format!(
                        "selection name {:?} must be letters, digits and `_`, not starting with \
                         a digit, and not one of and/or/not/of/all/any/them",
                        key.text
                    ),
                ));
            }
            let selection = Selection::parse(node, &key.text)?;
            selections.push((key.text.clone(), selection));
        }
        if selections.is_empty() {
            return Err(Problem::at(map.node, "detection has no selections"));
        }
        Ok(Detection { selections })
    }

    /// Joins the detections of several rules (a Sigma correlation's base rules) into one,
    /// returning each rule's condition pointed at its selections in the joined detection.
    /// Selection names may repeat across the parts: conditions are already compiled.
    pub(crate) fn join(parts: Vec<(Detection, Condition)>) -> (Detection, Vec<Condition>) {
        let mut selections = Vec::new();
        let mut conditions = Vec::new();
        for (detection, condition) in parts {
            conditions.push(condition.shifted(selections.len()));
            selections.extend(detection.selections);
        }
        (Detection { selections }, conditions)
    }

    /// Adds selection `node` (named `name` in errors) that must hold besides `condition`:
    /// Sigma rules' `haechi.where`, the state lookups Sigma has no field for.
    pub(crate) fn restrict(
        &mut self,
        condition: Condition,
        name: &str,
        node: &Node,
    ) -> Result<Condition, Problem> {
        let selection = Selection::parse(node, name)?;
        self.selections.push((name.to_string(), selection));
        let added = Condition::Selection(self.selections.len() - 1);
        Ok(Condition::And(vec![condition, added]))
    }

    /// Every field the selections test.
    pub(crate) fn fields(&self) -> impl Iterator<Item = &Field> {
        self.selections.iter().flat_map(|(_, selection)| {
            selection
                .alternatives
                .iter()
                .flat_map(|tests| tests.iter().map(|test| &test.field))
        })
    }

    /// Compiles a condition expression such as `read and not (allowed_1 or 1 of noise_*)`.
    pub(crate) fn compile(&self, node: &Node, what: &str) -> Result<Condition, Problem> {
        condition::compile(self, node, what)
    }
    /// Whether `condition` holds for the event (the engine asks [`Detection::holds_once`]).
    #[cfg(test)]
    pub(crate) fn holds(&self, condition: &Condition, view: &EventView<'_>) -> bool {
        match condition {
            Condition::Selection(index) => self.selections[*index].1.matches(view),
            Condition::Not(inner) => !self.holds(inner, view),
            Condition::And(items) => items.iter().all(|item| self.holds(item, view)),
            Condition::Or(items) => items.iter().any(|item| self.holds(item, view)),
        }
    }

    /// The event kinds `condition` can hold for, or `None` if it can hold for any kind. Used
    /// to route events only to the rules that can care about them.
    pub(crate) fn kinds(&self, condition: &Condition) -> Option<BTreeSet<EventKind>> {
        match condition {
            Condition::Selection(index) => self.selections[*index].1.kinds(),
            Condition::Not(_) => None,
            Condition::And(items) => items
                .iter()
                .filter_map(|item| self.kinds(item))
                .reduce(|left, right| left.intersection(&right).copied().collect()),
            Condition::Or(items) => {
                let mut union = BTreeSet::new();
                for item in items {
                    union.extend(self.kinds(item)?);
                }
                Some(union)
            }
        }
    }
}

impl Selection {
    fn parse(node: &Node, name: &str) -> Result<Selection, Problem> {
        let alternatives = match &node.value {
            Value::Mapping(_) => vec![parse_conjunction(node, name)?],
            Value::Sequence(items) if !items.is_empty() => items
                .iter()
                .map(|item| match item.value {
                    Value::Mapping(_) => parse_conjunction(item, name),
                    _ => Err(Problem::at(
                        item,
                        format!(
                            "selection `{name}`: a list must hold mappings of field tests \
                             (keyword searches over the whole event are not supported)"
                        ),
                    )),
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(Problem::at(
                    node,
                    format!(
                        "selection `{name}` must be a mapping of field tests or a list of such \
                         mappings"
                    ),
                ));
            }
        };
        Ok(Selection { alternatives })
    }

    fn matches(&self, view: &EventView<'_>) -> bool {
        self.alternatives
            .iter()
            .any(|tests| tests.iter().all(|test| test.matches(view)))
    }

    fn kinds(&self) -> Option<BTreeSet<EventKind>> {
        let mut union = BTreeSet::new();
        for tests in &self.alternatives {
            let kinds = tests.iter().find_map(|test| {
                let restricts = test.field == Field::Kind
                    && test.operator == Operator::Equals
                    && !test.matches_missing
                    && (!test.all || test.patterns.len() == 1);
                restricts.then(|| {
                    test.patterns
                        .iter()
                        .filter_map(|pattern| match pattern {
                            Pattern::Symbol(text) => text.parse::<EventKind>().ok(),
                            _ => None,
                        })
                        .collect::<BTreeSet<_>>()
                })
            })?;
            union.extend(kinds);
        }
        Some(union)
    }
}

fn parse_conjunction(node: &Node, name: &str) -> Result<Vec<FieldTest>, Problem> {
    let map = Map::of(node, &format!("selection `{name}`"))?;
    if map.entries.is_empty() {
        return Err(Problem::at(node, format!("selection `{name}` is empty")));
    }
    map.entries
        .iter()
        .map(|(key, value)| {
            FieldTest::parse(&key.text, value)
                .map_err(|message| Problem::at_key(key, format!("`{}`: {message}", key.text)))
        })
        .collect()
}
#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;
    use crate::NoState;
    use crate::yaml::parse_documents;
    use haechi_events::{Decision, Principal, SecurityEvent, Timestamp};

    fn detection(text: &str) -> (Detection, Condition) {
        let node = parse_documents(text).remove(0).unwrap();
        let map = Map::of(&node, "detection").unwrap();
        let detection = Detection::parse(map).unwrap();
        let condition = detection
            .compile(map.get("condition").unwrap(), "condition")
            .unwrap();
        (detection, condition)
    }

    fn holds(text: &str, event: &SecurityEvent) -> bool {
        let (detection, condition) = detection(text);
        let view = EventView {
            seq: 1,
            time: event.time.as_micros(),
            event,
            lookup: &NoState,
        };
        detection.holds(&condition, &view)
    }

    fn read() -> SecurityEvent {
        SecurityEvent::new(
            Timestamp::EPOCH,
            EventKind::PiiRead,
            Principal::Service("shipping".into()),
        )
        .ip(Some("10.1.2.3".parse().unwrap()))
        .customer("c_42")
        .user_agent(Some("Mozilla/5.0 curl-ish"))
        .fields(["address", "name"])
        .outcome(Decision::Deny, 404)
        .reason("not_found")
    }

    #[test]
    fn modifiers_and_conditions() {
        let event = read();
        let cases: &[(&str, bool)] = &[
            ("s: {kind: pii.read}\ncondition: s", true),
            ("s: {kind: [pii.write, pii.read]}\ncondition: s", true),
            ("s: {kind: pii.write}\ncondition: not s", true),
            ("s: {user_agent|contains: CURL}\ncondition: s", true),
            ("s: {user_agent|contains|cased: CURL}\ncondition: s", false),
            ("s: {user_agent|startswith: mozilla/}\ncondition: s", true),
            ("s: {user_agent|endswith: ish}\ncondition: s", true),
            ("s: {user_agent|re: '^Moz.*curl'}\ncondition: s", true),
            ("s: {ip|cidr: 10.0.0.0/8}\ncondition: s", true),
            (
                "s: {ip|cidr: [192.168.0.0/16, 172.16.0.0/12]}\ncondition: s",
                false,
            ),
            ("s: {ip: 10.1.2.3}\ncondition: s", true),
            ("s: {status|gte: 400, status|lt: 500}\ncondition: s", true),
            ("s: {status: [403, 404]}\ncondition: s", true),
            ("s: {sid|exists: false}\ncondition: s", true),
            ("s: {sid: null}\ncondition: s", true),
            ("s: {customer_id|exists: true}\ncondition: s", true),
            ("s: {fields: address}\ncondition: s", true),
            ("s: {fields|all: [address, phone]}\ncondition: s", false),
            ("s: {fields|all: [address, name]}\ncondition: s", true),
            ("s: {principal: service:shipping}\ncondition: s", true),
            ("s: {principal: service:ship}\ncondition: s", false),
            ("s: {principal|startswith: 'service:'}\ncondition: s", true),
            ("s: {principal|startswith: 'serv'}\ncondition: s", true),
            (
                "s: {principal|startswith: 'customer:'}\ncondition: s",
                false,
            ),
            ("s: {principal|endswith: ':shipping'}\ncondition: s", true),
            ("s: {principal_type: service}\ncondition: s", true),
            (
                "s: {decision: deny, reason: [not_found, policy]}\ncondition: s",
                true,
            ),
            (
                "s: [{kind: pii.write}, {reason: not_found}]\ncondition: s",
                true,
            ),
            (
                "sel_a: {kind: pii.write}\nsel_b: {kind: pii.read}\ncondition: 1 of sel_*",
                true,
            ),
            (
                "sel_a: {kind: pii.write}\nsel_b: {kind: pii.read}\ncondition: all of sel_*",
                false,
            ),
            (
                "a: {kind: pii.read}\nb: {status: 200}\nc: {reason: not_found}\n\
                 condition: a and not (b or not c)",
                true,
            ),
            ("s: {state.key: unknown}\ncondition: s", false),
            ("s: {detail.rows|gte: 10}\ncondition: s", false),
        ];
        for (text, expected) in cases {
            assert_eq!(holds(text, &event), *expected, "{text}");
        }
    }

    #[test]
    fn kinds_route_conservatively() {
        let (detection, condition) =
            detection("a: {kind: [pii.read, pii.write]}\nb: {status: 404}\ncondition: a and b");
        assert_eq!(
            detection.kinds(&condition),
            Some([EventKind::PiiRead, EventKind::PiiWrite].into())
        );
        let (detection, condition) =
            detection_of("a: {kind: pii.read}\nb: {status: 404}\ncondition: a or b");
        assert_eq!(detection.kinds(&condition), None);
    }

    fn detection_of(text: &str) -> (Detection, Condition) {
        detection(text)
    }
}
