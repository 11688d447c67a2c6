//! The crate's one error type.

use std::fmt;
use std::path::PathBuf;

/// Where in which rule file something went wrong, and what.
///
/// Printed as `FILE:LINE:COLUMN: rule ID: MESSAGE`, the shape editors and CI logs link to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleError {
    /// The file (or, for the built-in pack and strings, the name) the rule came from.
    pub file: String,
    /// The rule's `id`, when the file got far enough for it to be known.
    pub rule_id: Option<String>,
    /// 1-based line of the offending node.
    pub line: usize,
    /// 1-based column of the offending node.
    pub column: usize,
    /// What is wrong, in the rule author's terms.
    pub message: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        match &self.rule_id {
            Some(id) => write!(f, "rule {id}: ")?,
            None => f.write_str("rule ?: ")?,
        }
        f.write_str(&self.message)
    }
}

/// Everything that can go wrong in this crate. Detection itself never fails: once an
/// [`Engine`](crate::Engine) is built, every event is evaluated; only loading rules and building
/// the engine report errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A rule is invalid: bad YAML, an unknown key or field, a regex too large to compile, a
    /// window that would need unbounded state, conflicting response actions. The rule is
    /// skipped; the other rules of the file still load.
    #[error("{0}")]
    Rule(RuleError),
    /// A rule file or directory could not be read.
    #[error("cannot read rules from {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's reason.
        source: std::io::Error,
    },
    /// Two rules given to one engine share an `id`; alerts, dedup and action caps are keyed by
    /// it, so it must be unique.
    #[error("two rules have the id {0:?}; rule ids must be unique within an engine")]
    DuplicateRuleId(String),
}

impl From<RuleError> for Error {
    fn from(error: RuleError) -> Self {
        Error::Rule(error)
    }
}
