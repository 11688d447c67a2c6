//! Token buckets per source address for anonymous routes (the exposure checks): IPv4
//! addresses one by one, IPv6 by /64 (the block one subscriber gets), sharded so concurrent
//! requests rarely share a lock, and bounded — past the tracked sources, idle ones (whose
//! bucket has refilled: they lose nothing by it) are forgotten.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Shards of the table.
const SHARDS: usize = 16;

/// A per-source token bucket: `rate` requests a second sustained, `burst` at once.
#[derive(Debug)]
pub(crate) struct SourceLimiter {
    rate: f64,
    burst: f64,
    tracked: usize,
    shards: Vec<Mutex<HashMap<IpAddr, Bucket>>>,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    /// Refills to `now`, then takes a token or says how many whole seconds until one is there.
    fn take(&mut self, now: Instant, rate: f64, burst: f64) -> Result<(), u64> {
        let refill = now.duration_since(self.updated).as_secs_f64() * rate;
        self.tokens = (self.tokens + refill).min(burst);
        self.updated = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / rate;
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "a positive wait of a few seconds"
            )]
            Err(wait.ceil().max(1.0) as u64)
        }
    }
}

impl SourceLimiter {
    /// Buckets of `burst` tokens refilled at `rate` a second, for at most `tracked` sources.
    pub(crate) fn new(rate: f64, burst: f64, tracked: usize) -> Self {
        SourceLimiter {
            rate,
            burst,
            tracked,
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    /// Takes one token from the source's bucket, or says how long until one is there. A
    /// request without a known source is not limited here.
    pub(crate) fn admit(&self, source: Option<IpAddr>, now: Instant) -> Result<(), u64> {
        let Some(source) = source.map(rate_key) else {
            return Ok(());
        };
        let mut buckets = self.shards[shard_of(&source)]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= self.tracked / SHARDS && !buckets.contains_key(&source) {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * rate < burst
            });
        }
        buckets
            .entry(source)
            .or_insert(Bucket {
                tokens: self.burst,
                updated: now,
            })
            .take(now, self.rate, self.burst)
    }

    /// Gives back the token [`SourceLimiter::admit`] took, when the request was refused for
    /// another budget: a person retrying during a surge should not also run out of their own.
    pub(crate) fn refund(&self, source: Option<IpAddr>) {
        let Some(source) = source.map(rate_key) else {
            return;
        };
        let mut buckets = self.shards[shard_of(&source)]
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(bucket) = buckets.get_mut(&source) {
            bucket.tokens = (bucket.tokens + 1.0).min(self.burst);
        }
    }
}

/// One token bucket shared by every source: a global budget.
#[derive(Debug)]
pub(crate) struct GlobalLimiter {
    /// The bucket's size in seconds of its rate, kept when the rate changes.
    burst_seconds: f64,
    bucket: Mutex<PacedBucket>,
}

/// A bucket and the rate it refills at, which [`GlobalLimiter::set_rate`] may change.
#[derive(Debug)]
struct PacedBucket {
    bucket: Bucket,
    rate: f64,
}

impl GlobalLimiter {
    /// A bucket of `burst` tokens refilled at `rate` a second.
    pub(crate) fn new(rate: f64, burst: f64) -> Self {
        GlobalLimiter {
            burst_seconds: burst / rate,
            bucket: Mutex::new(PacedBucket {
                bucket: Bucket {
                    tokens: burst,
                    updated: Instant::now(),
                },
                rate,
            }),
        }
    }

    /// Takes one token, or says how long until one is there.
    pub(crate) fn admit(&self, now: Instant) -> Result<(), u64> {
        let mut paced = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let rate = paced.rate;
        paced.bucket.take(now, rate, rate * self.burst_seconds)
    }

    /// Refills at `rate` a second from now on; the bucket's size follows, so tokens saved at
    /// a higher rate do not outlast it.
    pub(crate) fn set_rate(&self, rate: f64, now: Instant) {
        let mut paced = self
            .bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let old = paced.rate;
        // Refill at the old rate up to now, so the change applies from now only.
        let refill = now.duration_since(paced.bucket.updated).as_secs_f64() * old;
        paced.bucket.tokens = (paced.bucket.tokens + refill).min(rate * self.burst_seconds);
        paced.bucket.updated = now;
        paced.rate = rate;
    }
}

/// IPv4 addresses are limited one by one; IPv6 by /64, the block one subscriber gets.
pub(crate) fn rate_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let mut octets = v6.octets();
            octets[8..].fill(0);
            IpAddr::V6(octets.into())
        }
    }
}

fn shard_of(ip: &IpAddr) -> usize {
    let last = match ip {
        IpAddr::V4(v4) => v4.octets()[3],
        IpAddr::V6(v6) => v6.octets()[7],
    };
    usize::from(last) % SHARDS
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn buckets_refill_at_the_sustained_rate() {
        let limiter = SourceLimiter::new(20.0, 100.0, 1000);
        let source = Some(IpAddr::from([203, 0, 113, 7]));
        let start = Instant::now();
        for _ in 0..100 {
            assert!(limiter.admit(source, start).is_ok());
        }
        assert_eq!(limiter.admit(source, start), Err(1));
        let later = start + Duration::from_millis(100);
        assert!(limiter.admit(source, later).is_ok());
        // Another address has its own bucket.
        assert!(
            limiter
                .admit(Some(IpAddr::from([203, 0, 113, 8])), start)
                .is_ok()
        );
    }

    #[test]
    fn ipv6_sources_share_their_64() {
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(rate_key(a), rate_key(b));
    }

    #[test]
    fn the_global_budget_is_shared() {
        let limiter = GlobalLimiter::new(1.0, 2.0);
        let now = Instant::now();
        assert!(limiter.admit(now).is_ok());
        assert!(limiter.admit(now).is_ok());
        assert_eq!(limiter.admit(now), Err(1));
    }

    #[test]
    fn a_refunded_token_is_the_sources_again_up_to_the_burst() {
        let limiter = SourceLimiter::new(1.0, 2.0, 1000);
        let source = Some(IpAddr::from([203, 0, 113, 7]));
        let now = Instant::now();
        assert!(limiter.admit(source, now).is_ok());
        assert!(limiter.admit(source, now).is_ok());
        assert!(limiter.admit(source, now).is_err());
        limiter.refund(source);
        assert!(limiter.admit(source, now).is_ok());
        // Never beyond the burst.
        limiter.refund(source);
        limiter.refund(source);
        limiter.refund(source);
        assert!(limiter.admit(source, now).is_ok());
        assert!(limiter.admit(source, now).is_ok());
        assert!(limiter.admit(source, now).is_err());
    }

    #[test]
    fn a_lower_rate_shrinks_the_bucket_and_refills_slower() {
        let limiter = GlobalLimiter::new(100.0, 100.0);
        let start = Instant::now();
        limiter.set_rate(10.0, start);
        // The bucket holds one second of the new rate, not of the old one.
        let admitted = (0..100).filter(|_| limiter.admit(start).is_ok()).count();
        assert_eq!(admitted, 10);
        let later = start + Duration::from_millis(500);
        let admitted = (0..100).filter(|_| limiter.admit(later).is_ok()).count();
        assert_eq!(admitted, 5);
        // Raised again, it refills at the new rate from the moment of the change.
        limiter.set_rate(100.0, later);
        let after = later + Duration::from_millis(500);
        let admitted = (0..1000).filter(|_| limiter.admit(after).is_ok()).count();
        assert_eq!(admitted, 50);
    }
}
