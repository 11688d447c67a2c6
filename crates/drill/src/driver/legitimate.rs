//! The legitimate traffic: customers' app sessions and services' reads, played as the real
//! clients would, so detection sees them as the baseline and containment can cost them.

use std::net::Ipv4Addr;

use haechi_events::Timestamp;
use reqwest::Method;
use serde_json::json;

use super::{Broken, Driver, StepResult};
use crate::plan::Plan;
use crate::scenario::Scenario;

/// The user agent of the legitimate customers' app.
const APP_AGENT: &str = "ShopApp/7.4 (iPhone; iOS 18.5)";

impl Driver {
    /// An active customer logs in, reads their profile and address book, and logs out.
    pub(super) async fn customer_session(
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

    /// A service reads one customer for its first purpose.
    pub(super) async fn service_read_step(
        &mut self,
        scenario: &Scenario,
        service: usize,
        customer: u64,
        network: Ipv4Addr,
        at: Timestamp,
    ) -> Result<StepResult, Broken> {
        let traffic = &scenario.normal.services[service];
        let credential = self.service_credential(&traffic.name)?;
        let path = format!(
            "/v1/customers/{}?purpose={}",
            self.customer_id(customer),
            traffic.purposes[0]
        );
        let read = self
            .service_read(
                &traffic.name,
                &credential,
                &path,
                network,
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

    /// Counts a legitimate request, and when it was refused.
    fn normal_result(&mut self, ok: bool, at: Timestamp) {
        self.observed.normal_requests += 1;
        if !ok {
            // Which of these came after containment is the report's to say.
            self.observed.normal_refusals.push(at);
        }
    }
}
