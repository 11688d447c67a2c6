//! The drill's HTTP side: sets a server up for a scenario (services, policy, what the
//! attacker kind needs, customers), then plays the plan against it step by step on the drill
//! clock, recording what the attacker received and what alerts Haechi raised.
//!
//! `http.rs` is the client, `nodes.rs` the server or the cluster's nodes, `set_up.rs` the
//! set-up, `clock.rs` the drill clock and alerts, `legitimate.rs` the legitimate traffic; the
//! attacker's steps are played by its kind (`attacker/`).

mod clock;
mod http;
mod legitimate;
mod nodes;
mod set_up;

pub(crate) use nodes::Nodes;
pub(crate) use set_up::{Population, customer_record};

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use haechi_events::Timestamp;
use haechi_korean::{CustomerGenerator, GeneratedCustomer};
use reqwest::Method;
use serde_json::{Value, json};

use crate::Error;
use crate::plan::{Action, Plan};
use crate::report::Observations;
use crate::run::Progress;
use crate::scenario::Scenario;
use crate::server::Credential;
use crate::truth::{AlertSeen, Receipt, judge};

/// From the attacker's first step on, the clock moves (and detection settles) before any
/// step more than this after the last move: alerts and containment are seen within a
/// simulated second, as the live server would raise them.
const SETTLE_STEP: Duration = Duration::from_secs(1);
/// Before the attacker starts, only legitimate traffic runs and the clock moves in larger
/// steps (alerts about it, if any, are seen up to this late).
const WARMUP_SETTLE_STEP: Duration = Duration::from_secs(15 * 60);
/// Customers created at once during set-up.
const CREATE_CONCURRENCY: usize = 8;

/// Why a drill stopped early: the server went away or answered nonsense.
#[derive(Debug)]
pub(crate) struct Broken(pub String);

impl From<Broken> for Error {
    fn from(Broken(message): Broken) -> Error {
        Error::Target(message)
    }
}

/// What one step achieved, for the attacker's give-up count.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct StepResult {
    /// The attacker received personal data.
    pub received: bool,
    /// Haechi refused the attacker.
    pub refused: bool,
}

/// A drill in progress against one server, or a cluster's nodes.
pub(crate) struct Driver {
    http: reqwest::Client,
    nodes: Nodes,
    admin: Credential,
    now: Timestamp,
    tokens: HashMap<String, http::CachedToken>,
    services: HashMap<String, Credential>,
    generator: CustomerGenerator,
    ids: Vec<String>,
    /// A signing key the drill imported that the attacker holds a copy of, and its id:
    /// revoked at the end ([`Driver::finish`]).
    pub legacy_key: Option<(jsonwebtoken::EncodingKey, String)>,
    /// The issuer and audience of the first token seen, which a forger copies.
    pub issuer_audience: Option<(String, String)>,
    alerts_seen: HashSet<String>,
    alerts_total: u64,
    /// HTTP requests sent while playing the plan (clock moves included).
    requests: AtomicU64,
    /// Filled as the drill goes.
    pub observed: Observations,
}

impl Driver {
    /// A driver for `nodes`, administered with `admin`.
    pub(crate) fn new(
        nodes: Nodes,
        admin: Credential,
        scenario: &Scenario,
        plan: &Plan,
        seed: u64,
    ) -> Result<Driver, Error> {
        let http = haechi_outbound::plain_builder()
            .map_err(Error::local("cannot build the HTTP client"))?
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(CREATE_CONCURRENCY * 2)
            .build()
            .map_err(Error::local("cannot build the HTTP client"))?;
        let mut observed = Observations {
            scenario: scenario.name.clone(),
            description: scenario.description.clone(),
            start: plan.start,
            attack_start: plan.attack_start,
            end: plan.start,
            ..Observations::default()
        };
        observed.traits.networks = plan
            .attacker_networks
            .iter()
            .map(|network| std::net::IpAddr::V4(*network))
            .collect();
        observed.traits.user_agent = scenario.attacker.kind().habits().user_agent.to_string();
        Ok(Driver {
            http,
            nodes,
            admin,
            now: plan.start,
            tokens: HashMap::new(),
            services: HashMap::new(),
            generator: CustomerGenerator::new(seed),
            ids: Vec::new(),
            legacy_key: None,
            issuer_audience: None,
            alerts_seen: HashSet::new(),
            alerts_total: 0,
            requests: AtomicU64::new(0),
            observed,
        })
    }

