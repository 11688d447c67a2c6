//! Refusals of unauthenticated requests, recorded at the rate of work done.
//!
//! Every refused token or failed login is a durable, fsynced audit record. Without a bound,
//! anyone who can reach the port decides how fast the audit volume fills: a garbage
//! `Authorization` header costs the sender nothing and Haechi an fsync share and ~250 bytes
//! forever. [`RefusalGate`] sits in front of the real sink: each source (an IPv4 address or an
//! IPv6 /64) has a budget of refusal records per second; refusals beyond it are counted, not
//! written, and one `request.refusals_summarized` record per source and second carries their
//! count and reasons. The log then grows with the number of sources, not with their rate, and
//! nothing is lost from the record but the per-request repetition — and every source's first
//! refusals each second stay on the record with their address, which the rules count.
//!
//! One kind of refusal is no source's doing: a request refused because a budget shared by every
//! source was spent (`reason: global_budget`, the anonymous exposure check's during a surge).
//! Each comes from whoever arrived past the budget, so its address tells nothing, and a crowd of
//! addresses would write one durable record each. Those are written up to a budget for all
//! sources together ([`RefusalBudget::shared_budget_records_per_second`]) and counted into one
//! overflow summary a second beyond it. Refusals of a source's own doing are never folded into
//! that summary: a flood of them cannot push another source's refusals out of the rules' sight.
//!
//! Everything else passes through untouched: acts by verified principals, reads of personal
//! data, admin acts and containment are never summarised.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;

use crate::{
    Clock, Decision, EventKind, EventReceipt, EventSink, Principal, SecurityEvent, SinkError,
};

/// Sources tracked at once. Past it, refusals from new sources share one overflow entry, so a
/// botnet of many addresses cannot grow this table; they are still summarised.
const MAX_TRACKED_SOURCES: usize = 65_536;

/// Reasons kept per summary; a source cycling through more distinct reasons has the rest
/// counted under `other`.
const MAX_REASONS: usize = 16;

/// The `reason` of a refusal because a budget every source shares was spent (the anonymous
/// exposure check's global budget): no source's own doing, so the gate counts it against all
/// sources together, not against its address.
pub const SHARED_BUDGET_SPENT: &str = "global_budget";

/// The budget of [`RefusalGate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefusalBudget {
    /// Refusal records written per source and second before the rest are summarised.
    pub records_per_source_per_second: u32,
    /// Refusals for a budget every source shares ([`SHARED_BUDGET_SPENT`]) written per second,
    /// all sources together, before the rest are counted into the overflow summary.
    pub shared_budget_records_per_second: u32,
}

impl Default for RefusalBudget {
    fn default() -> Self {
        RefusalBudget {
            records_per_source_per_second: 20,
            shared_budget_records_per_second: 100,
        }
    }
}

/// An [`EventSink`] that writes refusals of unauthenticated requests up to a per-source budget
/// and summarises the rest (see the module docs).
#[derive(Debug)]
pub struct RefusalGate {
    inner: Arc<dyn EventSink>,
    clock: Arc<dyn Clock>,
    budget: RefusalBudget,
    sources: Mutex<Sources>,
}

/// The current second of every source, and how many refusals for a shared budget were
/// written in it.
#[derive(Debug, Default)]
struct Sources {
    windows: HashMap<Source, Window>,
    second: i64,
    shared_budget_written: u32,
}

/// Whom a budget belongs to: an IPv4 address, an IPv6 /64 (one subscriber's allocation), no
/// address at all, or the shared overflow entry (new sources past the table's bound, and
/// refusals for a shared budget past theirs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Address(IpAddr),
    Unknown,
    Overflow,
}

