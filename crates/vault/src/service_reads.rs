//! Services reading customers' records: authorize (an [`AccessGrant`]), then read what the
//! grant allows, charged to the service's budget of distinct customers. Lookups by blind index
//! are reads of the searched field (`lookup.rs`); the budgets are rebuilt at start from the
//! audit trail (`restart.rs`).

use std::sync::Arc;

use haechi_events::{EventKind, RequestContext, SecurityEvent};
use haechi_token::VerifiedToken;
use serde_json::{Map, Value};

use crate::access::{AccessGrant, Authorization, GrantOperation};
use crate::budgets::{MemoryBudgets, SharedBudgets};
use crate::lookup_limits::LookupLimits;
use crate::quota::ReadClass;
use crate::shared::VaultCore;
use crate::{Denial, Error, PiiField, Plaintext};

mod lookup;
mod restart;

/// What a read returns: one view per customer found, in the order asked.
#[derive(Debug)]
pub struct ReadView {
    /// Customer id → record view.
    pub customers: Vec<(String, Plaintext)>,
    /// Ids not found.
    pub missing: Vec<String>,
}

/// Services' reads and lookups, and the budgets of distinct customers they spend.
#[derive(Debug)]
pub struct ServiceReads {
    core: Arc<VaultCore>,
    budgets: MemoryBudgets,
    /// In a cluster, the budgets every node charges (then `budgets` stays empty).
    shared_budgets: Option<Arc<dyn SharedBudgets>>,
    /// Where the lookup-miss limit and the lookup statistics are counted (this process's
    /// memory on one node, the shared store in a cluster).
    lookup_limits: Arc<dyn LookupLimits>,
}

impl ServiceReads {
    pub(crate) fn new(
        core: Arc<VaultCore>,
        shared_budgets: Option<Arc<dyn SharedBudgets>>,
        lookup_limits: Arc<dyn LookupLimits>,
    ) -> Self {
        ServiceReads {
            core,
            budgets: MemoryBudgets::default(),
            shared_budgets,
            lookup_limits,
        }
    }

    /// Decides what a caller may read of `customer_ids` for `purpose`: the caller must be a
    /// service holding `purpose`, and the policy must grant it the fields (`requested`, or
    /// every field it grants); a deny wins. Customers reaching for another customer's record
    /// get `NotFound` (no existence oracle) and a `not_owner` event. Refusals are audited as
    /// `pii.read`.
    pub async fn authorize(
        &self,
        token: &VerifiedToken,
        customer_ids: &[String],
        purpose: Option<&str>,
        requested: Option<&[String]>,
        context: &RequestContext,
    ) -> Result<AccessGrant, Error> {
        Authorization {
            operation: GrantOperation::Read,
            token,
            customer_ids,
            purpose,
            requested,
            context,
        }
        .decide(&self.core)
        .await
    }

    /// Reads what `grant` allows, charging the service's budget of distinct customers. One
    /// `pii.read` event per customer returned, and one (`deny`, 404, `not_found`) per id
    /// the vault does not hold.
    pub async fn read(
        &self,
        grant: &AccessGrant,
        context: &RequestContext,
    ) -> Result<ReadView, Error> {
        grant.require("read")?;
        let core = &self.core;
        let records = core.store.records(&grant.customer_ids).await?;
        let found: Vec<&str> = records.iter().map(|r| r.customer_id.as_str()).collect();
        let missing: Vec<String> = grant
            .customer_ids
            .iter()
            .filter(|id| !found.contains(&id.as_str()))
            .cloned()
            .collect();
        for id in &missing {
            core.emit(
                Denial::NotFound.stamp(
                    core.event(EventKind::PiiRead, &grant.token, context)
                        .customer(id)
                        .purpose(&grant.purpose),
                ),
            )
            .await?;
        }
        let over_budget = core
            .event(EventKind::PiiQuotaExceeded, &grant.token, context)
            .purpose(&grant.purpose)
            .fields(grant.fields.keys().map(|f| f.as_str()));
        self.charge(grant, &found, over_budget).await?;
        let wanted: Vec<PiiField> = grant.fields.keys().copied().collect();
        let mut customers = Vec::with_capacity(records.len());
        for stored in &records {
            let record = core.open_fields(stored, &wanted)?;
            let mut view = Map::new();
            view.insert("id".into(), Value::String(stored.customer_id.clone()));
            for (field, access) in &grant.fields {
                view.insert(
                    field.as_str().into(),
                    record.field_view(
                        *field,
                        AccessGrant::rendering(*access),
                        grant.entrance_notes(),
                    ),
                );
            }
            let view = Plaintext::new(Value::Object(view));
            core.emit(
                core.event(EventKind::PiiRead, &grant.token, context)
                    .customer(&stored.customer_id)
                    .fields(wanted.iter().map(|f| f.as_str()))
                    .purpose(&grant.purpose)
                    .outcome(grant.decision(), 200),
            )
            .await?;
            customers.push((stored.customer_id.clone(), view));
        }
        // Answer in the order asked.
        customers.sort_by_key(|(id, _)| grant.customer_ids.iter().position(|asked| asked == id));
        Ok(ReadView { customers, missing })
    }

    /// Charges the customers `found` to the grant's service's budget (masked or plaintext, by
    /// the grant). Over it, `over_budget` (the operation's `pii.quota_exceeded` event) is
    /// recorded as a `quota` refusal with the budget and the number asked, and the act is
    /// refused.
    async fn charge(
        &self,
        grant: &AccessGrant,
        found: &[&str],
        over_budget: SecurityEvent,
    ) -> Result<(), Error> {
        let policy = self.core.policy();
        let (masked_budget, plaintext_budget) = policy.quota().budget(&grant.service);
        let budget = match grant.class() {
            ReadClass::Masked => masked_budget,
            ReadClass::Plaintext => plaintext_budget,
        };
        let principal = format!("service:{}", grant.service);
        let (window, now) = (policy.quota().window, self.core.clock.now());
        let budgets: &dyn SharedBudgets = match &self.shared_budgets {
            Some(shared) => shared.as_ref(),
            None => &self.budgets,
        };
        let charged = budgets
            .charge(&principal, grant.class(), found, budget, window, now)
            .await?;
        if charged {
            return Ok(());
        }
        let denial = Denial::Quota {
            service: grant.service.clone(),
            budget,
            window_secs: policy.quota().window.as_secs(),
        };
        self.core
            .emit(
                denial
                    .stamp(over_budget)
                    .detail("budget", budget.to_string())
                    .detail("requested", found.len().to_string()),
            )
            .await?;
        Err(denial.into())
    }
}
