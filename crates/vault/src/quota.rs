//! Budgets of distinct customers per principal, and the quota settings (customers' request
//! rate, the lookup-miss limit).
//!
//! A scraper is stopped by counting what it takes — *distinct customers* — not requests: a
//! service that reads the same customer a thousand times spends one unit, one that walks the
//! customer base spends one per customer. Counting is exact: each principal keeps the
//! customers it read within the window, and since reads beyond the budget are refused, that
//! set never grows past the budget (memory per principal is bounded by its budget).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use haechi_events::Timestamp;

/// Default of [`QuotaSettings::lookup_misses_per_minute`].
pub const DEFAULT_LOOKUP_MISSES_PER_MINUTE: u32 = 60;

/// Budget settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaSettings {
    /// The sliding window.
    pub window: Duration,
    /// Default distinct customers a service may read masked per window.
    pub masked: u32,
    /// Default distinct customers a service may read with any plaintext field per window.
    pub plaintext: u32,
    /// Requests a customer may make per minute against their own record.
    pub customer_requests_per_minute: u32,
    /// Blind-index lookups that found nobody a service may make per minute. A walk of the
    /// phone space is almost all misses; at the default 60, ten million numbers take
    /// four months. Lookups beyond it are refused (429) until the oldest miss is a minute
    /// old; `0` turns lookups off.
    pub lookup_misses_per_minute: u32,
    /// Per-service `(masked, plaintext)` budgets.
    pub per_service: BTreeMap<String, (u32, u32)>,
}

impl Default for QuotaSettings {
    fn default() -> Self {
        QuotaSettings {
            window: Duration::from_secs(3600),
            masked: 1000,
            plaintext: 100,
            customer_requests_per_minute: 120,
            lookup_misses_per_minute: DEFAULT_LOOKUP_MISSES_PER_MINUTE,
            per_service: BTreeMap::new(),
        }
    }
}

impl QuotaSettings {
    /// `(masked, plaintext)` budget of a service.
    pub fn budget(&self, service: &str) -> (u32, u32) {
        self.per_service
            .get(service)
            .copied()
            .unwrap_or((self.masked, self.plaintext))
    }
}

/// Which budget a read spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadClass {
    /// Only masked fields.
    Masked,
    /// At least one plaintext field.
    Plaintext,
}

impl ReadClass {
    /// The class's name in a shared store (`masked`, `plaintext`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReadClass::Masked => "masked",
            ReadClass::Plaintext => "plaintext",
        }
    }
}

/// Distinct customers read per (principal, class) in a sliding window.
#[derive(Debug, Default)]
pub(crate) struct DistinctBudgets {
    readers: HashMap<(String, ReadClass), Reader>,
}

#[derive(Debug, Default)]
struct Reader {
    /// Customer → when it was first read in the current window.
    seen: HashMap<String, Timestamp>,
    /// First reads in time order, for expiry.
    order: VecDeque<(Timestamp, String)>,
}

impl DistinctBudgets {
    /// Puts back a read recorded before a restart: `customer` was first read by `principal`
    /// at `time`. Replayed in log order, before any new charge, so that a restart does not
    /// hand a reader a fresh budget. Ignores the budget: what was read was read.
    pub fn restore(&mut self, principal: &str, class: ReadClass, customer: &str, time: Timestamp) {
        let reader = self
            .readers
            .entry((principal.to_string(), class))
            .or_default();
        if reader.seen.contains_key(customer) {
            return;
        }
        reader.seen.insert(customer.to_string(), time);
        reader.order.push_back((time, customer.to_string()));
    }

    /// Charges reading `customers` (all or nothing). Customers already read in the window
    /// cost nothing. Returns `false`, charging nothing, if the budget would be exceeded.
    pub fn charge(
        &mut self,
        principal: &str,
        class: ReadClass,
        customers: &[&str],
        budget: u32,
        window: Duration,
        now: Timestamp,
    ) -> bool {
        let reader = self
            .readers
            .entry((principal.to_string(), class))
            .or_default();
        let start = now.minus(window);
        while let Some((time, _)) = reader.order.front() {
            if *time > start {
                break;
            }
            if let Some((_, customer)) = reader.order.pop_front() {
                reader.seen.remove(&customer);
            }
        }
        let mut new: Vec<&str> = customers
            .iter()
            .copied()
            .filter(|customer| !reader.seen.contains_key(*customer))
            .collect();
        new.sort_unstable();
        new.dedup();
        if reader.seen.len() + new.len() > budget as usize {
            return false;
        }
        for customer in new {
            reader.seen.insert(customer.to_string(), now);
            reader.order.push_back((now, customer.to_string()));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_count_distinct_customers_in_a_sliding_window() {
        let mut budgets = DistinctBudgets::default();
        let window = Duration::from_secs(60);
        let at = Timestamp::from_secs;
        assert!(budgets.charge("s", ReadClass::Masked, &["a", "b"], 3, window, at(0)));
        assert!(budgets.charge("s", ReadClass::Masked, &["a", "a", "b"], 3, window, at(1)));
        assert!(budgets.charge("s", ReadClass::Masked, &["c"], 3, window, at(2)));
        assert!(!budgets.charge("s", ReadClass::Masked, &["d"], 3, window, at(3)));
        // Plaintext is a separate budget; another principal too.
        assert!(budgets.charge("s", ReadClass::Plaintext, &["d"], 1, window, at(3)));
        assert!(budgets.charge("t", ReadClass::Masked, &["d"], 3, window, at(3)));
        // All or nothing: a batch that would overflow charges nothing.
        assert!(!budgets.charge("t", ReadClass::Masked, &["e", "f", "g"], 3, window, at(4)));
        assert!(budgets.charge("t", ReadClass::Masked, &["e", "f"], 3, window, at(4)));
        // After the window, a and b expire.
        assert!(budgets.charge("s", ReadClass::Masked, &["d", "e"], 3, window, at(61)));
    }

    #[test]
    fn restored_reads_spend_the_budget_until_they_expire() {
        let mut budgets = DistinctBudgets::default();
        let window = Duration::from_secs(60);
        let at = Timestamp::from_secs;
        budgets.restore("s", ReadClass::Masked, "a", at(0));
        budgets.restore("s", ReadClass::Masked, "b", at(10));
        budgets.restore("s", ReadClass::Masked, "a", at(11));
        assert!(!budgets.charge("s", ReadClass::Masked, &["c", "d"], 3, window, at(20)));
        assert!(budgets.charge("s", ReadClass::Masked, &["a", "c"], 3, window, at(20)));
        // a (read at 0) expires at 60; b still counts.
        assert!(budgets.charge("s", ReadClass::Masked, &["d"], 3, window, at(61)));
        assert!(!budgets.charge("s", ReadClass::Masked, &["e"], 3, window, at(61)));
    }
}
