//! Where the lookup-miss limit is counted: blind-index lookups that found nobody, per
//! principal and minute, and the ten-minute statistics the lookup rules read
//! (`detail.window_lookups`, `detail.window_miss_pct` on every `pii.lookup`).
//!
//! One node counts in its memory ([`MemoryLookupLimits`], the embedded default: as before,
//! lookups checked at the same moment may pass together, since a miss is known only after the
//! lookup). The nodes of a cluster must count in one place, or an enumerator spreading its
//! lookups over N nodes gets N times the misses: a cluster's store implements
//! [`LookupLimits`] over its database — there an admitted lookup *reserves* a miss until it
//! is settled, so concurrent lookups on any number of nodes cannot pass the limit together —
//! and the vault is handed that one ([`crate::VaultParts::lookup_limits`]). Every method is a
//! decision the lookup waits on, so limits that cannot answer fail the lookup
//! (`Error::Store`, a 503) rather than let it through.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use parking_lot::Mutex;

/// The window of the misses-per-minute limit.
pub const LOOKUP_MISS_WINDOW: Duration = Duration::from_secs(60);

/// Window over which a principal's lookups and misses are reported to detection.
pub const LOOKUP_STATS_WINDOW: Duration = Duration::from_secs(600);

/// Seconds per bucket of lookup statistics (60 buckets over the ten-minute window).
pub const LOOKUP_BUCKET_SECS: i64 = 10;

/// What a lookup found, for the statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupResult {
    /// At least one customer.
    Hit,
    /// Nobody.
    Miss,
}

/// A principal's lookups over [`LOOKUP_STATS_WINDOW`], this one included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LookupStats {
    /// Lookups.
    pub lookups: u32,
    /// Of which found nobody.
    pub misses: u32,
}

impl LookupStats {
    /// Misses as a whole percentage of lookups.
    pub fn miss_percent(&self) -> u32 {
        if self.lookups == 0 {
            0
        } else {
            u32::try_from(u64::from(self.misses) * 100 / u64::from(self.lookups)).unwrap_or(100)
        }
    }
}

/// Whether a principal may make a blind-index lookup now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupAdmission {
    /// Under its misses per minute: the lookup may go on, and must be settled
    /// ([`LookupLimits::settle`]) or abandoned ([`LookupLimits::abandon`]).
    Admitted,
    /// At its misses per minute: refused for this many seconds (at least 1).
    Limited {
        /// Seconds until its oldest miss that holds the limit is a minute old.
        retry_after_secs: u64,
    },
}

/// The lookup-miss limit's counts and the lookup statistics, per principal.
#[async_trait]
pub trait LookupLimits: Send + Sync + std::fmt::Debug {
    /// Whether `principal` may look up at `now`, with at most `limit` misses a minute (`0`
    /// turns lookups off). An implementation shared by several nodes counts the admitted
    /// lookup as a miss until it is settled, so that lookups admitted together cannot
    /// overrun the limit together.
    async fn admit(
        &self,
        principal: &str,
        limit: u32,
        now: Timestamp,
    ) -> Result<LookupAdmission, StoreError>;

    /// Records what the lookup admitted at `admitted_at` found, and returns the principal's
    /// lookups and misses over [`LOOKUP_STATS_WINDOW`], this one included.
    async fn settle(
        &self,
        principal: &str,
        admitted_at: Timestamp,
        result: LookupResult,
        limit: u32,
        now: Timestamp,
    ) -> Result<LookupStats, StoreError>;

    /// Forgets the lookup admitted at `admitted_at`, which was not made (bad input, or it
    /// failed): it is neither a miss nor counted in the statistics.
    async fn abandon(&self, principal: &str, admitted_at: Timestamp) -> Result<(), StoreError>;
}

/// The embedded limits: this process's memory, exact for one node's sequential lookups,
/// forgotten at restart. Never fails.
#[derive(Debug, Default)]
pub struct MemoryLookupLimits {
    limiter: Mutex<LookupLimiter>,
}

#[async_trait]
impl LookupLimits for MemoryLookupLimits {
    async fn admit(
        &self,
        principal: &str,
        limit: u32,
        now: Timestamp,
    ) -> Result<LookupAdmission, StoreError> {
        Ok(match self.limiter.lock().check(principal, limit, now) {
            Ok(()) => LookupAdmission::Admitted,
            Err(retry_after_secs) => LookupAdmission::Limited { retry_after_secs },
        })
    }

