//! Scenarios: who the customers are, what legitimate traffic looks like, what the attacker
//! does, and the bar the drill must meet. Written in YAML (see `docs/drills.md`); the built-in
//! ones are in `crates/drill/scenarios/`.

use std::time::Duration;

use haechi_events::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::attacker::Attacker;

/// A drill scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name (`coupang`, …): a-z, 0-9, `-`.
    pub name: String,
    /// What the scenario plays and why it matters.
    pub description: String,
    /// Seed of every random choice (customers, timing, networks); `--seed` overrides.
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// When simulated time starts (RFC 3339).
    #[serde(default = "default_start")]
    pub start: String,
    /// How many customers the vault holds; `--customers` overrides.
    pub customers: u64,
    /// Legitimate traffic.
    pub normal: NormalTraffic,
    /// The attacker.
    pub attacker: Attacker,
    /// The access policy (TOML, as `PUT /v1/admin/policy` takes it); default: the built-in
    /// drills' policy ([`DEFAULT_POLICY`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The bar the report must meet.
    #[serde(default)]
    pub expect: Expectations,
}

/// The access policy of the built-in drills' services.
pub const DEFAULT_POLICY: &str = include_str!("../scenarios/policy.toml");

fn default_seed() -> u64 {
    1
}

fn default_start() -> String {
    // The day the seeds' attacker began reading (2025-06-24).
    "2025-06-24T00:00:00Z".into()
}

/// Legitimate traffic: customers logging in and reading their own data, services reading
/// customers for their declared purposes, with a day-and-night rhythm (Korean time).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NormalTraffic {
    /// Legitimate traffic before the attacker starts: long enough for the rules that learn a
    /// baseline (a week) to have learned it.
    #[serde(with = "humantime_serde")]
    pub warmup: Duration,
    /// Legitimate traffic after the attacker stops.
    #[serde(with = "humantime_serde", default = "default_tail")]
    pub tail: Duration,
    /// Customers with a password who log in (the first ones generated).
    pub active_customers: u64,
    /// Customer sessions per hour at the daily average (login, profile, addresses, logout).
    pub logins_per_hour: f64,
    /// Distinct home networks the active customers log in from.
    pub networks: u32,
    /// Services reading customers.
    pub services: Vec<ServiceTraffic>,
}

fn default_tail() -> Duration {
    Duration::from_secs(3600)
}

/// One service's legitimate reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceTraffic {
    /// The service's name (`service:NAME`).
    pub name: String,
    /// Its purposes; reads use the first.
    pub purposes: Vec<String>,
    /// Reads per hour at the daily average (0: a service only the attacker uses).
    pub reads_per_hour: f64,
    /// How many fixed networks (hosts) it calls from.
    #[serde(default = "one")]
    pub networks: u32,
    /// Its user agent.
    pub user_agent: String,
}

fn one() -> u32 {
    1
}

/// A customer-side read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Read {
    /// `GET /v1/customers/me`.
    Profile,
    /// `GET /v1/customers/me/addresses`.
    Addresses,
}

/// The bar a drill's report must meet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// Customers whose data the attacker received before containment, at most.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_exposed_before_containment: Option<u64>,
    /// An alert about the attacker must be raised.
    #[serde(default = "yes")]
    pub detected: bool,
    /// `haechi scope` on the alerts' indicators, against the ground truth.
    #[serde(default = "perfect")]
    pub min_scope_precision: f64,
    /// Likewise, recall.
    #[serde(default = "perfect")]
    pub min_scope_recall: f64,
}

fn yes() -> bool {
    true
}

fn perfect() -> f64 {
    1.0
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations {
            max_exposed_before_containment: None,
            detected: true,
            min_scope_precision: 1.0,
            min_scope_recall: 1.0,
        }
    }
}

