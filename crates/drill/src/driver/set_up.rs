//! Set-up: checks the target is a Haechi on the drill clock, then creates the scenario on it
//! over the admin API, as on any deployment — services, access policy, what the attacker
//! kind needs (a legacy key), customers.

use futures::StreamExt as _;
use haechi_events::Timestamp;
use haechi_korean::CustomerGenerator;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::http::To;
use super::{Broken, CREATE_CONCURRENCY, Driver};
use crate::Error;
use crate::plan::{Plan, service_network};
use crate::run::Progress;
use crate::scenario::{ACCOUNT_SERVICE, DEFAULT_POLICY, Scenario};
use crate::server::Credential;

impl Driver {
    /// Checks the target is a Haechi on the drill clock, and sets the scenario up on it.
    pub(crate) async fn set_up(
        &mut self,
        scenario: &Scenario,
        plan: &Plan,
        customers: Population,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        self.check_target(plan).await?;
        self.create_services(scenario).await?;
        self.put_policy(scenario).await?;
        self.shared_decision_made().await?;
        scenario.attacker.kind().set_up(self).await?;
        match customers {
            Population::Imported(ids) => {
                self.ids = ids;
                Ok(())
            }
            Population::Create(count) => self.create_customers(plan, count, progress).await,
        }
    }

    /// After an administrator's decision that a cluster shares through its change log (the
    /// policy, a key's state): a move of every clock to the same instant, so every API node
    /// has applied it before the next request, wherever that lands. On one server, nothing.
    pub(crate) async fn shared_decision_made(&mut self) -> Result<(), Broken> {
        if self.nodes.is_cluster() {
            self.settle(self.now).await?;
        }
        Ok(())
    }

    /// Whether the target is a Haechi with its drill clock no later than the plan's start
    /// (on a cluster: every API node, and every detection node's clock); moves the clock to
    /// the start.
    async fn check_target(&mut self, plan: &Plan) -> Result<(), Error> {
        for node in self.nodes.api().to_vec() {
            let (status, body) = self
                .send_to(
                    To::Node(&node),
                    Method::GET,
                    "/.well-known/oauth-authorization-server",
                    (None, "haechi-drill"),
                    None,
                    None,
                )
                .await?;
            if !status.is_success() || body.get("issuer").is_none() {
                let said = body["message"].as_str().unwrap_or_default();
                return Err(Error::Target(format!(
                    "{node} is not a Haechi API server (no OAuth metadata at \
                     /.well-known/oauth-authorization-server){}{said}",
                    if said.is_empty() { "" } else { ": " }
                )));
            }
            self.check_clock(&node, plan).await?;
        }
        for node in self.nodes.detection().to_vec() {
            self.check_clock(&node, plan).await?;
        }
        Ok(self.settle(plan.start).await?)
    }

    /// Whether `node` runs on the drill clock, no later than the plan's start.
    async fn check_clock(&mut self, node: &str, plan: &Plan) -> Result<(), Error> {
        let (status, body) = self
            .admin_at(To::Node(node), Method::GET, "/v1/admin/drill/clock", None)
            .await?;
        if status == StatusCode::NOT_FOUND {
            return Err(Error::Target(format!(
                "{node} runs on the real clock: start it with drill.dangerous_simulated_clock = \
                 true (HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK=true) and \
                 server.trusted_proxies = [\"127.0.0.0/8\"], on a server of its own"
            )));
        }
        let now = body["now"]
            .as_str()
            .and_then(Timestamp::parse)
            .ok_or_else(|| {
                Error::Target(format!(
                    "the drill clock of {node} answered {status}: {body}"
                ))
            })?;
        if now > plan.start {
            return Err(Error::Target(format!(
                "the simulated clock of {node} shows {}, after the scenario's start {}: start \
                 it with drill.start = {} (simulated time never runs backwards)",
                now.to_rfc3339(),
                plan.start.to_rfc3339(),
                plan.start.to_rfc3339()
            )));
        }
        Ok(())
    }