    async fn settle(
        &self,
        principal: &str,
        _admitted_at: Timestamp,
        result: LookupResult,
        limit: u32,
        now: Timestamp,
    ) -> Result<LookupStats, StoreError> {
        Ok(self.limiter.lock().record(principal, result, limit, now))
    }

    async fn abandon(&self, _principal: &str, _admitted_at: Timestamp) -> Result<(), StoreError> {
        // Memory reserves nothing at admission.
        Ok(())
    }
}

/// Blind-index lookups per principal: misses in the last minute (the rate limit) and counts
/// of lookups and misses per ten seconds over ten minutes (what the lookup rules read).
/// Memory per principal: at most `limit` miss times and sixty buckets.
#[derive(Debug, Default)]
struct LookupLimiter {
    principals: HashMap<String, LookupHistory>,
}

#[derive(Debug, Default)]
struct LookupHistory {
    misses: VecDeque<Timestamp>,
    /// `(bucket, lookups, misses)`, oldest first.
    buckets: VecDeque<(i64, u32, u32)>,
}

impl LookupLimiter {
    /// Whether `principal` may look up now: `Err(seconds to wait)` when it already had
    /// `limit` misses in the last minute.
    fn check(&mut self, principal: &str, limit: u32, now: Timestamp) -> Result<(), u64> {
        let Some(history) = self.principals.get_mut(principal) else {
            return if limit == 0 { Err(60) } else { Ok(()) };
        };
        let start = now.minus(LOOKUP_MISS_WINDOW);
        while history.misses.front().is_some_and(|time| *time <= start) {
            history.misses.pop_front();
        }
        if history.misses.len() >= limit as usize {
            let wait = history
                .misses
                .front()
                .map(|oldest| oldest.plus(LOOKUP_MISS_WINDOW).since(now).as_secs())
                .unwrap_or(60);
            return Err(wait.max(1));
        }
        Ok(())
    }

    /// Records a lookup and returns the principal's statistics including it.
    fn record(
        &mut self,
        principal: &str,
        result: LookupResult,
        limit: u32,
        now: Timestamp,
    ) -> LookupStats {
        let history = self.principals.entry(principal.to_string()).or_default();
        if result == LookupResult::Miss {
            history.misses.push_back(now);
            // Concurrent lookups may pass the check together; the list stays bounded.
            while history.misses.len() > limit.max(1) as usize {
                history.misses.pop_front();
            }
        }
        let bucket = now.as_secs().div_euclid(LOOKUP_BUCKET_SECS);
        let oldest = bucket - LOOKUP_STATS_WINDOW.as_secs() as i64 / LOOKUP_BUCKET_SECS;
        while history
            .buckets
            .front()
            .is_some_and(|(start, _, _)| *start <= oldest)
        {
            history.buckets.pop_front();
        }
        let miss = u32::from(result == LookupResult::Miss);
        match history.buckets.back_mut() {
            Some((last, lookups, misses)) if *last >= bucket => {
                *lookups = lookups.saturating_add(1);
                *misses = misses.saturating_add(miss);
            }
            _ => history.buckets.push_back((bucket, 1, miss)),
        }
        history.buckets.iter().fold(
            LookupStats {
                lookups: 0,
                misses: 0,
            },
            |stats, (_, l, m)| LookupStats {
                lookups: stats.lookups.saturating_add(*l),
                misses: stats.misses.saturating_add(*m),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_misses_are_limited_per_minute_and_counted_over_ten() {
        let mut limiter = LookupLimiter::default();
        let at = Timestamp::from_secs;
        for second in 0..3 {
            assert_eq!(limiter.check("s", 3, at(second)), Ok(()));
            limiter.record("s", LookupResult::Miss, 3, at(second));
        }
        assert_eq!(limiter.check("s", 3, at(30)), Err(30));
        assert_eq!(limiter.check("t", 3, at(30)), Ok(()), "per principal");
        // Hits do not count against the limit but do count in the statistics.
        let stats = limiter.record("s", LookupResult::Hit, 3, at(30));
        assert_eq!(
            stats,
            LookupStats {
                lookups: 4,
                misses: 3
            }
        );
        assert_eq!(stats.miss_percent(), 75);
        assert_eq!(limiter.check("s", 3, at(60)), Ok(()));
        // Ten minutes later the statistics have forgotten them.
        let stats = limiter.record("s", LookupResult::Miss, 3, at(700));
        assert_eq!(
            stats,
            LookupStats {
                lookups: 1,
                misses: 1
            }
        );
        assert_eq!(limiter.check("u", 0, at(700)), Err(60));
    }
}
