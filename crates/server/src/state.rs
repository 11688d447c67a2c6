//! The state every handler shares.

use std::sync::{Arc, PoisonError};

use haechi_events::EventSink;
use haechi_store::Store;
use haechi_token::TokenAuthority;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::client_address::TrustedProxies;
use crate::crowd::CrowdBound;
use crate::source_limit::{GlobalLimiter, SourceLimiter};

/// Settings of the HTTP layer itself.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest total size of request headers, in bytes.
    pub max_header_bytes: usize,
    /// Proxies whose `X-Forwarded-For` entries are believed (default none: the peer address
    /// is the client). See [`TrustedProxies::client`].
    pub trusted_proxies: TrustedProxies,
    /// Whether `GET /v1/exposure/range/{prefix}` serves the SHA-1 ranges (which, for phone
    /// numbers, publish the exposed list); off: it answers 404 naming the setting.
    pub dangerous_public_sha1_ranges: bool,
    /// The anonymous exposure check's budgets of evaluations.
    pub exposure_check: CheckBudget,
    /// The public's requests a node answers at once; beyond them, 503 at once
    /// (`crate::crowd`).
    pub crowd_in_flight: usize,
}

/// How many evaluations the anonymous exposure check grants (each tests one guess).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CheckBudget {
    /// Per source (an IPv4 address, an IPv6 /64), a second, sustained.
    pub per_source_per_second: f64,
    /// Per source, at once.
    pub per_source_burst: f64,
    /// For every source together, a second: a ceiling when `follows_load`.
    pub global_per_second: f64,
    /// Lower the global rate while the threads answering checks wait for the CPU, and raise
    /// it back after (`crate::pace`).
    pub follows_load: bool,
}

impl Default for CheckBudget {
    /// A person checks an e-mail and a phone and retries (1 a second, bursts of 20); all
    /// together may take 5,000 a second, about a quarter of a core.
    fn default() -> Self {
        CheckBudget {
            per_source_per_second: 1.0,
            per_source_burst: 20.0,
            global_per_second: 5_000.0,
            follows_load: true,
        }
    }
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            max_body_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            trusted_proxies: TrustedProxies::none(),
            dangerous_public_sha1_ranges: false,
            exposure_check: CheckBudget::default(),
            crowd_in_flight: 256,
        }
    }
}

/// The anonymous check's budgets, per source and for the node: one set per node
/// ([`AppState`] keeps it), so a second listener is no second budget.
#[derive(Debug)]
pub(crate) struct CheckBudgets {
    pub(crate) per_source: SourceLimiter,
    pub(crate) global: GlobalLimiter,
    /// The configured global rate, when it is a ceiling the node's load may lower.
    follows_load: Option<f64>,
    /// The rate each runtime's probe grants ([`AppState::follow_check_load`]); the check gets
    /// the lowest.
    paces: std::sync::Mutex<Vec<f64>>,
}

/// Sources tracked by the per-source budget.
const TRACKED_SOURCES: usize = 100_000;