/// The built-in scenarios, by name, as YAML.
pub const BUILT_IN: &[(&str, &str)] = &[
    ("coupang", include_str!("../scenarios/coupang.yaml")),
    ("scraper", include_str!("../scenarios/scraper.yaml")),
    ("stuffing", include_str!("../scenarios/stuffing.yaml")),
    ("lowslow", include_str!("../scenarios/lowslow.yaml")),
    ("insider", include_str!("../scenarios/insider.yaml")),
];

/// Parses and checks a scenario; `origin` (a file name) prefixes every message.
pub fn parse(text: &str, origin: &str) -> Result<Scenario, Error> {
    let scenario: Scenario = serde_saphyr::from_str(text).map_err(|error| Error::Scenario {
        origin: origin.to_string(),
        // The first line carries line and column; the rest is a source excerpt.
        message: error
            .to_string()
            .lines()
            .next()
            .unwrap_or("")
            .trim_start_matches("error: ")
            .to_string(),
    })?;
    scenario.check().map_err(|message| Error::Scenario {
        origin: origin.to_string(),
        message,
    })?;
    Ok(scenario)
}

/// The built-in scenario `name`.
pub fn built_in(name: &str) -> Result<Scenario, Error> {
    let (_, text) = BUILT_IN
        .iter()
        .find(|(known, _)| *known == name)
        .ok_or_else(|| Error::UnknownScenario(name.to_string()))?;
    parse(text, &format!("built-in scenario {name}"))
}

/// Largest customer count a drill creates (each is a real record in the vault).
pub const MAX_CUSTOMERS: u64 = 10_000_000;
/// The service the drill creates customers with.
pub const ACCOUNT_SERVICE: &str = "account";
/// Longest simulated span: the seeds' 137 days and then some.
const MAX_SPAN_DAYS: f64 = 400.0;
/// Most legitimate steps a plan may hold (memory: about 100 bytes each).
const MAX_NORMAL_STEPS: f64 = 20_000_000.0;

impl Scenario {
    /// The simulated start.
    pub fn start_time(&self) -> Timestamp {
        // Checked by `check`.
        Timestamp::parse(&self.start).unwrap_or(Timestamp::from_secs(0))
    }

    /// Every semantic check serde cannot make; the message names the field. The first
    /// failing check, in the order the fields are written, is the one reported.
    fn check(&self) -> Result<(), String> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!("name: {:?}: use a-z, 0-9 and '-'", self.name));
        }
        if Timestamp::parse(&self.start).is_none() {
            return Err(format!("start: {:?} is not an RFC 3339 time", self.start));
        }
        if self.customers == 0 || self.customers > MAX_CUSTOMERS {
            return Err(format!(
                "customers: {} is not in 1..={MAX_CUSTOMERS}",
                self.customers
            ));
        }
        self.normal.check(self.customers)?;
        let attacker = self.attacker.kind();
        attacker.check(self)?;
        self.check_size(attacker.campaign_seconds())?;
        self.expect.check()
    }

    /// The simulated span bounds the plan's size: legitimate traffic is planned hour by hour
    /// over all of it.
    fn check_size(&self, campaign_seconds: f64) -> Result<(), String> {
        let normal = &self.normal;
        let span_hours =
            (normal.warmup.as_secs_f64() + campaign_seconds + normal.tail.as_secs_f64()) / 3600.0;
        if span_hours > MAX_SPAN_DAYS * 24.0 {
            return Err(format!(
                "warmup + the attacker's campaign + tail is {:.0} days, more than {MAX_SPAN_DAYS} days",
                span_hours / 24.0
            ));
        }
        let per_hour = normal.logins_per_hour
            + normal
                .services
                .iter()
                .map(|service| service.reads_per_hour)
                .sum::<f64>();
        if per_hour * span_hours > MAX_NORMAL_STEPS {
            return Err(format!(
                "normal: {per_hour} requests an hour over {span_hours:.0} hours is more than \
                 {MAX_NORMAL_STEPS} planned steps"
            ));
        }
        Ok(())
    }
}

