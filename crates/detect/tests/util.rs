//! The test harness: event builders, a configurable state lookup, and `check`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use haechi_detect::{
    Alert, Engine, KeyStateView, Limits, Rule, StateLookup, builtin_rules, load_str,
};
use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};
use ipnet::IpNet;

/// The instant tests count from.
pub const BASE: i64 = 1_750_000_000;

/// `BASE + seconds`.
pub fn at(seconds: i64) -> Timestamp {
    Timestamp::from_secs(BASE + seconds)
}

pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3600;
pub const DAY: i64 = 86_400;

pub fn customer(id: &str) -> Principal {
    Principal::Customer(id.to_string())
}

pub fn service(name: &str) -> Principal {
    Principal::Service(name.to_string())
}

pub fn admin(name: &str) -> Principal {
    Principal::Admin(name.to_string())
}

pub fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().expect("test address"))
}

/// An event of `kind` by `principal` at `seconds`.
pub fn event(seconds: i64, kind: EventKind, principal: Principal) -> SecurityEvent {
    SecurityEvent::new(at(seconds), kind, principal)
}

/// An allowed read of `whose` data by `principal` from `address`.
pub fn read(seconds: i64, principal: Principal, whose: &str, address: &str) -> SecurityEvent {
    event(seconds, EventKind::PiiRead, principal)
        .customer(whose)
        .ip(ip(address))
        .fields(["address", "name"])
}

/// A customer reading their own record in session `sid`.
pub fn own_read(seconds: i64, id: &str, sid: &str, address: &str) -> SecurityEvent {
    read(seconds, customer(id), id, address)
        .sid(sid)
        .jti(format!("j-{sid}"))
        .kid("k1")
}

/// A refused read.
pub fn refused_read(
    seconds: i64,
    principal: Principal,
    whose: &str,
    status: u16,
    reason: &str,
) -> SecurityEvent {
    read(seconds, principal, whose, "198.51.100.7")
        .outcome(Decision::Deny, status)
        .reason(reason)
}

/// A failed login from `address`, for an existing account when `account` is given.
pub fn login_failed(seconds: i64, address: &str, account: Option<&str>) -> SecurityEvent {
    let event = event(seconds, EventKind::LoginFailed, Principal::Anonymous)
        .ip(ip(address))
        .outcome(Decision::Deny, 401);
    match account {
        Some(account) => event.customer(account),
        None => event,
    }
}

/// A successful login of `id` from `address` starting session `sid`.
pub fn login_ok(seconds: i64, id: &str, sid: &str, address: &str) -> SecurityEvent {
    event(seconds, EventKind::LoginOk, customer(id))
        .ip(ip(address))
        .sid(sid)
        .customer(id)
}

/// A token refused for `reason`, signed by `kid`.
pub fn rejected(seconds: i64, reason: &str, kid: &str, address: &str) -> SecurityEvent {
    event(seconds, EventKind::TokenRejected, Principal::Anonymous)
        .ip(ip(address))
        .kid(kid)
        .reason(reason)
        .outcome(Decision::Deny, 401)
}

/// Haechi's state as a test sets it.
#[derive(Debug, Clone, Default)]
pub struct TestState {
    pub customers: u64,
    pub keys: BTreeMap<String, KeyStateView>,
    pub blocked: Vec<IpNet>,
    pub suspended: Vec<Principal>,
    pub revoked_sessions: Vec<String>,
    /// Token ids the issuance ledger holds.
    pub issued_jtis: Vec<String>,
}

impl TestState {
    pub fn with_customers(customers: u64) -> Self {
        TestState {
            customers,
            ..TestState::default()
        }
    }

    pub fn with_key(mut self, kid: &str, state: KeyStateView) -> Self {
        self.keys.insert(kid.to_string(), state);
        self
    }
}

impl StateLookup for TestState {
    fn key_state(&self, kid: &str) -> Option<KeyStateView> {
        self.keys.get(kid).copied()
    }

    fn customer_count(&self) -> u64 {
        self.customers
    }

    fn is_blocked(&self, ip: IpAddr) -> bool {
        self.blocked.iter().any(|network| network.contains(&ip))
    }

    fn is_suspended(&self, principal: &Principal) -> bool {
        self.suspended.contains(principal)
    }

    fn token_issued(&self, jti: &str) -> Option<bool> {
        // Like the server's ledger: it can vouch for a token, never deny one.
        self.issued_jtis
            .iter()
            .any(|issued| issued == jti)
            .then_some(true)
    }

    fn is_session_revoked(&self, sid: &str) -> bool {
        self.revoked_sessions.iter().any(|revoked| revoked == sid)
    }
}

/// Numbers events 1, 2, 3 … in the order given.
pub fn numbered(events: Vec<SecurityEvent>) -> Vec<(u64, SecurityEvent)> {
    events
        .into_iter()
        .enumerate()
        .map(|(index, event)| (index as u64 + 1, event))
        .collect()
}

/// Replays `events` through `rules` and returns the alerts.
pub fn run(rules: Vec<Rule>, events: Vec<SecurityEvent>, state: &TestState) -> Vec<Alert> {
    let mut engine = Engine::new(rules, Limits::default()).expect("engine");
    engine.replay(numbered(events), state)
}

/// The one rule in `yaml`, which must load.
pub fn rule(yaml: &str) -> Rule {
    let mut report = load_str("test.yaml", yaml);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.rules.len(), 1);
    report.rules.remove(0)
}

/// The alerts `rule_yaml` raises over `events`.
pub fn check(rule_yaml: &str, events: Vec<SecurityEvent>) -> Vec<Alert> {
    run(vec![rule(rule_yaml)], events, &TestState::default())
}

/// The built-in rule `id`.
pub fn builtin(id: &str) -> Rule {
    let report = builtin_rules();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    report
        .rules
        .into_iter()
        .find(|rule| rule.id() == id)
        .unwrap_or_else(|| panic!("no built-in rule {id}"))
}
