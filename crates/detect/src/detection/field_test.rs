//! One field test of a selection, `field|modifiers: values`: its modifiers parsed into an
//! operator, its values compiled into patterns, and its match against an event's field.

use haechi_events::{EventKind, Principal};

use super::MAX_VALUES_PER_TEST;
use super::pattern::{Pattern, compile_pattern};
use crate::fields::{EventView, Field, FieldValue, principal_type};
use crate::yaml::{Node, Value};

/// One `field|modifiers: values` entry.
#[derive(Debug, Clone)]
pub(super) struct FieldTest {
    pub(super) field: Field,
    pub(super) operator: Operator,
    pub(super) patterns: Vec<Pattern>,
    /// `|all`: every pattern must match (default: any).
    pub(super) all: bool,
    /// `|cased`: text comparisons are case-sensitive (default: ASCII case-insensitive).
    cased: bool,
    /// The value list contained `null`: an absent field matches.
    pub(super) matches_missing: bool,
    /// For `kind: [...]` equality, the kinds themselves: compared as values, not as text (a
    /// test every rule makes on every event it sees).
    kinds: Option<Vec<EventKind>>,
}

/// What a field test compares: the modifier it names, or equality.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Operator {
    Equals,
    Contains,
    StartsWith,
    EndsWith,
    Regex,
    Cidr,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Exists(bool),
}

impl FieldTest {
    pub(super) fn parse(key: &str, node: &Node) -> Result<FieldTest, String> {
        let mut parts = key.split('|');
        let field = Field::parse(parts.next().unwrap_or_default())?;
        let field_type = field.field_type();
        let mut operator = None;
        let mut all = false;
        let mut cased = false;
        for modifier in parts {
            let next = match modifier {
                "all" => {
                    all = true;
                    continue;
                }
                "cased" => {
                    cased = true;
                    continue;
                }
                "contains" => Operator::Contains,
                "startswith" => Operator::StartsWith,
                "endswith" => Operator::EndsWith,
                "re" => Operator::Regex,
                "cidr" => Operator::Cidr,
                "gt" => Operator::Greater,
                "gte" => Operator::GreaterOrEqual,
                "lt" => Operator::Less,
                "lte" => Operator::LessOrEqual,
                "exists" => Operator::Exists(true),
                other => {
                    return Err(format!(
                        "unknown modifier {other:?}; known: contains, startswith, endswith, re, \
                         cidr, gt, gte, lt, lte, exists, all, cased"
                    ));
                }
            };
            if operator.replace(next).is_some() {
                return Err(
                    "at most one of contains/startswith/endswith/re/cidr/gt/gte/lt/lte/\
                            exists may be given"
                        .into(),
                );
            }
        }
        let operator = operator.unwrap_or(Operator::Equals);

        if let Operator::Exists(_) = operator {
            let Value::Bool(want) = node.value else {
                return Err("`|exists` takes true or false".into());
            };
            return Ok(FieldTest {
                field,
                operator: Operator::Exists(want),
                patterns: Vec::new(),
                all: false,
                cased: false,
                matches_missing: false,
                kinds: None,
            });
        }

        let items = node.items();
        if items.is_empty() {
            return Err("the value list is empty".into());
        }
        if items.len() > MAX_VALUES_PER_TEST {
            return Err(format!("more than {MAX_VALUES_PER_TEST} values"));
        }
        let mut patterns = Vec::with_capacity(items.len());
        let mut matches_missing = false;
        for item in items {
            if item.value == Value::Null {
                if operator != Operator::Equals {
                    return Err("`null` (field absent) only works without modifiers".into());
                }
                matches_missing = true;
                continue;
            }
            if matches!(item.value, Value::Sequence(_) | Value::Mapping(_)) {
                return Err(format!(
                    "values must be scalars, found {}",
                    item.type_name()
                ));
            }
            patterns.push(compile_pattern(&field, field_type, operator, item, cased)?);
        }
        if all && patterns.len() < 2 {
            return Err("`|all` needs a list of at least two values".into());
        }
        let kinds = (field == Field::Kind && operator == Operator::Equals)
            .then(|| {
                patterns
                    .iter()
                    .map(|pattern| match pattern {
                        Pattern::Symbol(text) => text.parse::<EventKind>().ok(),
                        _ => None,
                    })
                    .collect::<Option<Vec<_>>>()
            })
            .flatten();
        Ok(FieldTest {
            field,
            operator,
            patterns,
            all,
            cased,
            matches_missing,
            kinds,
        })
    }

    pub(super) fn matches(&self, view: &EventView<'_>) -> bool {
        if let Some(kinds) = &self.kinds {
            let kind = view.event.kind;
            return if self.all {
                kinds.iter().all(|expected| *expected == kind)
            } else {
                kinds.contains(&kind)
            };
        }
        let value = view.value(&self.field);
        if let Operator::Exists(want) = self.operator {
            let present = match value {
                FieldValue::Missing => false,
                FieldValue::Set(items) => !items.is_empty(),
                _ => true,
            };
            return present == want;
        }
        if let FieldValue::Missing = value {
            return self.matches_missing;
        }
        if self.all {
            self.patterns
                .iter()
                .all(|pattern| self.pattern_matches(pattern, &value))
        } else {
            self.patterns
                .iter()
                .any(|pattern| self.pattern_matches(pattern, &value))
        }
    }

