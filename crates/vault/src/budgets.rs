//! Budgets of distinct customers kept where every node of a cluster charges them.
//!
//! One node keeps each service's budget in its own memory ([`MemoryBudgets`], over
//! `quota.rs`, rebuilt from the audit trail at start). Several nodes must not: a scraper
//! spreading its reads over N nodes would get N budgets. A cluster's store implements
//! [`SharedBudgets`] so a charge on any node counts against the one budget, with the same
//! semantics: customers already read in the window cost nothing, a charge that would exceed
//! the budget is refused whole and charges nothing.

use std::time::Duration;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use parking_lot::Mutex;

use crate::quota::{DistinctBudgets, ReadClass};

/// Distinct-customer budgets shared by every node (a cluster's store).
#[async_trait]
pub trait SharedBudgets: Send + Sync + std::fmt::Debug {
    /// Charges `principal` for reading `customers` in `class` (all or nothing) at `now`:
    /// `Ok(false)`, charging nothing, if the distinct customers read in the `window` before
    /// `now` plus the new ones would exceed `budget`. Exact under concurrent charges of the
    /// same principal from any number of nodes.
    async fn charge(
        &self,
        principal: &str,
        class: ReadClass,
        customers: &[&str],
        budget: u32,
        window: Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// The embedded budgets: this process's memory, exact for one node, rebuilt from the audit
/// trail at start ([`MemoryBudgets::restore`]). Never fails.
#[derive(Debug, Default)]
pub struct MemoryBudgets {
    budgets: Mutex<DistinctBudgets>,
}

impl MemoryBudgets {
    /// Puts back a read recorded before a restart: `principal` first read `customer` at
    /// `time`. Replayed in log order before any new charge; ignores the budget (what was
    /// read was read).
    pub fn restore(&self, principal: &str, class: ReadClass, customer: &str, time: Timestamp) {
        self.budgets
            .lock()
            .restore(principal, class, customer, time);
    }
}

#[async_trait]
impl SharedBudgets for MemoryBudgets {
    async fn charge(
        &self,
        principal: &str,
        class: ReadClass,
        customers: &[&str],
        budget: u32,
        window: Duration,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(self
            .budgets
            .lock()
            .charge(principal, class, customers, budget, window, now))
    }
}
