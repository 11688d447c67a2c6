//! Where a server's rules come from — the built-in pack, the rules directory, the set put
//! through the API — and the whole set loaded from them, with one digest over everything that
//! went in.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use haechi_detect::{LoadReport, MAX_RULE_FILE_BYTES, PackSettings, Rule, load_str};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// One rule file: its name and YAML text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleFile {
    /// The file's name: 1 to 64 characters of `a-z 0-9 . _ -`, ending `.yaml` or `.yml`.
    pub name: String,
    /// The file's YAML: Sigma documents (or Haechi's older format).
    pub text: String,
}

/// Where a loaded rule file came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RuleOrigin {
    /// The pack compiled into the binary.
    Builtin,
    /// The rules directory (`<data_dir>/rules`).
    Directory,
    /// The set administrators put through `PUT /v1/admin/rules`.
    Api,
}

impl RuleOrigin {
    /// How files of this origin are named in rules and load errors: `builtin:NAME`,
    /// `rules/NAME` (the directory's file, without the server's own path) and `api:NAME`.
    fn label(self, name: &str) -> String {
        match self {
            RuleOrigin::Builtin => format!("builtin:{name}"),
            RuleOrigin::Directory => format!("rules/{name}"),
            RuleOrigin::Api => format!("api:{name}"),
        }
    }
}

/// The most files the API set may hold.
pub const MAX_API_RULE_FILES: usize = 64;

/// Whether `name` may name a rule file of the API set.
pub fn valid_rule_file_name(name: &str) -> bool {
    let stem = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"));
    name.len() <= 64
        && stem.is_some_and(|stem| {
            !stem.is_empty()
                && !stem.starts_with('.')
                && stem.bytes().all(|byte| {
                    byte.is_ascii_lowercase()
                        || byte.is_ascii_digit()
                        || matches!(byte, b'.' | b'_' | b'-')
                })
        })
}

/// The pack's settings and the rules directory: the sources a server's rules come from besides
/// the API set.
#[derive(Debug, Clone)]
pub struct RuleSources {
    /// The built-in pack's settings; `None` leaves the pack out.
    pack: Option<PackSettings>,
    /// The rules directory, when the deployment has one.
    directory: Option<PathBuf>,
}

/// A rule (or file) that did not load: where, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RuleProblem {
    /// `FILE:LINE:COLUMN` (`api:NAME:3:5`, `rules/NAME:1:1`), or the file alone.
    pub location: String,
    /// `rule ID: MESSAGE`, or what is wrong with the file.
    pub message: String,
}

impl RuleProblem {
    /// A problem of the request itself (a file name, the set's size).
    pub fn request(location: impl Into<String>, message: impl Into<String>) -> Self {
        RuleProblem {
            location: location.into(),
            message: message.into(),
        }
    }

    fn of(error: &haechi_detect::Error) -> Self {
        match error {
            haechi_detect::Error::Rule(error) => RuleProblem {
                location: format!("{}:{}:{}", error.file, error.line, error.column),
                message: format!(
                    "rule {}: {}",
                    error.rule_id.as_deref().unwrap_or("?"),
                    error.message
                ),
            },
            other => RuleProblem::request("rules", other.to_string()),
        }
    }
}

impl std::fmt::Display for RuleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// A whole rule set as loaded, with one digest over every input.
#[derive(Debug, Clone)]
pub struct RuleSet {
    /// Rules that loaded, in source order (pack, directory, API).
    pub rules: Vec<Rule>,
    /// One problem per rule (or file) that did not load.
    pub errors: Vec<RuleProblem>,
    /// Hex SHA-256 over the pack's settings and every file's origin, name and text: the same
    /// files give the same digest, whichever version of the API set holds them.
    pub digest: String,
    /// The files read, in order.
    pub files: Vec<(RuleOrigin, String)>,
    /// The version of the API set included (0: none).
    pub api_version: u64,
}

/// A cheap picture of the rules directory (names, sizes, modification times), to notice a
/// change without reading every file every second.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DirectoryStamp(Vec<(String, u64, Option<SystemTime>)>);

impl RuleSources {
    /// Sources over the pack (`None`: left out) and a rules directory.
    pub fn new(pack: Option<PackSettings>, directory: Option<PathBuf>) -> Self {
        RuleSources { pack, directory }
    }

    /// The rules directory's picture now (empty when there is none).
    pub fn directory_stamp(&self) -> DirectoryStamp {
        let mut stamp = Vec::new();
        for path in self.directory_files() {
            let metadata = std::fs::metadata(&path).ok();
            stamp.push((
                path.display().to_string(),
                metadata.as_ref().map_or(0, std::fs::Metadata::len),
                metadata.and_then(|metadata| metadata.modified().ok()),
            ));
        }
        DirectoryStamp(stamp)
    }

    /// Loads the whole set: the pack, every `*.yaml`/`*.yml` file of the directory in name
    /// order, and the API set `api` (at `api_version`). Duplicate ids across sources are
    /// errors of the later file.
    pub fn load(&self, api: &[RuleFile], api_version: u64) -> RuleSet {
        let mut report = LoadReport::default();
        let mut hasher = Sha256::new();
        let mut files = Vec::new();
        let mut errors = Vec::new();
        hasher.update(format!("pack:{:?}\n", self.pack));
        if let Some(settings) = &self.pack {
            for (name, text) in haechi_detect::BUILTIN_FILES {
                for part in [name.as_bytes(), &len_bytes(text), text.as_bytes()] {
                    hasher.update(part);
                }
                files.push((RuleOrigin::Builtin, (*name).to_string()));
            }
            report.merge(haechi_detect::builtin_rules_with(settings));
        }
        let mut add = |origin: RuleOrigin, name: &str, text: &str, report: &mut LoadReport| {
            let label = origin.label(name);
            for part in [label.as_bytes(), &len_bytes(text), text.as_bytes()] {
                hasher.update(part);
            }
            report.merge(load_str(&label, text));
            files.push((origin, name.to_string()));
        };
        for path in self.directory_files() {
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            match read_rule_file(&path) {
                Ok(text) => add(RuleOrigin::Directory, &name, &text, &mut report),
                Err(message) => errors.push(RuleProblem {
                    location: RuleOrigin::Directory.label(&name),
                    message,
                }),
            }
        }
        for file in api {
            add(RuleOrigin::Api, &file.name, &file.text, &mut report);
        }
        errors.extend(report.errors.iter().map(RuleProblem::of));
        RuleSet {
            rules: report.rules,
            errors,
            digest: hex::encode(hasher.finalize()),
            files,
            api_version,
        }
    }

    /// The directory's rule files, in name order.
    fn directory_files(&self) -> Vec<PathBuf> {
        let Some(directory) = &self.directory else {
            return Vec::new();
        };
        let Ok(entries) = std::fs::read_dir(directory) else {
            return Vec::new();
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "yaml" || extension == "yml")
                    && path.is_file()
            })
            .collect();
        files.sort();
        files
    }
}

/// The length prefix that keeps one file's bytes from running into the next in the digest.
fn len_bytes(text: &str) -> [u8; 8] {
    u64::try_from(text.len()).unwrap_or(u64::MAX).to_be_bytes()
}

/// A directory file's text, refused when too large or not UTF-8.
fn read_rule_file(path: &Path) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|error| error.to_string())?;
    if metadata.len() > u64::try_from(MAX_RULE_FILE_BYTES).unwrap_or(u64::MAX) {
        return Err(format!("rule file larger than {MAX_RULE_FILE_BYTES} bytes"));
    }
    std::fs::read_to_string(path).map_err(|error| error.to_string())
}
