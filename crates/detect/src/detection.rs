//! Single-event matching: named selections of field tests, and the boolean condition over them.

use std::collections::BTreeSet;
use std::net::IpAddr;

use haechi_events::{EventKind, Principal};
use ipnet::IpNet;
use regex::{Regex, RegexBuilder};

use crate::fields::EventView;
use crate::fields::{Field, FieldType, FieldValue, principal_type};
use crate::yaml::{Map, Node, Problem, Value};

/// The longest regular expression a rule may hold, in bytes of pattern text.
pub const MAX_REGEX_LENGTH: usize = 1024;
/// The most memory one compiled regular expression may take (the regex crate's `size_limit`).
pub const MAX_REGEX_COMPILED_BYTES: usize = 256 * 1024;
/// The most values one field test may list.
pub const MAX_VALUES_PER_TEST: usize = 1024;

/// The named selections of a rule and the compiled conditions over them.
#[derive(Debug)]
pub(crate) struct Detection {
    /// Selection names and their tests, in document order.
    pub(crate) selections: Vec<(String, Selection)>,
}

/// One selection: alternatives (a list in YAML) of conjunctions (a mapping in YAML).
#[derive(Debug)]
pub(crate) struct Selection {
    alternatives: Vec<Vec<FieldTest>>,
}

