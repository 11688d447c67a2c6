//! The drill's HTTP side: sets a server up for a scenario (services, policy, the legacy key,
//! customers), then plays the plan against it step by step on the drill clock, recording what
//! the attacker received and what alerts Haechi raised.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use futures::StreamExt as _;
use haechi_drill::plan::service_network;
use haechi_drill::scenario::{ACCOUNT_SERVICE, DEFAULT_POLICY};
use haechi_drill::{
    Action, AlertSeen, Attacker, LeakedEntry, Observations, Plan, Read, Receipt, Scenario, judge,
};
use haechi_events::Timestamp;
use haechi_korean::{CustomerGenerator, GeneratedCustomer};
use indicatif::ProgressBar;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::server::Credential;

/// Service and admin tokens are fetched again once this old (they live 15 minutes).
const TOKEN_REUSE: Duration = Duration::from_secs(10 * 60);
/// From the attacker's first step on, the clock moves (and detection settles) before any
/// step more than this after the last move: alerts and containment are seen within a
/// simulated second, as the live server would raise them.
const SETTLE_STEP: Duration = Duration::from_secs(1);
/// Before the attacker starts, only legitimate traffic runs and the clock moves in larger
/// steps (alerts about it, if any, are seen up to this late).
const WARMUP_SETTLE_STEP: Duration = Duration::from_secs(15 * 60);
/// The user agent of the legitimate customers' app.
const APP_AGENT: &str = "ShopApp/7.4 (iPhone; iOS 18.5)";
/// Customers created at once during set-up.
const CREATE_CONCURRENCY: usize = 8;

/// Why a drill stopped early: the server went away or answered nonsense.
#[derive(Debug)]
pub(super) struct Broken(pub String);

#[derive(Clone)]
struct CachedToken {
    token: String,
    issued: Timestamp,
}

/// A drill in progress against one server.
pub(super) struct Driver {
    http: reqwest::Client,
    base: String,
    admin: Credential,
    now: Timestamp,
    tokens: HashMap<String, CachedToken>,
    services: HashMap<String, Credential>,
    generator: CustomerGenerator,
    ids: Vec<String>,
    legacy_key: Option<(jsonwebtoken::EncodingKey, String)>,
    issuer_audience: Option<(String, String)>,
    alerts_seen: HashSet<String>,
    alerts_total: u64,
    /// HTTP requests sent while playing the plan (clock moves included).
    requests: AtomicU64,
    /// Filled as the drill goes.
    pub observed: Observations,
}