impl NormalTraffic {
    /// The checks of `normal` with `customers` in the vault.
    fn check(&self, customers: u64) -> Result<(), String> {
        if self.active_customers > customers {
            return Err(format!(
                "normal.active_customers: {} is more than the {} customers",
                self.active_customers, customers
            ));
        }
        check_rate("normal.logins_per_hour", self.logins_per_hour)?;
        if self.logins_per_hour > 0.0 && (self.active_customers == 0 || self.networks == 0) {
            return Err("normal: logins need active_customers and networks".into());
        }
        for (index, service) in self.services.iter().enumerate() {
            service.check(&format!("normal.services[{index}]"))?;
            if self.services[..index]
                .iter()
                .any(|other| other.name == service.name)
            {
                return Err(format!(
                    "normal.services[{index}].name: {:?} is named twice",
                    service.name
                ));
            }
        }
        if self
            .services
            .iter()
            .any(|service| service.name == ACCOUNT_SERVICE)
        {
            return Err(format!(
                "normal.services: {ACCOUNT_SERVICE:?} is the drill's own service (it creates the \
                 customers); name yours otherwise"
            ));
        }
        Ok(())
    }
}

impl ServiceTraffic {
    /// The checks of one service, `at` its place in the file.
    fn check(&self, at: &str) -> Result<(), String> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        {
            return Err(format!(
                "{at}.name: {:?}: use a-z, 0-9, '-' or '_'",
                self.name
            ));
        }
        if self.purposes.is_empty() {
            return Err(format!("{at}.purposes: name at least one"));
        }
        if self.networks == 0 || self.networks > 250 {
            return Err(format!(
                "{at}.networks: {} is not in 1..=250",
                self.networks
            ));
        }
        check_rate(&format!("{at}.reads_per_hour"), self.reads_per_hour)
    }
}

impl Expectations {
    /// The bar's shares are shares.
    fn check(&self) -> Result<(), String> {
        for (field, value) in [
            ("min_scope_precision", self.min_scope_precision),
            ("min_scope_recall", self.min_scope_recall),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("expect.{field}: {value} is not in 0..=1"));
            }
        }
        Ok(())
    }
}

fn check_rate(field: &str, value: f64) -> Result<(), String> {
    if value.is_finite() && (0.0..=1_000_000.0).contains(&value) {
        Ok(())
    } else {
        Err(format!("{field}: {value} is not a rate in 0..=1000000"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_scenario_parses() {
        for (name, _) in BUILT_IN {
            let scenario = built_in(name).unwrap();
            assert_eq!(&scenario.name, name);
        }
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        let text = include_str!("../scenarios/coupang.yaml").replace("per_second:", "per_secnd:");
        let error = parse(&text, "x.yaml").unwrap_err().to_string();
        assert!(error.starts_with("x.yaml: line "), "{error}");
        assert!(error.contains("per_secnd"), "{error}");

        let text = include_str!("../scenarios/scraper.yaml")
            .replace("service: support", "service: nobody");
        let error = parse(&text, "y.yaml").unwrap_err().to_string();
        assert!(error.contains("attacker.service"), "{error}");

        let error = parse("name: [", "z.yaml").unwrap_err().to_string();
        assert!(error.contains("line 1"), "{error}");

        let coupang = include_str!("../scenarios/coupang.yaml");
        let text = coupang.replace("per_second: 2.8", "per_second: 1e-300");
        let error = parse(&text, "slow.yaml").unwrap_err().to_string();
        assert!(error.contains("attacker.per_second"), "{error}");
        let text = coupang.replace("duration: 137d", "duration: 3650d");
        let error = parse(&text, "long.yaml").unwrap_err().to_string();
        assert!(error.contains("more than 400 days"), "{error}");
        let text = coupang.replace("- name: crm", "- name: account");
        let error = parse(&text, "account.yaml").unwrap_err().to_string();
        assert!(error.contains("the drill's own service"), "{error}");
    }

    #[test]
    fn an_unknown_built_in_is_named() {
        assert_eq!(
            built_in("nope").unwrap_err().to_string(),
            "no built-in scenario \"nope\" (coupang, scraper, stuffing, lowslow, insider, or a YAML file)"
        );
    }
}
