//! The anonymous check's pace under load: its global budget is a ceiling, and the node lowers
//! the rate it grants while its threads wait for the CPU.
//!
//! One evaluation is a scalar multiplication on ristretto255, about half of what a served
//! check costs the node (≈ 100 of ≈ 200 µs on the machines measured in BENCHMARKS.md); a
//! refused one costs the HTTP exchange only. A fixed budget fits one machine: where the node
//! gets less CPU than the budget assumed (a slower core, a busy neighbour, the crowd's own
//! proxies beside it), every admitted check makes the next request wait, the crowd's requests
//! queue in front of the node and everyone waits seconds. So a probe on the runtime that
//! answers the checks measures how late that runtime wakes a timer: the time a ready task
//! waits for a thread. Above [`LAG_TARGET`] the rate is cut by a fraction (more, the later the
//! probe woke); at half of it the rate climbs back by a step of the ceiling (additive increase, multiplicative decrease, as
//! TCP shares a link). Checks past the current rate get the budget's `429` with
//! `Retry-After` at once, and the node keeps answering everything in milliseconds.
//!
//! [`Pace`] is the rule and does no IO; [`follow_load`] is the probe that feeds it.

use std::time::{Duration, Instant};

/// How often the probe measures.
const TICK: Duration = Duration::from_millis(20);
/// Lateness that means tasks are queueing for the CPU. A timer on an idle runtime wakes within
/// about a millisecond of its deadline (the timer wheel's resolution).
const LAG_TARGET: Duration = Duration::from_millis(4);
/// The share of the rate kept per tick's worth of lateness: a probe woken 20 ms late (two
/// ticks in all) keeps 0.85² of the rate, so a starved runtime, which wakes the probe rarely,
/// is cut as fast per second as a busy one.
const DECREASE: f64 = 0.85;
/// The share of the ceiling added back after a punctual tick: from the floor to the ceiling
/// in a second.
const INCREASE: f64 = 1.0 / 50.0;
/// The lowest rate, as a share of the ceiling: people checking themselves are never shut out
/// entirely, and whoever loads the node's CPU to lower the rate still faces a tenth of the
/// budget.
const FLOOR: f64 = 1.0 / 10.0;

/// The rate the check grants, between a floor and the configured ceiling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Pace {
    ceiling: f64,
    floor: f64,
    rate: f64,
}

impl Pace {
    /// Starts at `ceiling`, the configured budget.
    pub(crate) fn new(ceiling: f64) -> Self {
        Pace {
            ceiling,
            floor: (ceiling * FLOOR).max(1.0).min(ceiling),
            rate: ceiling,
        }
    }

    /// One probe's reading: how late the runtime woke it. The rate to grant from now on.
    pub(crate) fn observe(&mut self, late: Duration) -> f64 {
        if late > LAG_TARGET {
            let ticks = 1.0 + late.as_secs_f64() / TICK.as_secs_f64();
            self.rate = (self.rate * DECREASE.powf(ticks)).max(self.floor);
        } else if late <= LAG_TARGET / 2 {
            self.rate = (self.rate + self.ceiling * INCREASE).min(self.ceiling);
        }
        self.rate
    }
}

/// Measures the lateness of the runtime it runs on for as long as the runtime lives, and gives
/// the rate it would grant to `grant` whenever it changes. Spawned on each runtime that answers
/// checks (the main one, the portal listener's).
pub(crate) async fn follow_load(ceiling: f64, grant: impl Fn(f64, Instant) + Send + 'static) {
    let mut pace = Pace::new(ceiling);
    let mut granted = ceiling;
    loop {
        let asleep = Instant::now();
        tokio::time::sleep(TICK).await;
        let woke = Instant::now();
        let late = woke.duration_since(asleep).saturating_sub(TICK);
        let rate = pace.observe(late);
        if rate != granted {
            grant(rate, woke);
            granted = rate;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Woken one tick late: two ticks' worth of time since it slept.
    const LATE: Duration = Duration::from_millis(20);
    const PUNCTUAL: Duration = Duration::from_micros(300);

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn lateness_cuts_the_rate_by_the_time_it_cost_down_to_the_floor() {
        let mut pace = Pace::new(5_000.0);
        let first = pace.observe(LATE);
        assert!(close(first, 5_000.0 * 0.85 * 0.85), "{first}");
        // Woken three ticks late: cut for four ticks at once.
        let mut later = Pace::new(5_000.0);
        let cut = later.observe(Duration::from_millis(60));
        assert!(close(cut, 5_000.0 * 0.85_f64.powi(4)), "{cut}");
        let mut rate = first;
        for _ in 0..200 {
            rate = pace.observe(LATE);
        }
        assert!(close(rate, 500.0), "{rate}");
    }

    #[test]
    fn punctuality_restores_the_ceiling_step_by_step_and_no_further() {
        let mut pace = Pace::new(5_000.0);
        for _ in 0..200 {
            pace.observe(LATE);
        }
        let step = pace.observe(PUNCTUAL);
        assert!(close(step, 600.0), "{step}");
        let mut rate = step;
        for _ in 0..100 {
            rate = pace.observe(PUNCTUAL);
        }
        assert!(close(rate, 5_000.0), "{rate}");
    }

    #[test]
    fn a_little_lateness_holds_the_rate() {
        let mut pace = Pace::new(5_000.0);
        let cut = pace.observe(LATE);
        let held = pace.observe(Duration::from_millis(3));
        assert!(close(held, cut), "{held}");
    }

    #[test]
    fn a_tiny_budget_keeps_a_floor_of_one_a_second_or_itself() {
        let mut pace = Pace::new(5.0);
        for _ in 0..100 {
            pace.observe(LATE);
        }
        assert!(close(pace.observe(LATE), 1.0));
        let mut tiny = Pace::new(0.5);
        assert!(close(tiny.observe(LATE), 0.5));
    }
}
