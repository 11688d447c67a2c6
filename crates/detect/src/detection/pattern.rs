//! A field test's values compiled once, at load, into patterns typed by the field: addresses
//! and networks, numbers, booleans, regular expressions within their size bounds, words of a
//! closed vocabulary (checked, so a typo cannot silently never match), or text.

use std::net::IpAddr;

use haechi_events::{EventKind, Principal};
use ipnet::IpNet;
use regex::{Regex, RegexBuilder};

use super::field_test::Operator;
use super::{MAX_REGEX_COMPILED_BYTES, MAX_REGEX_LENGTH};
use crate::fields::{Field, FieldType};
use crate::yaml::{Node, Value};

/// One value of a field test, compiled.
#[derive(Debug, Clone)]
pub(super) enum Pattern {
    Text(Box<str>),
    /// Equality with a word of a closed vocabulary, checked at load.
    Symbol(&'static str),
    Ip(IpAddr),
    Network(IpNet),
    Number(f64),
    Regex(Regex),
    Bool(bool),
}

/// Compiles one value of a test of `field` with `operator`, checking it fits the field's type.
pub(super) fn compile_pattern(
    field: &Field,
    field_type: FieldType,
    operator: Operator,
    item: &Node,
    cased: bool,
) -> Result<Pattern, String> {
    let text = item.scalar_text().unwrap_or_default();
    let numeric = matches!(
        operator,
        Operator::Greater | Operator::GreaterOrEqual | Operator::Less | Operator::LessOrEqual
    );
    if numeric {
        if !matches!(field_type, FieldType::Number | FieldType::Text) {
            return Err(format!("`{}` is not numeric", field.name()));
        }
        return item
            .number("a numeric comparison")
            .map(Pattern::Number)
            .map_err(|problem| problem.message);
    }
    match (field_type, operator) {
        (FieldType::Ip, Operator::Cidr) => text
            .parse::<IpNet>()
            .map(|network| Pattern::Network(network.trunc()))
            .map_err(|_| format!("{text:?} is not a network in CIDR notation")),
        (_, Operator::Cidr) => Err(format!(
            "`|cidr` only applies to `ip`, not `{}`",
            field.name()
        )),
        (FieldType::Ip, Operator::Equals) => text
            .parse::<IpAddr>()
            .map(Pattern::Ip)
            .map_err(|_| format!("{text:?} is not an IP address (use |cidr for networks)")),
        (FieldType::Ip, _) => Err("`ip` takes an address or `|cidr` networks".into()),
        (FieldType::Number, Operator::Equals) => item
            .number("a number field")
            .map(Pattern::Number)
            .map_err(|problem| problem.message),
        (FieldType::Number, _) => Err(format!(
            "`{}` is numeric: use a number or |gt/gte/lt/lte",
            field.name()
        )),
        (FieldType::Bool, Operator::Equals) => match item.value {
            Value::Bool(flag) => Ok(Pattern::Bool(flag)),
            _ => Err(format!("`{}` takes true or false", field.name())),
        },
        (FieldType::Bool, _) => Err(format!("`{}` takes true or false", field.name())),
        (_, Operator::Regex) => {
            if text.len() > MAX_REGEX_LENGTH {
                return Err(format!("regex longer than {MAX_REGEX_LENGTH} bytes"));
            }
            RegexBuilder::new(&text)
                .size_limit(MAX_REGEX_COMPILED_BYTES)
                .dfa_size_limit(MAX_REGEX_COMPILED_BYTES)
                .nest_limit(64)
                .build()
                .map(Pattern::Regex)
                .map_err(|error| format!("bad regex {text:?}: {error}"))
        }
        (_, Operator::Equals) => {
            if field_type == FieldType::Text && text.contains('*') {
                return Err(format!(
                    "{text:?}: Sigma wildcards are not supported; use |contains, |startswith, \
                     |endswith or |re"
                ));
            }
            match validate_vocabulary(field, field_type, &text)? {
                Some(symbol) => Ok(Pattern::Symbol(symbol)),
                None => Ok(text_pattern(text, cased)),
            }
        }
        (_, _) => Ok(text_pattern(text, cased)),
    }
}

fn text_pattern(text: String, cased: bool) -> Pattern {
    if cased {
        Pattern::Text(text.into())
    } else {
        Pattern::Text(text.to_ascii_lowercase().into())
    }
}

/// Equality against a closed vocabulary is checked at load: a typo such as `pii.reads` would
/// otherwise silently never match. Returns the vocabulary's own word (compared exactly, and
/// cheaply, at run time), or `None` for fields without a closed vocabulary.
fn validate_vocabulary(
    field: &Field,
    field_type: FieldType,
    text: &str,
) -> Result<Option<&'static str>, String> {
    const DECISIONS: &[&str] = &["allow", "mask", "deny"];
    const KEY_STATES: &[&str] = &["active", "retiring", "retired", "revoked", "unknown"];
    const PRINCIPAL_TYPES: &[&str] = &["customer", "service", "admin", "anonymous"];
    let allowed: &[&'static str] = match (field, field_type) {
        (_, FieldType::Kind) => {
            return text
                .parse::<EventKind>()
                .map(|kind| Some(kind.as_str()))
                .map_err(|_| {
                    let known: Vec<&str> =
                        EventKind::ALL.iter().map(|kind| kind.as_str()).collect();
                    format!("unknown event kind {text:?}; known: {}", known.join(", "))
                });
        }
        (_, FieldType::Principal) => {
            return text
                .parse::<Principal>()
                .map(|_| None)
                .map_err(|error| error.to_string());
        }
        (_, FieldType::Decision) => DECISIONS,
        (_, FieldType::KeyState) => KEY_STATES,
        (Field::PrincipalType, _) => PRINCIPAL_TYPES,
        _ => return Ok(None),
    };
    match allowed.iter().find(|word| **word == text) {
        Some(word) => Ok(Some(word)),
        None => Err(format!(
            "{text:?} is not a value of `{}`; known: {}",
            field.name(),
            allowed.join(", ")
        )),
    }
}