    /// The account service that creates customers, and the scenario's services.
    async fn create_services(&mut self, scenario: &Scenario) -> Result<(), Error> {
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
                .await?;
            if status == StatusCode::CONFLICT {
                return Err(Error::Target(format!(
                    "the target already has a service {name:?}: drill a fresh server"
                )));
            }
            if status != StatusCode::CREATED {
                return Err(Error::Target(format!(
                    "creating service {name:?} failed ({status}): {body}"
                )));
            }
            self.services.insert(
                name,
                Credential {
                    client_id: text(&body, "client_id")?,
                    client_secret: text(&body, "client_secret")?,
                },
            );
        }
        Ok(())
    }

    /// The scenario's access policy (or the built-in drills').
    async fn put_policy(&mut self, scenario: &Scenario) -> Result<(), Error> {
        let policy = scenario.policy.as_deref().unwrap_or(DEFAULT_POLICY);
        let token = self.admin_token().await?;
        let response = self
            .http
            .put(self.nodes.url("/v1/admin/policy"))
            .bearer_auth(token)
            .header(reqwest::header::CONTENT_TYPE, "application/toml")
            .body(policy.to_string())
            .send()
            .await
            .map_err(Error::local("setting the access policy"))?;
        if !response.status().is_success() {
            let status = response.status();
            return Err(Error::Target(format!(
                "the target refused the scenario's policy ({status}): {}",
                response.text().await.unwrap_or_default()
            )));
        }
        Ok(())
    }

    /// Creates the customers through the account service, a few at once, and keeps their ids
    /// in the generator's order.
    async fn create_customers(
        &mut self,
        plan: &Plan,
        customers: u64,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let account = self
            .services
            .get(ACCOUNT_SERVICE)
            .cloned()
            .ok_or_else(|| Error::Target("no account service".into()))?;
        let token = self
            .client_token(
                "account",
                &account,
                Some(service_network(249, 0)),
                "account-service/1.0",
            )
            .await?
            .ok_or_else(|| Error::Target("the account service's credential was refused".into()))?;
        progress.phase("creating customers", Some(customers));
        let generator = self.generator.clone();
        let http = self.http.clone();
        let nodes = &self.nodes;
        let mut created: Vec<(u64, Result<String, String>)> = futures::stream::iter(0..customers)
            .map(|index| {
                let body = customer_record(&generator, plan, index);
                let request = http
                    .post(nodes.url("/v1/customers"))
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
            .inspect(|_| progress.advance())
            .collect()
            .await;
        created.sort_by_key(|(index, _)| *index);
        self.ids = created
            .into_iter()
            .map(|(index, outcome)| {
                outcome.map_err(|error| {
                    Error::Target(format!("creating customer {index} failed: {error}"))
                })
            })
            .collect::<Result<_, Error>>()?;
        Ok(())
    }
}

/// The customers a drill starts with.
pub(crate) enum Population {
    /// Already in the vault (a server of the drill's own, filled through the bulk path):
    /// their ids, customer `i`'s at `i`.
    Imported(Vec<String>),
    /// This many, created through the account service (a `--target`).
    Create(u64),
}

/// Customer `index`'s record as `POST /v1/customers` and the bulk import take it: the
/// generator's customer, with the plan's password when the plan logs them in.
pub(crate) fn customer_record(generator: &CustomerGenerator, plan: &Plan, index: u64) -> Value {
    let mut body = serde_json::to_value(generator.customer(index)).unwrap_or(Value::Null);
    if plan.with_password.binary_search(&index).is_ok() {
        body["password"] = Value::String(plan.password(index));
    }
    body
}

/// A text field of an answer.
fn text(body: &Value, field: &str) -> Result<String, Error> {
    body[field]
        .as_str()
        .map(str::to_string)
        // Not the body: it may hold a client secret.
        .ok_or_else(|| Error::Target(format!("the answer has no {field}")))
}
