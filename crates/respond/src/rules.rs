//! Detection rules in a running server, changed without a restart.
//!
//! A server's rules come from three sources ([`RuleSources`]): the built-in pack, the rules
//! directory, and the set administrators put through `PUT /v1/admin/rules`, kept by the store
//! (every version, like the access policy, so a cluster's detection node reads what any API
//! node accepted). The [`RuleDesk`] checks a new set **as a whole** — one error anywhere refuses
//! it and the old set keeps running — and hands an accepted set to the engine task, which
//! swaps it in between two events ([`haechi_detect::Engine::replace_rules`]): unchanged rules
//! keep their windows, nothing buffered is lost.
//!
//! The engine task also asks the desk once a second whether a source changed: a new API
//! version (put on another node of the cluster) or a changed rules directory. The directory is
//! polled by its files' names, sizes and modification times rather than watched with inotify:
//! polling sees changes on every filesystem (network and container volumes lose inotify
//! events), within a second.

mod sources;

use std::sync::Arc;

use async_trait::async_trait;
use haechi_detect::{Rule, RulesSwap, Severity};
use haechi_events::{StoreError, Timestamp};
use parking_lot::{Mutex, RwLock};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

pub use sources::{
    DirectoryStamp, MAX_API_RULE_FILES, RuleFile, RuleOrigin, RuleProblem, RuleSet, RuleSources,
    valid_rule_file_name,
};

/// The most bytes the API set's files may hold together.
pub const MAX_API_RULE_BYTES: usize = 4 * 1024 * 1024;

/// A version of the API rule set, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRules {
    /// Its version (1, 2, …).
    pub version: u64,
    /// Its files.
    pub files: Vec<RuleFile>,
    /// The digest of the whole set it made when it was accepted.
    pub digest: String,
}

/// Where the API rule set is kept: every version, the newest in force.
#[async_trait]
pub trait RuleStore: Send + Sync + std::fmt::Debug {
    /// The newest API rule set, if one was ever put.
    async fn stored_rules(&self) -> Result<Option<StoredRules>, StoreError>;
    /// The newest version (0: none): what a detection node asks every second.
    async fn stored_rules_version(&self) -> Result<u64, StoreError>;
    /// Keeps `files` as the next version and returns it.
    async fn store_rules(&self, files: &[RuleFile], digest: &str) -> Result<u64, StoreError>;
}

/// One rule in force, for the API.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RuleSummary {
    /// The rule's id (Sigma's `name`).
    pub id: String,
    /// The rule's Sigma UUID, when it was loaded from a Sigma file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigma_id: Option<String>,
    /// Its title.
    pub title: String,
    /// The severity of its alerts.
    pub severity: Severity,
    /// Whether its response actions only report; absent when it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<bool>,
    /// The file it was read from (`builtin:NAME`, a directory path, `api:NAME`).
    pub file: String,
    /// The line its document starts on.
    pub line: usize,
}

impl RuleSummary {
    fn of(rule: &Rule) -> Self {
        let (file, line) = rule.source();
        RuleSummary {
            id: rule.id().to_string(),
            sigma_id: rule.sigma_id().map(str::to_string),
            title: rule.title().to_string(),
            severity: rule.severity(),
            dry_run: rule.dry_run(),
            file: file.to_string(),
            line,
        }
    }
}

/// A file the rules in force were read from.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LoadedFile {
    /// Which source.
    pub origin: RuleOrigin,
    /// Its name.
    pub name: String,
}

/// The rules in force on this node.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RulesInForce {
    /// Hex SHA-256 of the whole set (pack settings and every file).
    pub digest: String,
    /// The version of the API set included (0: none was ever put).
    pub api_version: u64,
    /// When this node's engine last took a set (absent: at start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changed_at: Option<Timestamp>,
    /// Whether this node's engine runs them (`false` on a cluster's API node: the detection
    /// node leading detection reads the same sources and runs them within a second).
    pub engine_here: bool,
    /// The rules, in evaluation order.
    pub rules: Vec<RuleSummary>,
    /// The files they were read from.
    pub files: Vec<LoadedFile>,
    /// Rules of the sources that did not load when the server started (left out, the others
    /// run); a change through the API or the directory with any such problem is refused.
    pub errors: Vec<RuleProblem>,
}