    fn pattern_matches(&self, pattern: &Pattern, value: &FieldValue<'_>) -> bool {
        match value {
            FieldValue::Missing => false,
            FieldValue::Symbol(symbol) => match pattern {
                Pattern::Symbol(expected) => symbol == expected,
                _ => self.text_matches(pattern, symbol),
            },
            FieldValue::Text(text) => self.text_matches(pattern, text),
            FieldValue::Set(items) => items.iter().any(|item| self.text_matches(pattern, item)),
            FieldValue::Principal(principal) => self.principal_matches(pattern, principal),
            FieldValue::Ip(ip) => match pattern {
                Pattern::Ip(expected) => ip == expected,
                Pattern::Network(network) => network.contains(ip),
                _ => false,
            },
            FieldValue::Number(number) => match pattern {
                #[allow(clippy::cast_precision_loss, reason = "exact below 2^53")]
                Pattern::Number(expected) => compare(self.operator, *number as f64, *expected),
                _ => false,
            },
            FieldValue::Bool(flag) => {
                matches!(pattern, Pattern::Bool(expected) if flag == expected)
            }
        }
    }

    fn text_matches(&self, pattern: &Pattern, text: &str) -> bool {
        match pattern {
            Pattern::Text(expected) => {
                let (text, expected) = (text.as_bytes(), expected.as_bytes());
                let equal = |a: &[u8], b: &[u8]| {
                    if self.cased {
                        a == b
                    } else {
                        a.eq_ignore_ascii_case(b)
                    }
                };
                match self.operator {
                    Operator::Equals => equal(text, expected),
                    Operator::StartsWith => {
                        text.len() >= expected.len() && equal(&text[..expected.len()], expected)
                    }
                    Operator::EndsWith => {
                        text.len() >= expected.len()
                            && equal(&text[text.len() - expected.len()..], expected)
                    }
                    Operator::Contains => {
                        expected.is_empty()
                            || text
                                .windows(expected.len())
                                .any(|window| equal(window, expected))
                    }
                    _ => false,
                }
            }
            Pattern::Regex(regex) => regex.is_match(text),
            Pattern::Number(expected) => text
                .trim()
                .parse::<f64>()
                .is_ok_and(|number| compare(self.operator, number, *expected)),
            Pattern::Symbol(expected) => text == *expected,
            Pattern::Bool(_) | Pattern::Ip(_) | Pattern::Network(_) => false,
        }
    }

    fn principal_matches(&self, pattern: &Pattern, principal: &Principal) -> bool {
        // Equality and prefixes are checked without formatting the principal: this runs for
        // every event the rule sees.
        if let (Pattern::Text(expected), Operator::Equals | Operator::StartsWith) =
            (pattern, self.operator)
        {
            let kind = principal_type(principal);
            let id = principal.id();
            let expected = expected.as_bytes();
            let equal = |a: &[u8], b: &[u8]| {
                if self.cased {
                    a == b
                } else {
                    a.eq_ignore_ascii_case(b)
                }
            };
            if let Principal::Anonymous = principal {
                return match self.operator {
                    Operator::Equals => equal(b"anonymous", expected),
                    _ => expected.len() <= 9 && equal(&b"anonymous"[..expected.len()], expected),
                };
            }
            let prefix_len = kind.len() + 1;
            let total = prefix_len + id.len();
            if expected.len() > total
                || (self.operator == Operator::Equals && expected.len() != total)
            {
                return false;
            }
            let head = expected.len().min(kind.len());
            if !equal(&kind.as_bytes()[..head], &expected[..head]) {
                return false;
            }
            if expected.len() <= kind.len() {
                return true;
            }
            if expected[kind.len()] != b':' {
                return false;
            }
            return equal(
                &id.as_bytes()[..expected.len() - prefix_len],
                &expected[prefix_len..],
            );
        }
        self.text_matches(pattern, &principal.to_string())
    }
}

/// A numeric comparison; `false` for operators that are not one.
fn compare(operator: Operator, value: f64, expected: f64) -> bool {
    match operator {
        Operator::Equals => value == expected,
        Operator::Greater => value > expected,
        Operator::GreaterOrEqual => value >= expected,
        Operator::Less => value < expected,
        Operator::LessOrEqual => value <= expected,
        _ => false,
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use crate::detection::Detection;
    use crate::yaml::{Map, parse_documents};

    #[test]
    fn bad_tests_are_refused_with_a_reason() {
        let cases: &[(&str, &str)] = &[
            ("s: {kind: pii.reads}", "unknown event kind"),
            ("s: {colour: red}", "unknown field"),
            ("s: {ip|contains: '10.'}", "ip"),
            ("s: {reason|cidr: 10.0.0.0/8}", "only applies to `ip`"),
            ("s: {user_agent|re: '(('}", "bad regex"),
            ("s: {user_agent|re: 'a{1000}{1000}'}", "bad regex"),
            ("s: {user_agent: '*curl*'}", "wildcards"),
            ("s: {user_agent|base64: x}", "unknown modifier"),
            ("s: {status|gt: many}", "number"),
            ("s: {decision: maybe}", "not a value"),
            ("s: {reason|contains|startswith: x}", "at most one"),
        ];
        for (text, expected) in cases {
            let node = parse_documents(text).remove(0).unwrap();
            let error = Detection::parse(Map::of(&node, "detection").unwrap()).unwrap_err();
            assert!(
                error.message.contains(expected),
                "{text}: {}",
                error.message
            );
        }
    }
}