    /// Plays the plan; stops early (with the reason in `observed.partial`) if the server
    /// breaks. Returns when the attacker is done and the tail has run.
    pub(crate) async fn run(&mut self, scenario: &Scenario, plan: &Plan, progress: &dyn Progress) {
        progress.phase("playing traffic", Some(plan.steps.len() as u64));
        match self.baseline().await {
            Ok(rate) => self.observed.baseline_requests_per_second = rate,
            Err(Broken(message)) => {
                self.observed.partial = Some(message);
                return;
            }
        }
        self.requests.store(0, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let give_up_after = scenario.attacker.kind().habits().give_up_after.max(1);
        let mut refusals_in_row = 0_u32;
        let mut attacker_done: Option<Timestamp> = None;
        let mut last_settle = self.now;
        for step in &plan.steps {
            progress.advance();
            let end = attacker_done
                .unwrap_or(plan.attack_end)
                .plus(scenario.normal.tail);
            if step.at > end {
                break;
            }
            let attack = step.action.is_attack();
            if attack && attacker_done.is_some() {
                continue;
            }
            let settle_step = if step.at >= plan.attack_start {
                SETTLE_STEP
            } else {
                WARMUP_SETTLE_STEP
            };
            if step.at.since(last_settle) >= settle_step || (attack && step.at > self.now) {
                if let Err(Broken(message)) = self.settle(step.at).await {
                    self.observed.partial = Some(message);
                    break;
                }
                last_settle = step.at;
            }
            let outcome = match self.play(scenario, plan, &step.action, step.at).await {
                Ok(outcome) => outcome,
                Err(Broken(message)) => {
                    self.observed.partial = Some(message);
                    break;
                }
            };
            if attack {
                if outcome.refused {
                    refusals_in_row += 1;
                } else if outcome.received {
                    refusals_in_row = 0;
                }
                if refusals_in_row >= give_up_after {
                    self.observed.attacker_gave_up_at = Some(step.at);
                    attacker_done = Some(step.at);
                }
            }
        }
        let end = attacker_done
            .unwrap_or(plan.attack_end)
            .plus(scenario.normal.tail);
        if self.observed.partial.is_none() {
            // Let detection evaluate the last events.
            if let Err(Broken(message)) = self
                .settle(end.max(self.now).plus(Duration::from_secs(2)))
                .await
            {
                self.observed.partial = Some(message);
            }
        }
        if self.observed.partial.is_none()
            && let Err(Broken(message)) = self.collect_incidents().await
        {
            self.observed.partial = Some(message);
        }
        self.observed.end = self.now;
        self.observed.wall_seconds = started.elapsed().as_secs_f64();
        self.observed.http_requests = self.requests.load(Ordering::Relaxed);
        progress.finish();
    }

    /// Sequential `GET /healthz` round trips per second on this client and server, measured
    /// in the same run: what one request at a time costs without auditing, encryption or
    /// detection, the baseline the drill's own request rate is read against.
    async fn baseline(&self) -> Result<f64, Broken> {
        const ROUNDS: u32 = 300;
        let started = std::time::Instant::now();
        for _ in 0..ROUNDS {
            self.send(Method::GET, "/healthz", None, "haechi-drill", None, None)
                .await?;
        }
        Ok(f64::from(ROUNDS) / started.elapsed().as_secs_f64().max(1e-9))
    }

    /// Plays one step.
    async fn play(
        &mut self,
        scenario: &Scenario,
        plan: &Plan,
        action: &Action,
        at: Timestamp,
    ) -> Result<StepResult, Broken> {
        match action {
            Action::CustomerSession { customer, network } => {
                self.customer_session(*customer, *network, plan, at).await
            }
            Action::ServiceRead {
                service,
                customer,
                network,
            } => {
                self.service_read_step(scenario, *service, *customer, *network, at)
                    .await
            }
            Action::Attack(step) => {
                scenario
                    .attacker
                    .kind()
                    .play(self, scenario, plan, *step, at)
                    .await
            }
        }
    }

    /// The customer generated at `index` (the drill's own record of them).
    pub(crate) fn customer(&self, index: u64) -> GeneratedCustomer {
        self.generator.customer(index)
    }

    /// The vault's id of the customer generated at `index`.
    pub(crate) fn customer_id(&self, index: u64) -> &str {
        &self.ids[index as usize]
    }

    /// The client credential of a service the drill created.
    pub(crate) fn service_credential(&self, name: &str) -> Result<Credential, Broken> {
        self.services
            .get(name)
            .cloned()
            .ok_or_else(|| Broken(format!("no credential for {name}")))
    }

    /// Records what a response gave the attacker about `customer`; whether it gave anything.
    pub(crate) fn receive(&mut self, customer: u64, body: &Value, at: Timestamp) -> bool {
        let known: GeneratedCustomer = self.generator.customer(customer);
        let disclosure = judge(&known, body);
        if disclosure.is_empty() {
            return false;
        }
        self.observed.receipts.push(Receipt {
            customer_id: self.customer_id(customer).to_string(),
            at,
            disclosure,
        });
        true
    }

    /// Records an attacker step that either received data or was refused.
    pub(crate) fn attack_result(&mut self, at: Timestamp, received: bool) -> StepResult {
        if !received {
            self.observed.attacker_refused += 1;
        }
        self.observed.attack_attempts.push((at, received));
        StepResult {
            received,
            refused: !received,
        }
    }

    /// Revokes the legacy key the attacker copied, if containment has not already: a drill
    /// leaves no key behind that someone outside holds.
    pub(crate) async fn finish(&mut self) -> Result<(), Error> {
        let Some((_, kid)) = self.legacy_key.take() else {
            return Ok(());
        };
        let keys = self.admin(Method::GET, "/v1/admin/keys", None).await?.1;
        let revoked = keys["keys"].as_array().is_some_and(|keys| {
            keys.iter()
                .any(|key| key["kid"] == kid.as_str() && key["state"] == "revoked")
        });
        if revoked {
            return Ok(());
        }
        let (status, body) = self
            .admin(
                Method::POST,
                &format!("/v1/admin/keys/{kid}/revoke"),
                Some(&json!({})),
            )
            .await?;
        if !status.is_success() {
            return Err(Error::Target(format!(
                "revoking the drill's legacy key {kid} failed ({status}): {body}"
            )));
        }
        Ok(())
    }

    /// The true alerts, oldest first.
    pub(crate) fn true_alerts(&self) -> Vec<&AlertSeen> {
        self.observed
            .alerts
            .iter()
            .filter(|alert| self.observed.traits.implicates(alert))
            .collect()
    }
}
