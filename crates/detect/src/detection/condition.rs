//! The condition language: boolean expressions over a rule's selections, such as
//! `read and not (allowed_1 or 1 of noise_*)`, tokenized and parsed by recursive descent with a
//! nesting bound.

use super::Detection;
use crate::yaml::{Node, Problem};

/// A boolean expression over selections.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Condition {
    Selection(usize),
    Not(Box<Condition>),
    And(Vec<Condition>),
    Or(Vec<Condition>),
}

impl Condition {
    /// The same condition over selections numbered `offset` higher: its place in a joined
    /// detection.
    pub(crate) fn shifted(self, offset: usize) -> Condition {
        match self {
            Condition::Selection(index) => Condition::Selection(index + offset),
            Condition::Not(inner) => Condition::Not(Box::new(inner.shifted(offset))),
            Condition::And(items) => {
                Condition::And(items.into_iter().map(|item| item.shifted(offset)).collect())
            }
            Condition::Or(items) => {
                Condition::Or(items.into_iter().map(|item| item.shifted(offset)).collect())
            }
        }
    }
}

/// Compiles the condition expression in `node` over `detection`'s selections; `what` names
/// the expression in errors.
pub(super) fn compile(
    detection: &Detection,
    node: &Node,
    what: &str,
) -> Result<Condition, Problem> {
    let text = node.text(what)?;
    let tokens = tokenize(text).map_err(|message| Problem::at(node, message))?;
    let mut parser = ConditionParser {
        tokens: &tokens,
        next: 0,
        detection,
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

/// A selection name: letters, digits and `_`, not starting with a digit.
pub(super) fn is_identifier(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes
        .next()
        .is_some_and(|first| first.is_ascii_alphabetic() || first == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The condition language's own words, which no selection may be named.
pub(super) fn is_reserved(text: &str) -> bool {
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
    use crate::detection::Detection;
    use crate::yaml::{Map, parse_documents};

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
}