impl Driver {
    /// A driver for the server at `base`, administered with `admin`.
    pub fn new(
        base: &str,
        admin: Credential,
        scenario: &Scenario,
        plan: &Plan,
        seed: u64,
    ) -> anyhow::Result<Driver> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .pool_max_idle_per_host(CREATE_CONCURRENCY * 2)
            .build()
            .context("cannot build the HTTP client")?;
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
        observed.traits.user_agent = attacker_agent(&scenario.attacker).to_string();
        Ok(Driver {
            http,
            base: base.trim_end_matches('/').to_string(),
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

    // -------------------------------------------------------------------------------------
    // HTTP
    // -------------------------------------------------------------------------------------

    async fn send(
        &self,
        method: Method,
        path: &str,
        from: Option<Ipv4Addr>,
        agent: &str,
        bearer: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Broken> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::USER_AGENT, agent);
        if let Some(from) = from {
            request = request.header("x-forwarded-for", from.to_string());
        }
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .map_err(|error| Broken(format!("{path}: the server did not answer: {error}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| Broken(format!("{path}: the answer broke off: {error}")))?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// A client-credentials token, reused while fresh; `None` if refused.
    async fn client_token(
        &mut self,
        cache_key: &str,
        credential: &Credential,
        from: Option<Ipv4Addr>,
        agent: &str,
    ) -> Result<Option<String>, Broken> {
        if let Some(cached) = self.tokens.get(cache_key)
            && self.now.since(cached.issued) < TOKEN_REUSE
        {
            return Ok(Some(cached.token.clone()));
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut request = self
            .http
            .post(format!("{}/v1/oauth/token", self.base))
            .basic_auth(&credential.client_id, Some(&credential.client_secret))
            .header(reqwest::header::USER_AGENT, agent)
            .form(&[("grant_type", "client_credentials")]);
        if let Some(from) = from {
            request = request.header("x-forwarded-for", from.to_string());
        }
        let response = request.send().await.map_err(|error| {
            Broken(format!(
                "/v1/oauth/token: the server did not answer: {error}"
            ))
        })?;
        if !response.status().is_success() {
            self.tokens.remove(cache_key);
            return Ok(None);
        }
        let body: Value = response
            .json()
            .await
            .map_err(|error| Broken(format!("/v1/oauth/token: not JSON: {error}")))?;
        let token = body["access_token"]
            .as_str()
            .ok_or_else(|| Broken("/v1/oauth/token: no access_token".into()))?
            .to_string();
        if self.issuer_audience.is_none() {
            self.issuer_audience = issuer_and_audience(&token);
        }
        self.tokens.insert(
            cache_key.to_string(),
            CachedToken {
                token: token.clone(),
                issued: self.now,
            },
        );
        Ok(Some(token))
    }

    async fn admin_token(&mut self) -> Result<String, Broken> {
        let admin = self.admin.clone();
        self.client_token("admin", &admin, None, "haechi-drill")
            .await?
            .ok_or_else(|| Broken("the administrator credential was refused".into()))
    }

    async fn admin(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), Broken> {
        let token = self.admin_token().await?;
        let (status, answer) = self
            .send(
                method.clone(),
                path,
                None,
                "haechi-drill",
                Some(&token),
                body,
            )
            .await?;
        if status != StatusCode::UNAUTHORIZED {
            return Ok((status, answer));
        }
        // The token died under us (containment revoked the key that signed it): a client
        // fetches a new one and tries again, once.
        self.tokens.remove("admin");
        let token = self.admin_token().await?;
        self.send(method, path, None, "haechi-drill", Some(&token), body)
            .await
    }

    /// A service read with a cached token, fetching a new token once if the cached one was
    /// refused; `None` if no token could be had.
    async fn service_read(
        &mut self,
        cache_key: &str,
        credential: &Credential,
        path: &str,
        from: Ipv4Addr,
        agent: &str,
    ) -> Result<Option<(StatusCode, Value)>, Broken> {
        for _ in 0..2 {
            let Some(token) = self
                .client_token(cache_key, credential, Some(from), agent)
                .await?
            else {
                return Ok(None);
            };
            let (status, body) = self
                .send(Method::GET, path, Some(from), agent, Some(&token), None)
                .await?;
            if status != StatusCode::UNAUTHORIZED {
                return Ok(Some((status, body)));
            }
            self.tokens.remove(cache_key);
        }
        Ok(None)
    }

    // -------------------------------------------------------------------------------------
    // Set-up
    // -------------------------------------------------------------------------------------

    /// Checks the target is a Haechi on the drill clock, and sets the scenario up on it.
    pub async fn set_up(
        &mut self,
        scenario: &Scenario,
        plan: &Plan,
        customers: u64,
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        let (status, body) = self
            .send(
                Method::GET,
                "/.well-known/oauth-authorization-server",
                None,
                "haechi-drill",
                None,
                None,
            )
            .await
            .map_err(|Broken(message)| anyhow::anyhow!(message))?;
        if !status.is_success() || body.get("issuer").is_none() {
            anyhow::bail!(
                "{} is not a Haechi server (no OAuth metadata at /.well-known/oauth-authorization-server)",
                self.base
            );
        }
        let (status, body) = self
            .admin(Method::GET, "/v1/admin/drill/clock", None)
            .await
            .map_err(|Broken(message)| anyhow::anyhow!(message))?;
        if status == StatusCode::NOT_FOUND {
            anyhow::bail!(
                "{} runs on the real clock: start it with drill.dangerous_simulated_clock = true \
                 (HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK=true) and \
                 server.trusted_proxies = [\"127.0.0.0/8\"], on a server of its own",
                self.base
            );
        }
        let now = body["now"]
            .as_str()
            .and_then(Timestamp::parse)
            .with_context(|| format!("the drill clock answered {status}: {body}"))?;
        if now > plan.start {
            anyhow::bail!(
                "the target's simulated clock shows {}, after the scenario's start {}: start the \
                 target with drill.start = {} (simulated time never runs backwards)",
                now.to_rfc3339(),
                plan.start.to_rfc3339(),
                plan.start.to_rfc3339()
            );
        }
        self.settle(plan.start)
            .await
            .map_err(|Broken(message)| anyhow::anyhow!(message))?;

        // Services: the account service that creates customers, and the scenario's.
        let mut wanted = vec![(ACCOUNT_SERVICE.to_string(), vec!["account".to_string()])];
        for service in &scenario.normal.services {
            wanted.push((service.name.clone(), service.purposes.clone()));
        }
        for (name, purposes) in wanted {
            let (status, body) = self
                .admin(
                    Method::POST,
                    "/v1/admin/services",
                    Some(&json!({ "name": name, "purposes": purposes })),
                )
                .await
                .map_err(|Broken(message)| anyhow::anyhow!(message))?;
            if status == StatusCode::CONFLICT {
                anyhow::bail!("the target already has a service {name:?}: drill a fresh server");
            }
            if status != StatusCode::CREATED {
                anyhow::bail!("creating service {name:?} failed ({status}): {body}");
            }
            self.services.insert(
                name,
                Credential {
                    client_id: text(&body, "client_id")?,
                    client_secret: text(&body, "client_secret")?,
                },
            );
        }
        let policy = scenario.policy.as_deref().unwrap_or(DEFAULT_POLICY);
        let token = self
            .admin_token()
            .await
            .map_err(|Broken(message)| anyhow::anyhow!(message))?;
        let response = self
            .http
            .put(format!("{}/v1/admin/policy", self.base))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/toml")
            .body(policy.to_string())
            .send()
            .await
            .context("setting the access policy")?;
        if !response.status().is_success() {
            let status = response.status();
            anyhow::bail!(
                "the target refused the scenario's policy ({status}): {}",
                response.text().await.unwrap_or_default()
            );
        }

        if matches!(scenario.attacker, Attacker::ForgedTokens { .. }) {
            self.import_legacy_key().await?;
        }
        self.create_customers(plan, customers, bar).await
    }

    /// The company's old identity-provider key, imported and made the active signing key;
    /// the attacker keeps a copy. Random, never derived from anything guessable: on a
    /// `--target` server it signs real tokens until the drill revokes it ([`Driver::finish`]).
    async fn import_legacy_key(&mut self) -> anyhow::Result<()> {
        use ed25519_dalek::pkcs8::EncodePrivateKey as _;
        let key = ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng);
        let pem = key
            .to_pkcs8_pem(Default::default())
            .context("cannot encode the legacy key")?;
        let (status, body) = self
            .admin(
                Method::POST,
                "/v1/admin/keys",
                Some(&json!({ "key": pem.as_str(), "activate": true })),
            )
            .await
            .map_err(|Broken(message)| anyhow::anyhow!(message))?;
        if !status.is_success() {
            anyhow::bail!("importing the legacy key failed ({status}): {body}");
        }
        let keys = self
            .admin(Method::GET, "/v1/admin/keys", None)
            .await
            .map_err(|Broken(message)| anyhow::anyhow!(message))?
            .1;
        let kid = keys["keys"]
            .as_array()
            .and_then(|keys| {
                keys.iter()
                    .find(|key| key["origin"] == "imported" && key["state"] == "active")
                    .or_else(|| keys.iter().find(|key| key["state"] == "active"))
            })
            .and_then(|key| key["kid"].as_str())
            .map(str::to_string)
            .with_context(|| format!("no active key after the import: {keys}"))?;
        let der = key
            .to_pkcs8_der()
            .context("cannot encode the attacker's copy of the key")?;
        let encoding = jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes());
        self.legacy_key = Some((encoding, kid));
        Ok(())
    }

    async fn create_customers(
        &mut self,
        plan: &Plan,
        customers: u64,
        bar: &ProgressBar,
    ) -> anyhow::Result<()> {
        let account = self
            .services
            .get(ACCOUNT_SERVICE)
            .cloned()
            .context("no account service")?;
        let token = self
            .client_token(
                "account",
                &account,
                Some(service_network(249, 0)),
                "account-service/1.0",
            )
            .await
            .map_err(|Broken(message)| anyhow::anyhow!(message))?
            .context("the account service's credential was refused")?;
        bar.set_length(customers);
        bar.set_message("creating customers");
        let with_password: HashSet<u64> = plan.with_password.iter().copied().collect();
        let generator = self.generator.clone();
        let http = self.http.clone();
        let url = format!("{}/v1/customers", self.base);
        let mut created: Vec<(u64, Result<String, String>)> = futures::stream::iter(0..customers)
            .map(|index| {
                let mut body =
                    serde_json::to_value(generator.customer(index)).unwrap_or(Value::Null);
                if with_password.contains(&index) {
                    body["password"] = Value::String(plan.password(index));
                }
                let request = http
                    .post(&url)
                    .bearer_auth(&token)
                    .header("x-forwarded-for", service_network(249, 0).to_string())
                    .json(&body);
                async move {
                    let outcome = match request.send().await {
                        Ok(response) if response.status() == StatusCode::CREATED => response
                            .json::<Value>()
                            .await
                            .map_err(|error| error.to_string())
                            .and_then(|body| {
                                body["id"]
                                    .as_str()
                                    .map(str::to_string)
                                    .ok_or_else(|| "no id".to_string())
                            }),
                        Ok(response) => Err(format!(
                            "{}: {}",
                            response.status(),
                            response.text().await.unwrap_or_default()
                        )),
                        Err(error) => Err(error.to_string()),
                    };
                    (index, outcome)
                }
            })
            .buffer_unordered(CREATE_CONCURRENCY)
            .inspect(|_| bar.inc(1))
            .collect()
            .await;
        created.sort_by_key(|(index, _)| *index);
        self.ids = created
            .into_iter()
            .map(|(index, outcome)| {
                outcome
                    .map_err(|error| anyhow::anyhow!("creating customer {index} failed: {error}"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(())
    }

    // -------------------------------------------------------------------------------------
    // Traffic
    // -------------------------------------------------------------------------------------

    /// Moves the drill clock to `at`, waits for detection to settle, and records new alerts.
    async fn settle(&mut self, at: Timestamp) -> Result<(), Broken> {
        if at < self.now {
            return Ok(());
        }
        let (status, body) = self
            .admin(
                Method::POST,
                "/v1/admin/drill/clock",
                Some(&json!({ "now": at.to_rfc3339() })),
            )
            .await?;
        if !status.is_success() {
            return Err(Broken(format!(
                "moving the drill clock failed ({status}): {body}"
            )));
        }
        self.now = at;
        let total = body["alerts"].as_u64().unwrap_or(0);
        if total != self.alerts_total {
            self.alerts_total = total;
            self.collect_alerts(at).await?;
        }
        Ok(())
    }

    /// Records every alert not seen before as seen at `at`.
    async fn collect_alerts(&mut self, at: Timestamp) -> Result<(), Broken> {
        let (status, body) = self
            .admin(Method::GET, "/v1/admin/alerts?limit=1000", None)
            .await?;
        if !status.is_success() {
            return Err(Broken(format!("listing alerts failed ({status}): {body}")));
        }
        let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
        // Oldest first, so the report lists them in order.
        for alert in alerts.iter().rev() {
            let Some(id) = alert["id"].as_str() else {
                continue;
            };
            if !self.alerts_seen.insert(id.to_string()) {
                continue;
            }
            let seen = alert_seen(alert, at);
            self.observed.alerts.push(seen);
        }
        Ok(())
    }

    /// Plays the plan; stops early (with the reason in `observed.partial`) if the server
    /// breaks. Returns when the attacker is done and the tail has run.
    pub async fn run(&mut self, scenario: &Scenario, plan: &Plan, bar: &ProgressBar) {
        bar.set_length(plan.steps.len() as u64);
        bar.set_position(0);
        bar.set_message("playing traffic");
        match self.baseline().await {
            Ok(rate) => self.observed.baseline_requests_per_second = rate,
            Err(Broken(message)) => {
                self.observed.partial = Some(message);
                return;
            }
        }
        self.requests.store(0, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let give_up_after = give_up_after(&scenario.attacker);
        let mut refusals_in_row = 0_u32;
        let mut attacker_done: Option<Timestamp> = None;
        let mut last_settle = self.now;
        for step in &plan.steps {
            bar.inc(1);
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
        self.observed.end = self.now;
        self.observed.wall_seconds = started.elapsed().as_secs_f64();
        self.observed.http_requests = self.requests.load(Ordering::Relaxed);
        bar.finish_and_clear();
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
                let traffic = &scenario.normal.services[*service];
                let credential = self
                    .services
                    .get(&traffic.name)
                    .cloned()
                    .ok_or_else(|| Broken(format!("no credential for {}", traffic.name)))?;
                let path = format!(
                    "/v1/customers/{}?purpose={}",
                    self.ids[*customer as usize], traffic.purposes[0]
                );
                let read = self
                    .service_read(
                        &traffic.name,
                        &credential,
                        &path,
                        *network,
                        &traffic.user_agent,
                    )
                    .await?;
                let ok = read.is_some_and(|(status, _)| status.is_success());
                self.normal_result(ok, at);
                if ok {
                    self.observed.normal_reads.push(at);
                }
                Ok(StepResult::default())
            }
            Action::ForgedRead {
                victim,
                network,
                reads,
            } => {
                self.forged_read(
                    *victim,
                    *network,
                    reads,
                    at,
                    attacker_agent(&scenario.attacker),
                )
                .await
            }
            Action::StolenServiceRead { victim, network } => {
                let service = scenario
                    .stolen_service()
                    .ok_or_else(|| Broken("the stolen service is not in the scenario".into()))?;
                let credential = self
                    .services
                    .get(&service.name)
                    .cloned()
                    .ok_or_else(|| Broken(format!("no credential for {}", service.name)))?;
                let purpose = service.purposes[0].clone();
                let agent = attacker_agent(&scenario.attacker);
                self.observed.attacker_requests += 1;
                let path = format!(
                    "/v1/customers/{}?purpose={purpose}",
                    self.ids[*victim as usize]
                );
                let read = self
                    .service_read(
                        &format!("attacker:{}", service.name),
                        &credential,
                        &path,
                        *network,
                        agent,
                    )
                    .await?;
                let received = match read {
                    Some((status, body)) if status.is_success() => self.receive(*victim, &body, at),
                    _ => false,
                };
                Ok(self.attack_result(at, received))
            }
            Action::StuffingTry { entry, network } => {
                self.stuffing_try(
                    plan,
                    &plan.leaked[*entry],
                    *network,
                    at,
                    attacker_agent(&scenario.attacker),
                )
                .await
            }
        }
    }

    async fn customer_session(
        &mut self,
        customer: u64,
        network: Ipv4Addr,
        plan: &Plan,
        at: Timestamp,
    ) -> Result<StepResult, Broken> {
        let known = self.generator.customer(customer);
        let (status, body) = self
            .send(
                Method::POST,
                "/v1/auth/login",
                Some(network),
                APP_AGENT,
                None,
                Some(&json!({ "email": known.email, "password": plan.password(customer) })),
            )
            .await?;
        self.normal_result(status.is_success(), at);
        let Some(token) = body["access_token"].as_str().map(str::to_string) else {
            return Ok(StepResult::default());
        };
        for path in ["/v1/customers/me", "/v1/customers/me/addresses"] {
            let (status, _) = self
                .send(
                    Method::GET,
                    path,
                    Some(network),
                    APP_AGENT,
                    Some(&token),
                    None,
                )
                .await?;
            self.normal_result(status.is_success(), at);
            if status.is_success() {
                self.observed.normal_reads.push(at);
            }
        }
        let (status, _) = self
            .send(
                Method::POST,
                "/v1/auth/logout",
                Some(network),
                APP_AGENT,
                Some(&token),
                Some(&json!({})),
            )
            .await?;
        self.normal_result(status.is_success(), at);
        Ok(StepResult::default())
    }

    async fn forged_read(
        &mut self,
        victim: u64,
        network: Ipv4Addr,
        reads: &[Read],
        at: Timestamp,
        agent: &str,
    ) -> Result<StepResult, Broken> {
        let Some((key, kid)) = &self.legacy_key else {
            return Err(Broken("no legacy key to forge with".into()));
        };
        // The attacker copies issuer and audience from any token it has seen.
        let (issuer, audience) = self
            .issuer_audience
            .clone()
            .ok_or_else(|| Broken("no token seen to copy the issuer from".into()))?;
        let nonce: [u8; 32] =
            Sha256::digest(format!("forged {victim} {}", at.as_micros()).as_bytes()).into();
        let sid = format!("s_{}", hex::encode(&nonce[..12]));
        let jti = format!("t_{}", hex::encode(&nonce[12..24]));
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        let claims = json!({
            "iss": issuer,
            "aud": audience,
            "sub": format!("customer:{}", self.ids[victim as usize]),
            "sid": sid,
            "jti": jti,
            "iat": at.as_secs(),
            "exp": at.as_secs() + 900,
        });
        let token = jsonwebtoken::encode(&header, &claims, key)
            .map_err(|error| Broken(format!("forging a token failed: {error}")))?;
        self.observed.traits.sessions.insert(sid);
        let mut received = false;
        for read in reads {
            let path = match read {
                Read::Profile => "/v1/customers/me",
                Read::Addresses => "/v1/customers/me/addresses",
            };
            self.observed.attacker_requests += 1;
            let (status, body) = self
                .send(Method::GET, path, Some(network), agent, Some(&token), None)
                .await?;
            if status.is_success() {
                received |= self.receive(victim, &body, at);
            } else {
                self.observed.attacker_refused += 1;
            }
        }
        self.observed.attack_attempts.push((at, received));
        Ok(StepResult {
            received,
            refused: !received,
        })
    }

    async fn stuffing_try(
        &mut self,
        plan: &Plan,
        entry: &LeakedEntry,
        network: Ipv4Addr,
        at: Timestamp,
        agent: &str,
    ) -> Result<StepResult, Broken> {
        let (email, customer) = match entry {
            LeakedEntry::Reused { customer } | LeakedEntry::OtherPassword { customer } => {
                (self.generator.customer(*customer).email, Some(*customer))
            }
            LeakedEntry::Stranger { number } => (plan.stranger_email(*number), None),
        };
        self.observed.attacker_requests += 1;
        let (status, body) = self
            .send(
                Method::POST,
                "/v1/auth/login",
                Some(network),
                agent,
                None,
                Some(&json!({ "email": email, "password": plan.leaked_password(entry) })),
            )
            .await?;
        let Some(token) = body["access_token"].as_str().map(str::to_string) else {
            // A wrong password is the list's failure; a refusal is Haechi's (blocked, limited).
            let refused =
                status == StatusCode::FORBIDDEN || status == StatusCode::TOO_MANY_REQUESTS;
            if refused {
                self.observed.attacker_refused += 1;
            }
            self.observed.attack_attempts.push((at, false));
            return Ok(StepResult {
                received: false,
                refused,
            });
        };
        if let Some(sid) = body["session_id"].as_str() {
            self.observed.traits.sessions.insert(sid.to_string());
        }
        let mut received = false;
        if let Some(customer) = customer {
            for path in ["/v1/customers/me", "/v1/customers/me/addresses"] {
                self.observed.attacker_requests += 1;
                let (status, body) = self
                    .send(Method::GET, path, Some(network), agent, Some(&token), None)
                    .await?;
                if status.is_success() {
                    received |= self.receive(customer, &body, at);
                } else {
                    self.observed.attacker_refused += 1;
                }
            }
        }
        self.observed.attack_attempts.push((at, received));
        Ok(StepResult {
            received,
            refused: false,
        })
    }

    /// Records what a response gave the attacker about `customer`; whether it gave anything.
    fn receive(&mut self, customer: u64, body: &Value, at: Timestamp) -> bool {
        let known: GeneratedCustomer = self.generator.customer(customer);
        let disclosure = judge(&known, body);
        if disclosure.is_empty() {
            return false;
        }
        self.observed.receipts.push(Receipt {
            customer_id: self.ids[customer as usize].clone(),
            at,
            disclosure,
        });
        true
    }

    fn attack_result(&mut self, at: Timestamp, received: bool) -> StepResult {
        if !received {
            self.observed.attacker_refused += 1;
        }
        self.observed.attack_attempts.push((at, received));
        StepResult {
            received,
            refused: !received,
        }
    }

    fn normal_result(&mut self, ok: bool, at: Timestamp) {
        self.observed.normal_requests += 1;
        if !ok {
            // Which of these came after containment is the report's to say.
            self.observed.normal_refusals.push(at);
        }
    }

    /// Revokes the legacy key the attacker copied, if containment has not already: a drill
    /// leaves no key behind that someone outside holds.
    pub async fn finish(&mut self) -> anyhow::Result<()> {
        let Some((_, kid)) = self.legacy_key.take() else {
            return Ok(());
        };
        let keys = self
            .admin(Method::GET, "/v1/admin/keys", None)
            .await
            .map_err(|Broken(message)| anyhow::anyhow!(message))?
            .1;
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
            .await
            .map_err(|Broken(message)| anyhow::anyhow!(message))?;
        if !status.is_success() {
            anyhow::bail!("revoking the drill's legacy key {kid} failed ({status}): {body}");
        }
        Ok(())
    }

    /// The true alerts, oldest first.
    pub fn true_alerts(&self) -> Vec<&AlertSeen> {
        self.observed
            .alerts
            .iter()
            .filter(|alert| self.observed.traits.implicates(alert))
            .collect()
    }
}

/// What one step achieved, for the attacker's give-up count.
#[derive(Debug, Default, Clone, Copy)]
struct StepResult {
    received: bool,
    refused: bool,
}

fn attacker_agent(attacker: &Attacker) -> &str {
    match attacker {
        Attacker::ForgedTokens { user_agent, .. }
        | Attacker::StolenService { user_agent, .. }
        | Attacker::Stuffing { user_agent, .. } => user_agent,
    }
}

fn give_up_after(attacker: &Attacker) -> u32 {
    match attacker {
        Attacker::ForgedTokens { give_up_after, .. }
        | Attacker::StolenService { give_up_after, .. }
        | Attacker::Stuffing { give_up_after, .. } => (*give_up_after).max(1),
    }
}

fn text(body: &Value, field: &str) -> anyhow::Result<String> {
    body[field]
        .as_str()
        .map(str::to_string)
        // Not the body: it may hold a client secret.
        .with_context(|| format!("the answer has no {field}"))
}

/// `iss` and `aud` of a JWT's payload.
fn issuer_and_audience(token: &str) -> Option<(String, String)> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: Value = serde_json::from_slice(&bytes).ok()?;
    Some((
        claims["iss"].as_str()?.to_string(),
        claims["aud"].as_str()?.to_string(),
    ))
}

/// An alert from the admin API, as the drill records it.
fn alert_seen(alert: &Value, at: Timestamp) -> AlertSeen {
    let context: BTreeMap<String, String> = alert["context"]
        .as_object()
        .map(|map| {
            map.iter()
                .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let actions: Vec<&Value> = alert["actions"]
        .as_array()
        .map(|list| list.iter().collect())
        .unwrap_or_default();
    let enforced = actions
        .iter()
        .any(|action| action["disposition"] == "enforce");
    AlertSeen {
        id: alert["id"].as_str().unwrap_or_default().to_string(),
        rule_id: alert["rule_id"].as_str().unwrap_or_default().to_string(),
        severity: alert["severity"].as_str().unwrap_or_default().to_string(),
        title: alert["title"].as_str().unwrap_or_default().to_string(),
        group_key: alert["group_key"].as_str().unwrap_or_default().to_string(),
        context,
        seen_at: at,
        actions: actions
            .iter()
            .map(|action| {
                format!(
                    "{} ({})",
                    action["kind"]["action"].as_str().unwrap_or("?"),
                    action["disposition"].as_str().unwrap_or("?")
                )
            })
            .collect(),
        enforced,
    }
}
