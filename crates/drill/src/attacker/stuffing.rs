//! `stuffing`: a leaked e-mail/password list tried against the login; a login that works
//! reads the customer's profile and address book.

use futures::future::LocalBoxFuture;
use haechi_events::Timestamp;
use rand::seq::SliceRandom as _;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{AttackerKind, Habits, check_networks, check_rate, check_share, read_as_customer};
use crate::driver::{Broken, Driver, StepResult};
use crate::plan::{AttackStep, LeakedEntry, Plan, Planning};
use crate::scenario::Scenario;

/// A leaked e-mail/password list tried against the login.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stuffing {
    /// Entries in the list.
    pub list: u32,
    /// Share of the list that are customers who reused that password here.
    pub reused: f64,
    /// Share of the list that are customers with another password here (the rest are not
    /// customers at all).
    pub other_password: f64,
    /// Login attempts per second.
    pub per_second: f64,
    /// Networks it rotates through.
    pub networks: u32,
    /// It stops after this many refusals in a row.
    pub give_up_after: u32,
    /// Its user agent.
    pub user_agent: String,
}

impl AttackerKind for Stuffing {
    fn habits(&self) -> Habits<'_> {
        Habits::new(self.networks, self.give_up_after, &self.user_agent)
    }

    fn check(&self, _scenario: &Scenario) -> Result<(), String> {
        check_rate("per_second", self.per_second)?;
        check_share("reused", self.reused)?;
        check_share("other_password", self.other_password)?;
        check_networks(self.networks)?;
        if self.reused + self.other_password > 1.0 {
            return Err("attacker: reused + other_password is more than the whole list".into());
        }
        if self.list == 0 {
            return Err("attacker.list: 0 entries".into());
        }
        Ok(())
    }

    fn campaign_seconds(&self) -> f64 {
        f64::from(self.list) / self.per_second
    }

    fn plan(&self, planning: &mut Planning<'_>) {
        // Listed customers come from outside the active ones, so a successful login is the
        // attacker's, never a legitimate session.
        let mut pool: Vec<u64> = (planning.active_customers..planning.customers).collect();
        pool.shuffle(planning.random);
        let list = self.list as usize;
        let reused_count = ((list as f64) * self.reused).round() as usize;
        let other_count = ((list as f64) * self.other_password).round() as usize;
        let mut pool = pool.into_iter();
        let mut leaked = Vec::new();
        for _ in 0..reused_count {
            if let Some(customer) = pool.next() {
                leaked.push(LeakedEntry::Reused { customer });
            }
        }
        for _ in 0..other_count {
            if let Some(customer) = pool.next() {
                leaked.push(LeakedEntry::OtherPassword { customer });
            }
        }
        let mut number = 0;
        while leaked.len() < list {
            leaked.push(LeakedEntry::Stranger { number });
            number += 1;
        }
        leaked.shuffle(planning.random);
        for entry in &leaked {
            if let LeakedEntry::Reused { customer } | LeakedEntry::OtherPassword { customer } =
                entry
            {
                planning.with_password.push(*customer);
            }
        }
        for index in 0..leaked.len() {
            let at = planning
                .attack_start
                .plus(std::time::Duration::from_secs_f64(
                    index as f64 / self.per_second,
                ));
            planning.attack(at, index as u64, index);
        }
        planning.leaked = leaked;
    }

    fn play<'a>(
        &'a self,
        driver: &'a mut Driver,
        _scenario: &'a Scenario,
        plan: &'a Plan,
        step: AttackStep,
        at: Timestamp,
    ) -> LocalBoxFuture<'a, Result<StepResult, Broken>> {
        Box::pin(self.try_entry(driver, plan, step, at))
    }
}

impl Stuffing {
    /// Tries one entry of the leaked list; on success, reads what the login opens.
    async fn try_entry(
        &self,
        driver: &mut Driver,
        plan: &Plan,
        step: AttackStep,
        at: Timestamp,
    ) -> Result<StepResult, Broken> {
        let entry = usize::try_from(step.target)
            .ok()
            .and_then(|index| plan.leaked.get(index))
            .ok_or_else(|| Broken("a stuffing step past the leaked list".into()))?;
        let (email, customer) = match entry {
            LeakedEntry::Reused { customer } | LeakedEntry::OtherPassword { customer } => {
                (driver.customer(*customer).email, Some(*customer))
            }
            LeakedEntry::Stranger { number } => (plan.stranger_email(*number), None),
        };
        let agent = self.user_agent.as_str();
        driver.observed.attacker_requests += 1;
        let (status, body) = driver
            .send(
                Method::POST,
                "/v1/auth/login",
                Some(step.network),
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
                driver.observed.attacker_refused += 1;
            }
            driver.observed.attack_attempts.push((at, false));
            return Ok(StepResult {
                received: false,
                refused,
            });
        };
        if let Some(sid) = body["session_id"].as_str() {
            driver.observed.traits.sessions.insert(sid.to_string());
        }
        let received = match customer {
            Some(customer) => {
                let paths = ["/v1/customers/me", "/v1/customers/me/addresses"];
                read_as_customer(driver, &paths, &token, customer, step, agent, at).await?
            }
            None => false,
        };
        driver.observed.attack_attempts.push((at, received));
        Ok(StepResult {
            received,
            refused: false,
        })
    }
}
