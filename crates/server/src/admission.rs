//! Admission in front of the portal's signed-in view: a surge is served at the rate the node
//! can sustain, queued briefly beyond it, and beyond the queue answered at once — 503 with
//! `Retry-After` (a page that retries by itself, for a browser) — never left to hang or time
//! out. The rest of the node (operators' API, detection, the check's own budget) keeps its
//! share of the cores because this lane cannot take more than its rate.
//!
//! The rate is a generic cell rate (GCRA, the token bucket written as one instant): each
//! admission moves the "next free" instant by one interval; a request may run when that instant
//! is within the burst of now, may wait for it when its wait is short enough and a queue slot is
//! free, and is shed otherwise. No timer runs between requests, no list of waiters is kept: a
//! waiting request knows its own turn and sleeps until it.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// The lane's settings (`[portal]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdmissionSettings {
    /// Requests a second admitted, sustained.
    pub per_second: f64,
    /// Requests admitted at once beyond the rate.
    pub burst: u32,
    /// Requests that may wait for their turn; beyond them, shed at once.
    pub queue: u32,
    /// The longest a request waits for its turn; one whose turn is further away is shed.
    pub max_wait: Duration,
    /// What a shed answer's `Retry-After` says, in seconds.
    pub retry_after_secs: u64,
}

impl Default for AdmissionSettings {
    /// 200 signed-in views a second: each is a login check, a store read and a page, a few
    /// milliseconds of a core; 2 cores keep most of their time for everything else. A turn
    /// at most 100 ms away is waited for, so an admitted view stays well under the portal's
    /// 200 ms p99 target; the surge benchmark's first run, with 2 s, admitted views after
    /// 1.9 s.
    fn default() -> Self {
        AdmissionSettings {
            per_second: 200.0,
            burst: 50,
            queue: 400,
            max_wait: Duration::from_millis(100),
            retry_after_secs: 5,
        }
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shed {
    /// Every queue slot is taken.
    QueueFull,
    /// Its turn is further away than the longest wait.
    TooLong,
}

/// One lane's admission.
#[derive(Debug)]
pub struct Admission {
    settings: AdmissionSettings,
    interval: Duration,
    /// The instant the next request may start without waiting, less the burst tolerance.
    next_free: Mutex<Instant>,
    queue: Arc<Semaphore>,
}

impl Admission {
    /// A lane admitting at `settings`' rate.
    pub fn new(settings: AdmissionSettings) -> Self {
        let per_second = if settings.per_second.is_finite() && settings.per_second > 0.0 {
            settings.per_second
        } else {
            1.0
        };
        Admission {
            settings,
            interval: Duration::from_secs_f64(1.0 / per_second),
            next_free: Mutex::new(Instant::now()),
            queue: Arc::new(Semaphore::new(settings.queue as usize)),
        }
    }

    /// The seconds a shed answer tells the client to wait.
    pub fn retry_after_secs(&self) -> u64 {
        self.settings.retry_after_secs
    }

    /// Waits for the request's turn (at most the longest wait, holding a queue slot) or sheds
    /// it at once. Counted in `haechi_portal_admissions_total{outcome}` (`admitted`, `waited`,
    /// `shed_queue_full`, `shed_too_long`).
    pub async fn admit(&self) -> Result<(), Shed> {
        let outcome = self.decide().await;
        let label = match outcome {
            Ok(false) => "admitted",
            Ok(true) => "waited",
            Err(Shed::QueueFull) => "shed_queue_full",
            Err(Shed::TooLong) => "shed_too_long",
        };
        metrics::counter!("haechi_portal_admissions_total", "outcome" => label).increment(1);
        outcome.map(|_| ())
    }

    /// The request's turn: `Ok(true)` when it waited for it.
    async fn decide(&self) -> Result<bool, Shed> {
        let tolerance = self.interval * self.settings.burst;
        let wait = {
            let now = Instant::now();
            let mut next_free = self.next_free.lock();
            let start = (*next_free).max(now);
            let earliest = start.checked_sub(tolerance).unwrap_or(now);
            let wait = earliest.saturating_duration_since(now);
            if wait > self.settings.max_wait {
                return Err(Shed::TooLong);
            }
            if wait.is_zero() {
                *next_free = start + self.interval;
                return Ok(false);
            }
            // Its turn is reserved only if it can wait for it.
            let Ok(slot) = self.queue.clone().try_acquire_owned() else {
                return Err(Shed::QueueFull);
            };
            *next_free = start + self.interval;
            (wait, slot)
        };
        let (wait, _slot) = wait;
        tokio::time::sleep(wait).await;
        Ok(true)
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    fn lane(queue: u32) -> Arc<Admission> {
        Arc::new(Admission::new(AdmissionSettings {
            per_second: 10.0,
            burst: 5,
            queue,
            max_wait: Duration::from_secs(1),
            retry_after_secs: 3,
        }))
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_requests_wait_their_turn_then_are_shed() {
        let lane = lane(100);
        let started = Instant::now();
        // The burst (5) and the first interval's own turn pass at once.
        for _ in 0..6 {
            assert_eq!(lane.admit().await, Ok(()));
        }
        assert_eq!(started.elapsed(), Duration::ZERO);
        // The next wait 100 ms each: their turns, one interval apart.
        let mut waiting = Vec::new();
        for _ in 0..10 {
            let lane = lane.clone();
            waiting.push(tokio::spawn(async move {
                lane.admit().await.map(|()| Instant::now())
            }));
        }
        // Let every waiter take its turn before asking once more.
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        // The next turn is past the longest wait (1 s): shed at once, no wait.
        let before = Instant::now();
        assert_eq!(lane.admit().await, Err(Shed::TooLong));
        assert_eq!(before.elapsed(), Duration::ZERO);
        let mut times = Vec::new();
        for task in waiting {
            times.push(task.await.unwrap().unwrap() - started);
        }
        times.sort();
        assert_eq!(times.first(), Some(&Duration::from_millis(100)));
        assert_eq!(times.last(), Some(&Duration::from_millis(1000)));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_queue_sheds_at_once() {
        let lane = lane(2);
        for _ in 0..6 {
            lane.admit().await.unwrap();
        }
        let first = tokio::spawn({
            let lane = lane.clone();
            async move { lane.admit().await }
        });
        let second = tokio::spawn({
            let lane = lane.clone();
            async move { lane.admit().await }
        });
        tokio::task::yield_now().await;
        assert_eq!(lane.admit().await, Err(Shed::QueueFull));
        assert_eq!(first.await.unwrap(), Ok(()));
        assert_eq!(second.await.unwrap(), Ok(()));
        // The slots are free again, and the rate has recovered.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(lane.admit().await, Ok(()));
    }
}