/// One `field|modifiers: values` entry.
#[derive(Debug)]
struct FieldTest {
    field: Field,
    operator: Operator,
    patterns: Vec<Pattern>,
    /// `|all`: every pattern must match (default: any).
    all: bool,
    /// `|cased`: text comparisons are case-sensitive (default: ASCII case-insensitive).
    cased: bool,
    /// The value list contained `null`: an absent field matches.
    matches_missing: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operator {
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

#[derive(Debug)]
enum Pattern {
    Text(Box<str>),
    /// Equality with a word of a closed vocabulary, checked at load.
    Symbol(&'static str),
    Ip(IpAddr),
    Network(IpNet),
    Number(f64),
    Regex(Regex),
    Bool(bool),
}

/// A boolean expression over selections.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    Selection(usize),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
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

    /// Compiles a condition expression such as `read and not (allowed_1 or 1 of noise_*)`.
    pub(crate) fn compile(&self, node: &Node, what: &str) -> Result<Condition, Problem> {
        let text = node.text(what)?;
        let tokens = tokenize(text).map_err(|message| Problem::at(node, message))?;
        let mut parser = ConditionParser {
            tokens: &tokens,
            next: 0,
            detection: self,
        };
        let condition = parser
            .or()
            .map_err(|message| Problem::at(node, format!("{what} {text:?}: {message}")))?;
        if parser.next < tokens.len() {
            return Err(Problem::at(
                node,
                format!(
                    "{what} {text:?}: unexpected `{}`",
                    tokens[parser.next].as_str()
                ),
            ));
        }
        Ok(condition)
    }

    /// Whether `condition` holds for the event.
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

impl FieldTest {
    fn parse(key: &str, node: &Node) -> Result<FieldTest, String> {
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
        Ok(FieldTest {
            field,
            operator,
            patterns,
            all,
            cased,
            matches_missing,
        })
    }

    fn matches(&self, view: &EventView<'_>) -> bool {
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

fn compile_pattern(
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

// The condition language.

#[derive(Debug, Clone, PartialEq)]
enum Token {
    LeftParen,
    RightParen,
    Word(String),
}

impl Token {
    fn as_str(&self) -> &str {
        match self {
            Token::LeftParen => "(",
            Token::RightParen => ")",
            Token::Word(word) => word,
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    if text.len() > 4096 {
        return Err("condition longer than 4096 bytes".into());
    }
    let mut tokens = Vec::new();
    let mut word = String::new();
    for character in text.chars() {
        match character {
            '(' | ')' | ' ' | '\t' | '\n' => {
                if !word.is_empty() {
                    tokens.push(Token::Word(std::mem::take(&mut word)));
                }
                match character {
                    '(' => tokens.push(Token::LeftParen),
                    ')' => tokens.push(Token::RightParen),
                    _ => {}
                }
            }
            c if c.is_ascii_alphanumeric() || c == '_' || c == '*' => word.push(c),
            other => return Err(format!("unexpected character {other:?} in condition")),
        }
    }
    if !word.is_empty() {
        tokens.push(Token::Word(word));
    }
    if tokens.is_empty() {
        return Err("condition is empty".into());
    }
    Ok(tokens)
}

fn is_identifier(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn is_reserved(text: &str) -> bool {
    matches!(text, "and" | "or" | "not" | "of" | "all" | "any" | "them")
}

struct ConditionParser<'a> {
    tokens: &'a [Token],
    next: usize,
    detection: &'a Detection,
}

/// Nesting bound for parentheses and `not`, so a hostile condition cannot exhaust the stack.
const MAX_CONDITION_DEPTH: usize = 32;

impl ConditionParser<'_> {
    fn peek_word(&self) -> Option<&str> {
        match self.tokens.get(self.next) {
            Some(Token::Word(word)) => Some(word),
            _ => None,
        }
    }

    fn or(&mut self) -> Result<Condition, String> {
        self.or_at(0)
    }

    fn or_at(&mut self, depth: usize) -> Result<Condition, String> {
        if depth > MAX_CONDITION_DEPTH {
            return Err(format!("nested deeper than {MAX_CONDITION_DEPTH} levels"));
        }
        let mut items = vec![self.and(depth)?];
        while self.peek_word() == Some("or") {
            self.next += 1;
            items.push(self.and(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Condition::Or(items)
        })
    }

    fn and(&mut self, depth: usize) -> Result<Condition, String> {
        let mut items = vec![self.not(depth)?];
        while self.peek_word() == Some("and") {
            self.next += 1;
            items.push(self.not(depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Condition::And(items)
        })
    }

    fn not(&mut self, depth: usize) -> Result<Condition, String> {
        if self.peek_word() == Some("not") {
            if depth > MAX_CONDITION_DEPTH {
                return Err(format!("nested deeper than {MAX_CONDITION_DEPTH} levels"));
            }
            self.next += 1;
            return Ok(Condition::Not(Box::new(self.not(depth + 1)?)));
        }
        self.atom(depth)
    }

    fn atom(&mut self, depth: usize) -> Result<Condition, String> {
        let Some(token) = self.tokens.get(self.next) else {
            return Err("ends too early".into());
        };
        self.next += 1;
        match token {
            Token::LeftParen => {
                let inner = self.or_at(depth + 1)?;
                match self.tokens.get(self.next) {
                    Some(Token::RightParen) => {
                        self.next += 1;
                        Ok(inner)
                    }
                    _ => Err("missing `)`".into()),
                }
            }
            Token::RightParen => Err("unexpected `)`".into()),
            Token::Word(word) if matches!(word.as_str(), "1" | "any" | "all") => {
                let quantifier_all = word == "all";
                if self.peek_word() != Some("of") {
                    return Err(format!("`{word}` must be followed by `of`"));
                }
                self.next += 1;
                let Some(target) = self.peek_word().map(str::to_string) else {
                    return Err("`of` must be followed by a selection pattern or `them`".into());
                };
                self.next += 1;
                let indices = self.matching(&target)?;
                let items: Vec<Condition> = indices.into_iter().map(Condition::Selection).collect();
                Ok(if items.len() == 1 {
                    items
                        .into_iter()
                        .next()
                        .unwrap_or(Condition::Or(Vec::new()))
                } else if quantifier_all {
                    Condition::And(items)
                } else {
                    Condition::Or(items)
                })
            }
            Token::Word(word) if is_reserved(word) => Err(format!("unexpected `{word}`")),
            Token::Word(word) => self
                .detection
                .selections
                .iter()
                .position(|(name, _)| name == word)
                .map(Condition::Selection)
                .ok_or_else(|| format!("no selection named `{word}`")),
        }
    }

    /// The selections a `1 of`/`all of` target names: `them`, an exact name, or a pattern with
    /// `*` wildcards.
    fn matching(&self, target: &str) -> Result<Vec<usize>, String> {
        let indices: Vec<usize> = self
            .detection
            .selections
            .iter()
            .enumerate()
            .filter(|(_, (name, _))| target == "them" || glob_matches(target, name))
            .map(|(index, _)| index)
            .collect();
        if indices.is_empty() {
            Err(format!("no selection matches `{target}`"))
        } else {
            Ok(indices)
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob_matches(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            if tail.is_empty() {
                return true;
            }
            (0..=rest.len())
                .filter(|&start| rest.is_char_boundary(start))
                .any(|start| glob_matches(tail, &rest[start..]))
        }
    }
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
    use haechi_events::{Decision, SecurityEvent, Timestamp};

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

    #[test]
    fn bad_conditions_are_refused() {
        let node = parse_documents("a: {kind: pii.read}\nb: {status: 200}")
            .remove(0)
            .unwrap();
        let detection = Detection::parse(Map::of(&node, "detection").unwrap()).unwrap();
        for (condition, expected) in [
            ("a and", "ends too early"),
            ("a or c", "no selection named `c`"),
            ("(a", "missing `)`"),
            ("1 of x_*", "no selection matches"),
            ("a b", "unexpected `b`"),
            ("a & b", "unexpected character"),
        ] {
            let text = format!("c: '{condition}'");
            let node = parse_documents(&text).remove(0).unwrap();
            let map = Map::of(&node, "x").unwrap();
            let error = detection
                .compile(map.get("c").unwrap(), "condition")
                .unwrap_err();
            assert!(
                error.message.contains(expected),
                "{condition}: {}",
                error.message
            );
        }
        let deep = format!("c: '{}a{}'", "(".repeat(100), ")".repeat(100));
        let node = parse_documents(&deep).remove(0).unwrap();
        let map = Map::of(&node, "x").unwrap();
        assert!(
            detection
                .compile(map.get("c").unwrap(), "condition")
                .is_err()
        );
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