/// A set for the engine task to swap in, and where to say how it went.
#[derive(Debug)]
pub struct RulesRequest {
    /// The set.
    pub set: RuleSet,
    /// The engine's answer.
    pub reply: oneshot::Sender<Result<RulesSwap, String>>,
}

/// What became of a proposed API set that was not refused.
#[derive(Debug)]
pub enum Applied {
    /// This node's engine swapped it in.
    Here(RulesSwap),
    /// No engine runs here (a cluster's API node, or detection off): the detection node picks
    /// the stored version up within a second.
    Elsewhere,
}

/// The rules of a server: their sources, the set in force, and the way to the engine task.
#[derive(Debug)]
pub struct RuleDesk {
    sources: RuleSources,
    store: Arc<dyn RuleStore>,
    in_force: RwLock<RulesInForce>,
    /// The rules of the set in force, for a cluster's new leader to start from.
    current: Mutex<Vec<Rule>>,
    engine: Mutex<Option<mpsc::Sender<RulesRequest>>>,
    /// What the set in force was loaded from: the directory's picture and the API version.
    loaded_from: Mutex<(DirectoryStamp, u64)>,
    /// The digest of the last directory change refused, so it is logged once.
    refused: Mutex<Option<String>>,
    /// Held by a change through the API from its check to its swap, so two administrators'
    /// changes do not interleave.
    changes: tokio::sync::Mutex<()>,
}

impl RuleDesk {
    /// A desk over `sources` and the store of the API set. Nothing is loaded yet.
    pub fn new(sources: RuleSources, store: Arc<dyn RuleStore>) -> Self {
        RuleDesk {
            sources,
            store,
            in_force: RwLock::new(RulesInForce {
                digest: String::new(),
                api_version: 0,
                changed_at: None,
                engine_here: false,
                rules: Vec::new(),
                files: Vec::new(),
                errors: Vec::new(),
            }),
            current: Mutex::new(Vec::new()),
            engine: Mutex::new(None),
            loaded_from: Mutex::new((DirectoryStamp::default(), 0)),
            refused: Mutex::new(None),
            changes: tokio::sync::Mutex::new(()),
        }
    }