impl CheckBudgets {
    fn new(budget: &CheckBudget) -> Self {
        CheckBudgets {
            per_source: SourceLimiter::new(
                budget.per_source_per_second,
                budget.per_source_burst,
                TRACKED_SOURCES,
            ),
            global: GlobalLimiter::new(budget.global_per_second, budget.global_per_second),
            follows_load: budget.follows_load.then_some(budget.global_per_second),
            paces: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Starts following the load of the runtime this is called on.
    fn follow_load_here(self: &Arc<Self>) {
        let Some(ceiling) = self.follows_load else {
            return;
        };
        let probe = {
            let mut paces = self.paces.lock().unwrap_or_else(PoisonError::into_inner);
            paces.push(ceiling);
            paces.len() - 1
        };
        metrics::gauge!("haechi_exposure_check_rate").set(ceiling);
        let budgets = Arc::clone(self);
        tokio::spawn(crate::pace::follow_load(ceiling, move |rate, now| {
            budgets.grant(probe, rate, now);
        }));
    }

    /// Probe `probe` grants `rate`; the check gets the lowest rate any probe grants, since
    /// either runtime may be the one answering the crowd.
    fn grant(&self, probe: usize, rate: f64, now: std::time::Instant) {
        let lowest = {
            let mut paces = self.paces.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(pace) = paces.get_mut(probe) {
                *pace = rate;
            }
            paces.iter().copied().fold(f64::INFINITY, f64::min)
        };
        self.global.set_rate(lowest, now);
        metrics::gauge!("haechi_exposure_check_rate").set(lowest);
    }
}

/// Everything a handler may use, behind one reference count: axum clones the state for every
/// request, once per layer and handler that holds it, and cloning ten `Arc`s each time showed
/// in the read path's profile as ~18 % of the CPU (reference counts bouncing between cores).
#[derive(Debug, Clone)]
pub struct AppState(Arc<NodeState>);

/// [`SharedState`] and what the server makes of it once per node, so that every listener
/// (the main address, the operators', the portal's) shares it.
#[derive(Debug)]
struct NodeState {
    shared: SharedState,
    /// The anonymous check's budgets: one per node, whichever listener a check arrives on.
    check_budgets: Arc<CheckBudgets>,
    /// The public's requests in flight: one bound per node, likewise.
    crowd_bound: CrowdBound,
}

impl AppState {
    /// The state handlers share.
    pub fn new(shared: SharedState) -> Self {
        let check_budgets = Arc::new(CheckBudgets::new(&shared.settings.exposure_check));
        let crowd_bound = CrowdBound::new(shared.settings.crowd_in_flight);
        AppState(Arc::new(NodeState {
            shared,
            check_budgets,
            crowd_bound,
        }))
    }

    /// The anonymous check's budgets.
    pub(crate) fn check_budgets(&self) -> &Arc<CheckBudgets> {
        &self.0.check_budgets
    }

    /// The bound on the public's requests in flight.
    pub(crate) fn crowd_bound(&self) -> &CrowdBound {
        &self.0.crowd_bound
    }

    /// Lets the anonymous check's global rate follow the load of the runtime this is called
    /// on (`[exposure] check_follows_load`; `crate::pace`): call it once on each runtime that
    /// answers checks (the main one, and the portal listener's when there is one); the rate
    /// granted is the lowest of their probes'. Must be called inside a tokio runtime.
    pub fn follow_check_load(&self) {
        self.0.check_budgets.follow_load_here();
    }
}

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0.shared
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct SharedState {
    /// The token authority.
    pub authority: Arc<TokenAuthority>,
    /// The PII vault.
    pub vault: Arc<haechi_vault::Vault>,
    /// The storage backend (readiness checks, exposure ranges).
    pub store: Arc<dyn Store>,
    /// Where security events go.
    pub events: Arc<dyn EventSink>,
    /// The durable audit log behind `events`: searched by administrators, and watched by
    /// readiness (a failed log means every audited act is refused).
    pub audit: Arc<haechi_audit::AuditLog>,
    /// The Prometheus recorder's handle, for `/metrics`.
    pub metrics: Option<PrometheusHandle>,
    /// HTTP settings.
    pub settings: Arc<ServerSettings>,
    /// Detection: alerts, and the blocks and suspensions enforced in the request path.
    pub detection: Arc<haechi_respond::Detection>,
    /// Detection's rules: the set in force, and the way to change it.
    pub rules: Arc<haechi_respond::rules::RuleDesk>,
    /// The anonymous exposure check: its key and the directory it answers from.
    pub exposure_check: Arc<haechi_leakwatch::ExposureCheck>,
    /// The exposure portal: the statement key and the statements shown on every page.
    pub portal: Arc<crate::portal::Portal>,
    /// The check of pasted messages against the notices sent ("is this from us?").
    pub notices: Arc<crate::notices::NoticeDesk>,
    /// The drill clock, only on a server started with `drill.dangerous_simulated_clock`.
    pub drill: Option<Arc<crate::drill::DrillClock>>,
    /// On a cluster node, how fresh its view of the shared decisions is; requests are refused
    /// while it is not confirmed within the bound. `None` on a single node.
    pub freshness: Option<Arc<haechi_cluster::Freshness>>,
    /// Auditor evidence: the facts gathered, judged and signed with the audit key.
    pub evidence: Arc<crate::evidence::EvidenceDesk>,
    /// The responder console: its pages and the scopes of alerts.
    pub console: Arc<crate::console::ConsoleDesk>,
    /// The gateway check's policy, parsed from the policy in force.
    pub gateway: Arc<crate::gateway::GatewayDesk>,
    /// The leak watch's sources as last polled (empty without a watch), for the console.
    pub leak_sources: haechi_leakwatch::WatchHealth,
}
