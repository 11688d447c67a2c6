//! What the vault rebuilds at start from the audit trail: the budgets of distinct customers.

use haechi_events::{Decision, EventKind, Principal, SecurityEvent};

use super::ServiceReads;
use crate::quota::ReadClass;

impl ServiceReads {
    /// Puts back the budgets of distinct customers spent before a restart, so that a
    /// restart does not hand a scraper a fresh budget. `events` are the audit trail's records
    /// in log order (older than the quota window are skipped); each `pii.read` or
    /// `pii.lookup` of a service that returned a customer (decision `allow` or `mask`,
    /// status 200) is charged again at the time it happened. Call before serving. Returns how
    /// many such events were found.
    pub fn restore_budgets<'a>(&self, events: impl IntoIterator<Item = &'a SecurityEvent>) -> u64 {
        let window = self.core.policy().quota().window;
        let cutoff = self.core.clock.now().minus(window);
        let budgets = &self.budgets;
        let mut restored = 0;
        for event in events {
            if !matches!(event.kind, EventKind::PiiRead | EventKind::PiiLookup)
                || event.status != 200
                || event.time <= cutoff
            {
                continue;
            }
            let class = match event.decision {
                Decision::Allow => ReadClass::Plaintext,
                Decision::Mask => ReadClass::Masked,
                _ => continue,
            };
            let (Principal::Service(service), Some(customer)) =
                (&event.principal, event.customer_id.as_deref())
            else {
                continue;
            };
            budgets.restore(&format!("service:{service}"), class, customer, event.time);
            restored += 1;
        }
        restored
    }
}
