//! A small positioned YAML tree, built from saphyr's event parser.
//!
//! Rules are read through this tree rather than a serde derive so that every error can point at
//! the line of the offending node, unknown keys are reported where they stand, and hostile input
//! is bounded before any tree exists: nesting deeper than [`MAX_DEPTH`], anchors and aliases
//! (the "billion laughs" vector), custom tags and duplicate keys are all refused.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};

/// The deepest nesting a rule document may have. Real rules need five or six levels.
pub(crate) const MAX_DEPTH: usize = 32;

/// A position in a rule file, 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Position {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl Position {
    fn of(span: &Span) -> Self {
        Position {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

/// One YAML node with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) position: Position,
    pub(crate) value: Value,
}

/// The value of a node, with plain scalars resolved by the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Integer(i64),
    Float(f64),
    String(String),
    Sequence(Vec<Node>),
    /// Keys are scalars, kept as text with their own position, in document order.
    Mapping(Vec<(Key, Node)>),
}

/// A mapping key: always a scalar, kept as its text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Key {
    pub(crate) position: Position,
    pub(crate) text: String,
}

/// A syntax, structure or meaning error, with the position of the node it is about.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub(crate) position: Position,
    pub(crate) message: String,
}

impl Problem {
    /// A problem at `node`.
    pub(crate) fn at(node: &Node, message: impl Into<String>) -> Self {
        Problem {
            position: node.position,
            message: message.into(),
        }
    }

    /// A problem at mapping key `key`.
    pub(crate) fn at_key(key: &Key, message: impl Into<String>) -> Self {
        Problem {
            position: key.position,
            message: message.into(),
        }
    }
}

/// A mapping's entries, with lookups that remember nothing and a check for unknown keys.
#[derive(Clone, Copy)]
pub(crate) struct Map<'a> {
    pub(crate) node: &'a Node,
    pub(crate) entries: &'a [(Key, Node)],
}

impl<'a> Map<'a> {
    /// `node` as a mapping, or a problem naming `what` it should have been.
    pub(crate) fn of(node: &'a Node, what: &str) -> Result<Self, Problem> {
        match &node.value {
            Value::Mapping(entries) => Ok(Map { node, entries }),
            _ => Err(Problem::at(
                node,
                format!("{what} must be a mapping, found {}", node.type_name()),
            )),
        }
    }

