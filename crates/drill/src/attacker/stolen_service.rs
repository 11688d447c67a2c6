//! `stolen_service`: the attacker holds a service's client credential — stolen, or abused by
//! an insider — and reads customers one after another through the service read path.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use haechi_events::Timestamp;
use serde::{Deserialize, Serialize};

use super::{AttackerKind, all, check_networks, check_rate, check_share};
use crate::driver::{Broken, Driver, StepResult};
use crate::plan::{AttackStep, Plan, Planning, attack_time};
use crate::scenario::{Scenario, ServiceTraffic};

/// A service's client credential, stolen (or abused by an insider): customers read one
/// after another through the service read path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StolenService {
    /// The service whose credential it holds (one of `normal.services`).
    pub service: String,
    /// Reads per second.
    pub per_second: f64,
    /// How long the campaign may last.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Share of all customers it goes after (0–1].
    #[serde(default = "all")]
    pub victims: f64,
    /// Networks it calls from.
    pub networks: u32,
    /// Reads from one network before it moves to the next (0: spread evenly).
    #[serde(default)]
    pub reads_per_network: u32,
    /// It stops after this many refusals in a row.
    pub give_up_after: u32,
    /// Its user agent.
    pub user_agent: String,
}

impl StolenService {
    /// The legitimate traffic of the service whose credential it holds.
    pub fn traffic<'a>(&self, scenario: &'a Scenario) -> Option<&'a ServiceTraffic> {
        scenario
            .normal
            .services
            .iter()
            .find(|known| known.name == self.service)
    }

    /// Reads the victim with the stolen credential.
    async fn stolen_read(
        &self,
        driver: &mut Driver,
        scenario: &Scenario,
        step: AttackStep,
        at: Timestamp,
    ) -> Result<StepResult, Broken> {
        let service = self
            .traffic(scenario)
            .ok_or_else(|| Broken("the stolen service is not in the scenario".into()))?;
        let credential = driver.service_credential(&service.name)?;
        let purpose = &service.purposes[0];
        driver.observed.attacker_requests += 1;
        let path = format!(
            "/v1/customers/{}?purpose={purpose}",
            driver.customer_id(step.target)
        );
        let read = driver
            .service_read(
                &format!("attacker:{}", service.name),
                &credential,
                &path,
                step.network,
                &self.user_agent,
            )
            .await?;
        let received = match read {
            Some((status, body)) if status.is_success() => driver.receive(step.target, &body, at),
            _ => false,
        };
        Ok(driver.attack_result(at, received))
    }
}

impl AttackerKind for StolenService {
    fn user_agent(&self) -> &str {
        &self.user_agent
    }

    fn give_up_after(&self) -> u32 {
        self.give_up_after
    }

    fn networks(&self) -> u32 {
        self.networks
    }

    fn check(&self, scenario: &Scenario) -> Result<(), String> {
        check_rate("per_second", self.per_second)?;
        check_share("victims", self.victims)?;
        check_networks(self.networks)?;
        if self.traffic(scenario).is_none() {
            return Err(format!(
                "attacker.service: {:?} is not one of normal.services",
                self.service
            ));
        }
        Ok(())
    }

    fn campaign_seconds(&self) -> f64 {
        self.duration.as_secs_f64()
    }

    fn plan(&self, planning: &mut Planning<'_>) {
        let victims = planning.victim_order(self.victims);
        for (index, victim) in victims.into_iter().enumerate() {
            let Some(at) =
                attack_time(planning.attack_start, index, self.per_second, self.duration)
            else {
                break;
            };
            let slot = if self.reads_per_network > 0 {
                index / self.reads_per_network as usize
            } else {
                index
            };
            planning.attack(at, victim, slot);
        }
    }

    fn play<'a>(
        &'a self,
        driver: &'a mut Driver,
        scenario: &'a Scenario,
        _plan: &'a Plan,
        step: AttackStep,
        at: Timestamp,
    ) -> LocalBoxFuture<'a, Result<StepResult, Broken>> {
        Box::pin(self.stolen_read(driver, scenario, step, at))
    }
}
