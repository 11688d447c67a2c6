//! `stolen_service`: the attacker holds a service's client credential — stolen, or abused by
//! an insider — and reads customers one after another through the service read path.

use std::time::Duration;

use futures::future::LocalBoxFuture;
use haechi_events::Timestamp;
use serde::{Deserialize, Serialize};

use super::{AttackerKind, Habits, all, check_paced};
use crate::driver::{Broken, Driver, StepResult};
use crate::plan::{AttackStep, Plan, Planning};
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
    fn habits(&self) -> Habits<'_> {
        Habits::new(self.networks, self.give_up_after, &self.user_agent)
    }

    fn check(&self, scenario: &Scenario) -> Result<(), String> {
        check_paced(self.per_second, self.victims, self.networks)?;
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
        let per_network = self.reads_per_network as usize;
        // 0 reads per network: a new network for every read.
        planning.paced_victims(self.victims, self.per_second, self.duration, |index| {
            index.checked_div(per_network).unwrap_or(index)
        });
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