    /// The value under `key`, if present.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(candidate, _)| candidate.text == key)
            .map(|(_, node)| node)
    }

    /// The value under `key`, or a problem saying `what` requires it.
    pub(crate) fn require(&self, key: &str, what: &str) -> Result<&'a Node, Problem> {
        self.get(key)
            .ok_or_else(|| Problem::at(self.node, format!("{what} requires `{key}`")))
    }

    /// Fails on the first key not in `allowed`, naming the allowed ones.
    pub(crate) fn only(&self, allowed: &[&str], what: &str) -> Result<(), Problem> {
        for (key, _) in self.entries {
            if !allowed.contains(&key.text.as_str()) {
                return Err(Problem::at_key(
                    key,
                    format!(
                        "unknown key `{}` in {what}; allowed: {}",
                        key.text,
                        allowed.join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Node {
    /// The node as text, or a problem.
    pub(crate) fn text(&self, what: &str) -> Result<&str, Problem> {
        match &self.value {
            Value::String(text) => Ok(text),
            _ => Err(Problem::at(
                self,
                format!("{what} must be text, found {}", self.type_name()),
            )),
        }
    }

    /// The node as a boolean, or a problem.
    pub(crate) fn boolean(&self, what: &str) -> Result<bool, Problem> {
        match self.value {
            Value::Bool(flag) => Ok(flag),
            _ => Err(Problem::at(
                self,
                format!("{what} must be true or false, found {}", self.type_name()),
            )),
        }
    }

    /// The node as a non-negative integer, or a problem.
    pub(crate) fn count(&self, what: &str) -> Result<u64, Problem> {
        match self.value {
            Value::Integer(integer) if integer >= 0 => Ok(integer.unsigned_abs()),
            _ => Err(Problem::at(
                self,
                format!("{what} must be a non-negative integer"),
            )),
        }
    }

    /// The node as a number, or a problem.
    pub(crate) fn number(&self, what: &str) -> Result<f64, Problem> {
        match self.value {
            Value::Integer(integer) => Ok(integer as f64),
            Value::Float(float) if float.is_finite() => Ok(float),
            _ => Err(Problem::at(self, format!("{what} must be a number"))),
        }
    }

    /// The node as a list of text items (a single text counts as a one-item list).
    pub(crate) fn text_list(&self, what: &str) -> Result<Vec<(&Node, &str)>, Problem> {
        self.items()
            .into_iter()
            .map(|item| item.text(what).map(|text| (item, text)))
            .collect()
    }
}

/// One document of a YAML stream: its root node, or the first error inside it.
pub(crate) type Document = Result<Node, Problem>;

enum Frame {
    Sequence(Position, Vec<Node>),
    Mapping(Position, Vec<(Key, Node)>, Option<Key>),
}

/// Parses every document of `text`. A syntax error ends the stream (the parser cannot resume
/// after it), so it is returned as the last element; documents before it are kept.
pub(crate) fn parse_documents(text: &str) -> Vec<Document> {
    let mut documents = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    // Set when a document has a structural error: the rest of its events are skipped.
    let mut poisoned: Option<Problem> = None;
    let mut parser = Parser::new_from_str(text);
    let mut root: Option<Node> = None;
    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(pair)) => pair,
            Some(Err(error)) => {
                let marker = error.marker();
                documents.push(Err(Problem {
                    position: Position {
                        line: marker.line(),
                        column: marker.col() + 1,
                    },
                    message: format!("invalid YAML: {}", error.info()),
                }));
                return documents;
            }
        };
        let position = Position::of(&span);
        match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing => {}
            Event::DocumentStart(_) => {
                stack.clear();
                poisoned = None;
                root = None;
            }
            Event::DocumentEnd => {
                match (poisoned.take(), root.take()) {
                    (Some(error), _) => documents.push(Err(error)),
                    (None, Some(node)) => documents.push(Ok(node)),
                    (None, None) => {}
                }
                stack.clear();
            }
            _ if poisoned.is_some() => {}
            Event::Alias(_) => {
                poisoned = Some(Problem {
                    position,
                    message: "YAML aliases (*name) are not allowed in rules".into(),
                });
            }
            Event::Scalar(text, style, anchor, tag) => {
                if anchor != 0 || tag.is_some() {
                    poisoned = Some(refused_decoration(position, anchor));
                    continue;
                }
                let value = resolve_scalar(&text, style);
                if let Err(error) = attach(&mut stack, &mut root, Node { position, value }, &text) {
                    poisoned = Some(error);
                }
            }
            Event::SequenceStart(anchor, tag) | Event::MappingStart(anchor, tag)
                if anchor != 0 || tag.is_some() =>
            {
                poisoned = Some(refused_decoration(position, anchor));
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if stack.len() >= MAX_DEPTH => {
                poisoned = Some(Problem {
                    position,
                    message: format!("nesting deeper than {MAX_DEPTH} levels"),
                });
            }
            Event::SequenceStart(..) => stack.push(Frame::Sequence(position, Vec::new())),
            Event::MappingStart(..) => stack.push(Frame::Mapping(position, Vec::new(), None)),
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match stack.pop() {
                    Some(Frame::Sequence(position, items)) => Node {
                        position,
                        value: Value::Sequence(items),
                    },
                    Some(Frame::Mapping(position, entries, _)) => Node {
                        position,
                        value: Value::Mapping(entries),
                    },
                    None => continue,
                };
                if let Err(error) = attach(&mut stack, &mut root, node, "") {
                    poisoned = Some(error);
                }
            }
        }
    }
    documents
}

fn refused_decoration(position: Position, anchor: usize) -> Problem {
    let message = if anchor != 0 {
        "YAML anchors (&name) are not allowed in rules"
    } else {
        "YAML tags (!tag) are not allowed in rules"
    };
    Problem {
        position,
        message: message.into(),
    }
}

/// Puts a finished node into its parent (or makes it the root).
fn attach(
    stack: &mut [Frame],
    root: &mut Option<Node>,
    node: Node,
    scalar_text: &str,
) -> Result<(), Problem> {
    match stack.last_mut() {
        None => *root = Some(node),
        Some(Frame::Sequence(_, items)) => items.push(node),
        Some(Frame::Mapping(_, entries, pending_key)) => match pending_key.take() {
            Some(key) => entries.push((key, node)),
            None => {
                if matches!(node.value, Value::Sequence(_) | Value::Mapping(_)) {
                    return Err(Problem {
                        position: node.position,
                        message: "mapping keys must be plain text".into(),
                    });
                }
                if entries.iter().any(|(key, _)| key.text == scalar_text) {
                    return Err(Problem {
                        position: node.position,
                        message: format!("duplicate key {scalar_text:?}"),
                    });
                }
                *pending_key = Some(Key {
                    position: node.position,
                    text: scalar_text.to_string(),
                });
            }
        },
    }
    Ok(())
}

/// Resolves a scalar by the YAML 1.2 core schema: only plain scalars can be null, booleans or
/// numbers; quoted and block scalars are always text.
fn resolve_scalar(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(integer) = text.parse::<i64>()
    {
        return Value::Integer(integer);
    }
    let looks_numeric = digits
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'))
        && digits.bytes().any(|b| b.is_ascii_digit());
    if looks_numeric && let Ok(float) = text.parse::<f64>() {
        return Value::Float(float);
    }
    Value::String(text.to_string())
}

impl Node {
    /// A short name of the node's type, for messages.
    pub(crate) fn type_name(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "text",
            Value::Sequence(_) => "a list",
            Value::Mapping(_) => "a mapping",
        }
    }

    /// The node as text, if it is a scalar (numbers and booleans in their YAML spelling).
    pub(crate) fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::String(text) => Some(text.clone()),
            Value::Integer(integer) => Some(integer.to_string()),
            Value::Float(float) => Some(float.to_string()),
            Value::Bool(flag) => Some(flag.to_string()),
            Value::Null | Value::Sequence(_) | Value::Mapping(_) => None,
        }
    }

    /// The node's items if it is a list, or the node itself as a one-item list.
    pub(crate) fn items(&self) -> Vec<&Node> {
        match &self.value {
            Value::Sequence(items) => items.iter().collect(),
            _ => vec![self],
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

    fn first(text: &str) -> Document {
        parse_documents(text).remove(0)
    }

    #[test]
    fn scalars_resolve_by_the_core_schema() {
        let node = first("a: 1\nb: '1'\nc: true\nd: ~\ne: 1.5\nf: text\ng: 1.2.3.4\n").unwrap();
        let Value::Mapping(entries) = node.value else {
            panic!("not a mapping")
        };
        let values: Vec<Value> = entries.into_iter().map(|(_, node)| node.value).collect();
        assert_eq!(
            values,
            vec![
                Value::Integer(1),
                Value::String("1".into()),
                Value::Bool(true),
                Value::Null,
                Value::Float(1.5),
                Value::String("text".into()),
                Value::String("1.2.3.4".into()),
            ]
        );
    }

    #[test]
    fn positions_are_one_based() {
        let node = first("a:\n  b: 1\n").unwrap();
        let Value::Mapping(entries) = node.value else {
            panic!("not a mapping")
        };
        let Value::Mapping(inner) = &entries[0].1.value else {
            panic!("not a mapping")
        };
        assert_eq!(inner[0].0.position, Position { line: 2, column: 3 });
    }

    #[test]
    fn hostile_structures_are_refused() {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let error = first(&deep).unwrap_err();
        assert!(
            error.message.contains("nesting") || error.message.contains("invalid"),
            "{error:?}"
        );
        assert!(
            first("a: &x 1\nb: *x\n")
                .unwrap_err()
                .message
                .contains("anchors")
        );
        assert!(first("a: !!str 1\n").unwrap_err().message.contains("tags"));
        assert!(
            first("a: 1\na: 2\n")
                .unwrap_err()
                .message
                .contains("duplicate")
        );
        assert!(
            first("a: [1\n")
                .unwrap_err()
                .message
                .contains("invalid YAML")
        );
    }

    #[test]
    fn several_documents_are_kept_apart() {
        let documents = parse_documents("a: 1\n---\nb: &x 2\n---\nc: 3\n");
        assert_eq!(documents.len(), 3);
        assert!(documents[0].is_ok());
        assert!(documents[1].is_err());
        assert!(documents[2].is_ok());
    }
}