impl Source {
    fn of(ip: Option<IpAddr>) -> Self {
        match ip {
            Some(IpAddr::V6(v6)) => {
                let prefix = u128::from(v6) & (u128::MAX << 64);
                Source::Address(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            Some(v4) => Source::Address(v4),
            None => Source::Unknown,
        }
    }

    fn ip(self) -> Option<IpAddr> {
        match self {
            Source::Address(ip) => Some(ip),
            Source::Unknown | Source::Overflow => None,
        }
    }
}

/// One source's current second.
#[derive(Debug, Default)]
struct Window {
    second: i64,
    recorded: u32,
    suppressed: u64,
    reasons: BTreeMap<String, u64>,
}

impl Window {
    fn summary(&self, source: Source, now: crate::Timestamp) -> Option<SecurityEvent> {
        if self.suppressed == 0 {
            return None;
        }
        let reasons = self
            .reasons
            .iter()
            .map(|(reason, count)| format!("{reason}:{count}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut event =
            SecurityEvent::new(now, EventKind::RefusalsSummarized, Principal::Anonymous)
                .ip(source.ip())
                .outcome(Decision::Deny, 401)
                .reason("over_refusal_budget")
                .detail("suppressed", self.suppressed.to_string())
                .detail("recorded", self.recorded.to_string())
                .detail(
                    "second",
                    crate::Timestamp::from_secs(self.second).to_rfc3339(),
                )
                .detail("reasons", reasons);
        match source {
            Source::Address(IpAddr::V6(_)) => event = event.detail("network", "/64"),
            Source::Overflow => event = event.detail("source", "overflow"),
            _ => {}
        }
        Some(event)
    }
}

impl RefusalGate {
    /// Gates `inner` with `budget`, reading seconds from `clock` (the simulated clock in drills,
    /// so a drill's seconds are the ones counted).
    pub fn new(inner: Arc<dyn EventSink>, clock: Arc<dyn Clock>, budget: RefusalBudget) -> Self {
        RefusalGate {
            inner,
            clock,
            budget,
            sources: Mutex::new(Sources::default()),
        }
    }

    /// Whether `event` is a refusal of a request that proved no identity.
    fn is_unauthenticated_refusal(event: &SecurityEvent) -> bool {
        match event.kind {
            EventKind::TokenRejected | EventKind::TokenForged | EventKind::LoginFailed => true,
            _ => event.decision == Decision::Deny && event.principal == Principal::Anonymous,
        }
    }

    /// Whether `event` refused a request because a budget every source shares was spent: no
    /// source's own doing, so its address tells the rules nothing.
    fn for_a_shared_budget(event: &SecurityEvent) -> bool {
        event.reason.as_deref() == Some(SHARED_BUDGET_SPENT)
    }

    /// Writes the summaries of every second that has ended and forgets those sources. Call
    /// about once a second; [`record`](EventSink::record) also flushes a source's previous
    /// second when the source is heard from again.
    pub async fn flush(&self) -> Result<(), SinkError> {
        let now = self.clock.now();
        let current = now.as_secs();
        let summaries: Vec<SecurityEvent> = {
            let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
            let mut summaries = Vec::new();
            sources.windows.retain(|source, window| {
                if window.second >= current {
                    return true;
                }
                summaries.extend(window.summary(*source, now));
                false
            });
            summaries
        };
        for summary in summaries {
            self.inner.record(summary).await?;
        }
        Ok(())
    }

    /// Counts `event` against its source, or against all sources when it refused a request for
    /// a shared budget. The summaries of previous seconds this closes (none, usually), and
    /// whether to write `event` itself.
    fn admit(&self, event: &SecurityEvent) -> (Vec<SecurityEvent>, bool) {
        let now = self.clock.now();
        let second = now.as_secs();
        let mut sources = self.sources.lock().unwrap_or_else(PoisonError::into_inner);
        if Self::for_a_shared_budget(event) {
            if sources.second != second {
                sources.second = second;
                sources.shared_budget_written = 0;
            }
            if sources.shared_budget_written < self.budget.shared_budget_records_per_second {
                sources.shared_budget_written += 1;
                return (Vec::new(), true);
            }
            // No window of its own for the address: a crowd of them must not fill the table
            // that every other source's budget lives in.
            let overflow = sources.windows.entry(Source::Overflow).or_default();
            let previous = overflow.roll(Source::Overflow, second, now);
            overflow.count(event);
            return (previous.into_iter().collect(), false);
        }
        let mut source = Source::of(event.ip);
        if !sources.windows.contains_key(&source) && sources.windows.len() >= MAX_TRACKED_SOURCES {
            source = Source::Overflow;
        }
        let window = sources.windows.entry(source).or_default();
        let previous = window.roll(source, second, now);
        if window.recorded < self.budget.records_per_source_per_second {
            window.recorded += 1;
            return (previous.into_iter().collect(), true);
        }
        window.count(event);
        (previous.into_iter().collect(), false)
    }
}

impl Window {
    /// Starts `second` if this window is older; the summary of the second it held, if any.
    fn roll(
        &mut self,
        source: Source,
        second: i64,
        now: crate::Timestamp,
    ) -> Option<SecurityEvent> {
        if self.second == second {
            return None;
        }
        let previous = self.summary(source, now);
        *self = Window {
            second,
            ..Window::default()
        };
        previous
    }

    /// Counts a refusal that is not written on its own.
    fn count(&mut self, event: &SecurityEvent) {
        self.suppressed += 1;
        let reason = event
            .reason
            .clone()
            .unwrap_or_else(|| event.kind.as_str().to_string());
        if self.reasons.contains_key(&reason) || self.reasons.len() < MAX_REASONS {
            *self.reasons.entry(reason).or_default() += 1;
        } else {
            *self.reasons.entry("other".into()).or_default() += 1;
        }
    }
}

#[async_trait]
impl EventSink for RefusalGate {
    async fn record(&self, event: SecurityEvent) -> Result<EventReceipt, SinkError> {
        if !Self::is_unauthenticated_refusal(&event) {
            return self.inner.record(event).await;
        }
        let (previous, write) = self.admit(&event);
        for summary in previous {
            self.inner.record(summary).await?;
        }
        if write {
            self.inner.record(event).await
        } else {
            // Counted in the summary written when this second ends; the request it refused is
            // answered now, with nothing disclosed, so nothing waits on durability.
            Ok(EventReceipt { seq: None })
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use std::time::Duration;

    use super::*;
    use crate::{MemorySink, SimulatedClock, Timestamp};

    fn refusal(ip: &str, reason: &str) -> SecurityEvent {
        SecurityEvent::new(
            Timestamp::EPOCH,
            EventKind::TokenRejected,
            Principal::Anonymous,
        )
        .ip(Some(ip.parse().unwrap()))
        .outcome(Decision::Deny, 401)
        .reason(reason)
    }

    fn gate(budget: u32) -> (RefusalGate, Arc<MemorySink>, Arc<SimulatedClock>) {
        gate_with(RefusalBudget {
            records_per_source_per_second: budget,
            ..RefusalBudget::default()
        })
    }

    fn gate_with(budget: RefusalBudget) -> (RefusalGate, Arc<MemorySink>, Arc<SimulatedClock>) {
        let sink = Arc::new(MemorySink::default());
        let clock = Arc::new(SimulatedClock::new(Timestamp::from_secs(1_750_000_000)));
        let gate = RefusalGate::new(sink.clone(), clock.clone(), budget);
        (gate, sink, clock)
    }

    #[tokio::test]
    async fn a_flood_from_one_source_becomes_one_summary_per_second() {
        let (gate, sink, clock) = gate(3);
        for n in 0..1000 {
            let reason = if n % 2 == 0 {
                "bad_signature"
            } else {
                "malformed"
            };
            gate.record(refusal("203.0.113.7", reason)).await.unwrap();
        }
        clock.advance_by(Duration::from_secs(1));
        gate.flush().await.unwrap();
        let events = sink.events();
        assert_eq!(events.len(), 4, "3 records and one summary");
        let summary = &events[3];
        assert_eq!(summary.kind, EventKind::RefusalsSummarized);
        assert_eq!(summary.detail["suppressed"], "997");
        assert_eq!(summary.detail["reasons"], "bad_signature:498,malformed:499");
        assert_eq!(summary.ip, Some("203.0.113.7".parse().unwrap()));
    }

    #[tokio::test]
    async fn each_source_has_its_own_budget_and_ipv6_is_counted_per_64() {
        let (gate, sink, _clock) = gate(2);
        for _ in 0..5 {
            gate.record(refusal("203.0.113.7", "missing"))
                .await
                .unwrap();
            gate.record(refusal("198.51.100.1", "missing"))
                .await
                .unwrap();
        }
        gate.record(refusal("2001:db8::1", "missing"))
            .await
            .unwrap();
        gate.record(refusal("2001:db8::2", "missing"))
            .await
            .unwrap();
        gate.record(refusal("2001:db8::3", "missing"))
            .await
            .unwrap();
        assert_eq!(sink.events().len(), 6);
    }

    #[tokio::test]
    async fn a_new_second_writes_the_last_summary_and_refills_the_budget() {
        let (gate, sink, clock) = gate(1);
        gate.record(refusal("203.0.113.7", "missing"))
            .await
            .unwrap();
        gate.record(refusal("203.0.113.7", "missing"))
            .await
            .unwrap();
        clock.advance_by(Duration::from_secs(1));
        gate.record(refusal("203.0.113.7", "missing"))
            .await
            .unwrap();
        let kinds: Vec<EventKind> = sink.events().iter().map(|event| event.kind).collect();
        assert_eq!(
            kinds,
            [
                EventKind::TokenRejected,
                EventKind::RefusalsSummarized,
                EventKind::TokenRejected
            ]
        );
    }

    /// A refused exposure check: its source's own budget, or the one all sources share.
    fn check_refusal(ip: &str, reason: &str) -> SecurityEvent {
        SecurityEvent::new(
            Timestamp::EPOCH,
            EventKind::ExposureCheckRefused,
            Principal::Anonymous,
        )
        .ip(Some(ip.parse().unwrap()))
        .outcome(Decision::Deny, 429)
        .reason(reason)
    }

    fn crowd_address(n: u32) -> String {
        std::net::Ipv4Addr::from(0x0a00_0000 + n).to_string()
    }

    #[tokio::test]
    async fn refusals_for_a_shared_budget_are_written_no_faster_than_their_own_budget() {
        let (gate, sink, clock) = gate_with(RefusalBudget {
            records_per_source_per_second: 20,
            shared_budget_records_per_second: 100,
        });
        // A surge: 10,000 addresses, each refused once because the check's global budget is
        // spent. Every one is within its own budget; together they are not.
        for n in 0..10_000 {
            gate.record(check_refusal(&crowd_address(n), "global_budget"))
                .await
                .unwrap();
        }
        assert_eq!(sink.events().len(), 100);
        clock.advance_by(Duration::from_secs(1));
        gate.flush().await.unwrap();
        let events = sink.events();
        assert_eq!(events.len(), 101, "100 records and the overflow's summary");
        let summary = &events[100];
        assert_eq!(summary.kind, EventKind::RefusalsSummarized);
        assert_eq!(summary.detail["source"], "overflow");
        assert_eq!(summary.detail["suppressed"], "9900");
        assert_eq!(summary.detail["reasons"], "global_budget:9900");
        assert_eq!(summary.ip, None);

        // The next second has a budget of its own.
        gate.record(check_refusal("192.0.2.1", "global_budget"))
            .await
            .unwrap();
        assert_eq!(sink.events().len(), 102);
    }

    #[tokio::test]
    async fn no_surge_pushes_a_sources_own_refusals_out_of_the_record() {
        let (gate, sink, clock) = gate_with(RefusalBudget {
            records_per_source_per_second: 3,
            shared_budget_records_per_second: 10,
        });
        // 100,000 addresses refused for the shared budget: more than the table of sources
        // holds, none of them in it.
        for n in 0..100_000 {
            gate.record(check_refusal(&crowd_address(n), "global_budget"))
                .await
                .unwrap();
        }
        assert_eq!(sink.events().len(), 10);
        // Then what the rules count per address: an enumerator past its own budget, garbage
        // tokens, failed logins. Each address keeps its own records.
        for _ in 0..5 {
            gate.record(check_refusal("198.51.100.7", "source_budget"))
                .await
                .unwrap();
            gate.record(refusal("203.0.113.9", "bad_signature"))
                .await
                .unwrap();
        }
        let own = |ip: &str| {
            sink.events()
                .iter()
                .filter(|event| event.ip == Some(ip.parse().unwrap()))
                .count()
        };
        assert_eq!(own("198.51.100.7"), 3);
        assert_eq!(own("203.0.113.9"), 3);
        clock.advance_by(Duration::from_secs(1));
        gate.flush().await.unwrap();
        let summaries: Vec<SecurityEvent> = sink
            .events()
            .into_iter()
            .filter(|event| event.kind == EventKind::RefusalsSummarized)
            .collect();
        assert_eq!(summaries.len(), 3, "{summaries:?}");
        let of = |ip: &str| {
            summaries
                .iter()
                .find(|summary| summary.ip == Some(ip.parse().unwrap()))
                .map(|summary| summary.detail["suppressed"].clone())
        };
        assert_eq!(of("198.51.100.7").as_deref(), Some("2"));
        assert_eq!(of("203.0.113.9").as_deref(), Some("2"));
    }

    #[tokio::test]
    async fn verified_acts_are_never_summarised() {
        let (gate, sink, _clock) = gate(1);
        for _ in 0..10 {
            let read = SecurityEvent::new(
                Timestamp::EPOCH,
                EventKind::PiiRead,
                Principal::Service("shipping".into()),
            )
            .ip(Some("203.0.113.7".parse().unwrap()))
            .outcome(Decision::Deny, 403);
            gate.record(read).await.unwrap();
        }
        assert_eq!(sink.events().len(), 10);
    }
}