    /// Takes the lock a change through the API holds from its check to its swap.
    pub async fn lock_changes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.changes.lock().await
    }

    /// Loads the set a starting server runs: every source, the newest API set included. A bad
    /// rule is left out (listed in the errors) and the others run, as at every start.
    pub async fn load_at_start(&self) -> Result<RuleSet, StoreError> {
        let stamp = self.sources.directory_stamp();
        let stored = self.store.stored_rules().await?;
        let (files, version) = stored
            .map(|stored| (stored.files, stored.version))
            .unwrap_or_default();
        let set = self.sources.load(&files, version);
        *self.loaded_from.lock() = (stamp, version);
        self.record_in_force(&set, None);
        Ok(set)
    }

    /// The rules of the set in force (`None` before any was loaded).
    pub fn current_rules(&self) -> Option<Vec<Rule>> {
        let current = self.current.lock();
        (!self.in_force.read().digest.is_empty()).then(|| current.clone())
    }

    /// The rules in force.
    pub fn in_force(&self) -> RulesInForce {
        self.in_force.read().clone()
    }

    /// The newest API set (empty when none was put).
    pub async fn api_files(&self) -> Result<Vec<RuleFile>, StoreError> {
        Ok(self
            .store
            .stored_rules()
            .await?
            .map(|stored| stored.files)
            .unwrap_or_default())
    }

    /// Checks `api` as the new API set together with the other sources. Any error — a bad
    /// name, a rule that does not load, an id taken twice — refuses it whole.
    pub fn check(&self, api: &[RuleFile]) -> Result<RuleSet, Vec<RuleProblem>> {
        let mut problems = Vec::new();
        if api.len() > MAX_API_RULE_FILES {
            problems.push(RuleProblem::request(
                "files",
                format!("the API rule set holds at most {MAX_API_RULE_FILES} files"),
            ));
        }
        let total: usize = api.iter().map(|file| file.text.len()).sum();
        if total > MAX_API_RULE_BYTES {
            problems.push(RuleProblem::request(
                "files",
                format!("the API rule set holds at most {MAX_API_RULE_BYTES} bytes of YAML"),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (index, file) in api.iter().enumerate() {
            if !valid_rule_file_name(&file.name) {
                problems.push(RuleProblem::request(
                    format!("files[{index}].name"),
                    "a rule file's name is 1 to 64 characters of a-z 0-9 . _ - ending .yaml \
                     or .yml",
                ));
            } else if !names.insert(file.name.as_str()) {
                problems.push(RuleProblem::request(
                    format!("files[{index}].name"),
                    "another file of the set has this name",
                ));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let set = self
            .sources
            .load(api, self.loaded_from.lock().1.saturating_add(1));
        if set.errors.is_empty() {
            Ok(set)
        } else {
            Err(set.errors)
        }
    }

    /// Keeps an accepted API set as the next version; returns the version.
    pub async fn store(&self, api: &[RuleFile], set: &mut RuleSet) -> Result<u64, StoreError> {
        let version = self.store.store_rules(api, &set.digest).await?;
        set.api_version = version;
        Ok(version)
    }

    /// Hands an accepted, stored set to this node's engine and waits for the swap.
    pub async fn apply(&self, set: RuleSet) -> Result<Applied, String> {
        let sender = self.engine.lock().clone();
        let Some(sender) = sender else {
            return Ok(Applied::Elsewhere);
        };
        let (reply, answer) = oneshot::channel();
        if sender.send(RulesRequest { set, reply }).await.is_err() {
            return Ok(Applied::Elsewhere);
        }
        match answer.await {
            Ok(result) => result.map(Applied::Here),
            Err(_) => Err("the detection task stopped before taking the rules".into()),
        }
    }

    /// Connects this node's engine task: the desk's requests come through the returned
    /// receiver.
    pub fn attach_engine(&self) -> mpsc::Receiver<RulesRequest> {
        let (sender, receiver) = mpsc::channel(4);
        *self.engine.lock() = Some(sender);
        self.in_force.write().engine_here = true;
        receiver
    }

    /// Notes that the engine swapped `set` in at `at`.
    pub fn swapped(&self, set: &RuleSet, at: Timestamp) {
        *self.loaded_from.lock() = (self.sources.directory_stamp(), set.api_version);
        self.record_in_force(set, Some(at));
    }

    /// Whether a source changed since the set in force was loaded (a new API version stored
    /// by another node, a changed rules directory), and if so the new set — or `None` when
    /// nothing changed or the change is refused (logged once; the old set keeps running).
    pub async fn changed_sources(&self) -> Result<Option<RuleSet>, StoreError> {
        let stamp = self.sources.directory_stamp();
        let version = self.store.stored_rules_version().await?;
        {
            let loaded = self.loaded_from.lock();
            if loaded.0 == stamp && loaded.1 == version {
                return Ok(None);
            }
        }
        let stored = self.store.stored_rules().await?;
        let (files, version) = stored
            .map(|stored| (stored.files, stored.version))
            .unwrap_or_default();
        let set = self.sources.load(&files, version);
        if set.digest == self.in_force.read().digest {
            *self.loaded_from.lock() = (stamp, version);
            return Ok(None);
        }
        if !set.errors.is_empty() {
            let mut refused = self.refused.lock();
            if refused.as_deref() != Some(set.digest.as_str()) {
                for error in &set.errors {
                    tracing::error!(%error, "changed rules refused; the rules in force keep running");
                }
                *refused = Some(set.digest.clone());
            }
            return Ok(None);
        }
        Ok(Some(set))
    }

    fn record_in_force(&self, set: &RuleSet, at: Option<Timestamp>) {
        *self.current.lock() = set.rules.clone();
        let mut in_force = self.in_force.write();
        in_force.digest = set.digest.clone();
        in_force.api_version = set.api_version;
        in_force.changed_at = at.or(in_force.changed_at);
        in_force.rules = set.rules.iter().map(RuleSummary::of).collect();
        in_force.files = set
            .files
            .iter()
            .map(|(origin, name)| LoadedFile {
                origin: *origin,
                name: name.clone(),
            })
            .collect();
        if at.is_none() {
            in_force.errors = set.errors.clone();
        }
    }
}
