//! Loading rules: from text, from files, from the built-in pack. A bad rule never stops the
//! others; every problem is reported with file, rule id and line.

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::{Error, RuleError};
use crate::rule::{Rule, parse_rule};
use crate::sigma;
use crate::yaml::{Position, parse_documents};

/// The largest rule file accepted.
pub const MAX_RULE_FILE_BYTES: usize = 1024 * 1024;

/// The rules that loaded and the errors of those that did not.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Rules that loaded, in file and document order.
    pub rules: Vec<Rule>,
    /// One error per rule (or file) that did not load.
    pub errors: Vec<Error>,
}

impl LoadReport {
    /// Adds another report's rules and errors, refusing rules whose id is already taken.
    pub fn merge(&mut self, other: LoadReport) {
        let mut ids: BTreeSet<String> = self.rules.iter().map(|rule| rule.id.clone()).collect();
        for rule in other.rules {
            if ids.insert(rule.id.clone()) {
                self.rules.push(rule);
            } else {
                self.errors.push(duplicate(&rule));
            }
        }
        self.errors.extend(other.errors);
    }
}

fn duplicate(rule: &Rule) -> Error {
    Error::Rule(RuleError {
        file: rule.file.clone(),
        rule_id: Some(rule.id.clone()),
        line: rule.line,
        column: 1,
        message: "another rule already has this id".into(),
    })
}

/// Loads the rules of one YAML text: Sigma documents (base and correlation rules, see
/// [`crate::sigma`]) and documents of Haechi's own format (one rule each), separated by `---`.
/// `file` names the source in error messages.
pub fn load_str(file: &str, text: &str) -> LoadReport {
    let mut report = LoadReport::default();
    if text.len() > MAX_RULE_FILE_BYTES {
        report.errors.push(Error::Rule(RuleError {
            file: file.to_string(),
            rule_id: None,
            line: 1,
            column: 1,
            message: format!("rule file larger than {MAX_RULE_FILE_BYTES} bytes"),
        }));
        return report;
    }
    let mut outcomes = Vec::new();
    let documents = parse_documents(text);
    let mut sigma_documents = Vec::new();
    for document in &documents {
        match document {
            Ok(node) if sigma::is_sigma(node) => sigma_documents.push(node),
            Ok(node) => outcomes.push(parse_rule(file, node)),
            Err(problem) => outcomes.push(Err((guess_id(text, problem.position), problem.clone()))),
        }
    }
    outcomes.extend(sigma::parse_file(file, &sigma_documents));

    let mut ids = BTreeSet::new();
    for outcome in outcomes {
        match outcome {
            Ok(rule) => {
                if ids.insert(rule.id.clone()) {
                    report.rules.push(rule);
                } else {
                    report.errors.push(duplicate(&rule));
                }
            }
            Err((rule_id, problem)) => report.errors.push(Error::Rule(RuleError {
                file: file.to_string(),
                rule_id,
                line: problem.position.line,
                column: problem.position.column,
                message: problem.message,
            })),
        }
    }
    report
}

/// Loads a rule file, or every `*.yaml`/`*.yml` file of a directory in name order. Unreadable
/// files are reported and skipped.
pub fn load_path(path: &Path) -> LoadReport {
    let mut report = LoadReport::default();
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let metadata = match std::fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(source) => {
            report.errors.push(io_error(source));
            return report;
        }
    };
    let mut files = Vec::new();
    if metadata.is_dir() {
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(source) => {
                report.errors.push(io_error(source));
                return report;
            }
        };
        for entry in entries {
            match entry {
                Ok(entry) => {
                    let file = entry.path();
                    let is_yaml = file
                        .extension()
                        .is_some_and(|extension| extension == "yaml" || extension == "yml");
                    if is_yaml && file.is_file() {
                        files.push(file);
                    }
                }
                Err(source) => report.errors.push(io_error(source)),
            }
        }
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    for file in files {
        match std::fs::read_to_string(&file) {
            Ok(text) => report.merge(load_str(&file.display().to_string(), &text)),
            Err(source) => report.errors.push(Error::Io { path: file, source }),
        }
    }
    report
}

/// The rule id of the document around `position`, read from its text, when YAML syntax errors
/// prevent a proper parse: the last top-level `id:` line between the document's start and the
/// error (or its `name`, a Sigma rule's readable id).
fn guess_id(text: &str, position: Position) -> Option<String> {
    let mut id = None;
    for line in text.lines().take(position.line) {
        if line.starts_with("---") {
            id = None;
        } else if let Some(rest) = line
            .strip_prefix("name:")
            .or_else(|| line.strip_prefix("id:").filter(|_| id.is_none()))
        {
            let value = rest.trim().trim_matches(['"', '\'']);
            if !value.is_empty() {
                id = Some(value.to_string());
            }
        }
    }
    id
}
