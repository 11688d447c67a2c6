//! Where notices are handed over: one file per kind of sink, each behind [`Sink`].
//!
//! A sink answers whether the message was accepted, refused for good (the gateway says the
//! number is invalid: retrying cannot help) or not delivered this time (a timeout, a 5xx, a
//! 429: retry later). Every message carries its notice id as an idempotency key
//! (`Idempotency-Key`, the e-mail's `Message-ID`, the file line's `notice_id`): a worker that
//! died after the hand-over but before recording it makes the retry a duplicate the receiver
//! can drop.

mod jsonl;
mod smtp;
mod webhook;

use std::time::Duration;

use async_trait::async_trait;
use haechi_notice::{Channel, NoticeCode, NoticeId};
use tokio::sync::Mutex;
use tokio::time::Instant;
use zeroize::Zeroizing;

pub use jsonl::JsonlSink;
pub use smtp::{SmtpSecurity, SmtpSettings, SmtpSink};
pub use webhook::{WebhookSettings, WebhookSink};

/// A notice ready to leave: rendered, sealed, with its recipient decrypted for this send only.
#[derive(Debug)]
pub struct Outgoing {
    /// The notice.
    pub notice_id: NoticeId,
    /// How it goes.
    pub channel: Channel,
    /// The phone number's digits or the e-mail address; wiped when dropped.
    pub recipient: Zeroizing<String>,
    /// The e-mail's subject.
    pub subject: Option<String>,
    /// The text (SMS, LMS, or the e-mail's plain part).
    pub text: String,
    /// The e-mail's HTML part.
    pub html: Option<String>,
    /// Its code.
    pub code: NoticeCode,
}

/// Why a sink did not take a notice.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Not this time: try again later.
    #[error("{0}")]
    Retry(String),
    /// Never: retrying cannot help.
    #[error("{0}")]
    Permanent(String),
}

/// A place notices are handed to.
#[async_trait]
pub trait Sink: Send + Sync + std::fmt::Debug {
    /// Its name in records and metrics (`webhook`, `smtp`, `file`).
    fn name(&self) -> &'static str;

    /// Hands `message` over.
    async fn deliver(&self, message: &Outgoing) -> Result<(), Refusal>;

    /// Makes what was handed over since the last call durable (a file's fsync); a sink that
    /// does not buffer has nothing to do. Called once per round, before any notice of the
    /// round counts as sent.
    async fn settle(&self) -> Result<(), Refusal> {
        Ok(())
    }
}

/// A sink's rate: hand-overs are spaced evenly, at most `per_second`, however many workers
/// share it — the gateway's contract, and a slower pace than its own limits avoids 429s.
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    /// At most `per_second` hand-overs a second (at least one).
    pub fn new(per_second: u32) -> Pace {
        Pace {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    /// The hand-overs a second it allows.
    pub fn per_second(&self) -> f64 {
        1.0 / self.interval.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Waits for this hand-over's turn.
    pub async fn turn(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let at = (*next).max(Instant::now());
            *next = at + self.interval;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

/// Which sink each channel goes to, each with its pace.
#[derive(Debug, Default)]
pub struct Routes {
    routes: Vec<(Channel, std::sync::Arc<dyn Sink>, std::sync::Arc<Pace>)>,
}

impl Routes {
    /// Sends `channel` to `sink` at `pace` (shared by every channel routed with it).
    pub fn route(
        mut self,
        channel: Channel,
        sink: std::sync::Arc<dyn Sink>,
        pace: std::sync::Arc<Pace>,
    ) -> Routes {
        self.routes.retain(|(routed, _, _)| *routed != channel);
        self.routes.push((channel, sink, pace));
        self
    }

    /// The sink of `channel`, if one is configured.
    pub fn sink(&self, channel: Channel) -> Option<(&dyn Sink, &Pace)> {
        self.routes
            .iter()
            .find(|(routed, _, _)| *routed == channel)
            .map(|(_, sink, pace)| (sink.as_ref(), pace.as_ref()))
    }

    /// The slowest pace of any route (hand-overs a second), if any route is set.
    pub fn slowest(&self) -> Option<f64> {
        self.routes
            .iter()
            .map(|(_, _, pace)| pace.per_second())
            .reduce(f64::min)
    }

    /// Every sink routed to, each once.
    pub fn sinks(&self) -> Vec<&dyn Sink> {
        let mut sinks: Vec<&std::sync::Arc<dyn Sink>> = Vec::new();
        for (_, sink, _) in &self.routes {
            if !sinks.iter().any(|seen| std::sync::Arc::ptr_eq(seen, sink)) {
                sinks.push(sink);
            }
        }
        sinks.into_iter().map(|sink| sink.as_ref()).collect()
    }

    /// The channels that have a sink.
    pub fn channels(&self) -> Vec<Channel> {
        self.routes.iter().map(|(channel, _, _)| *channel).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn the_slowest_route_sets_the_rounds_size() {
        let dir = tempfile::tempdir().unwrap_or_else(|error| panic!("{error}"));
        let sink: Arc<dyn Sink> = Arc::new(
            JsonlSink::open(&dir.path().join("notices.jsonl"))
                .unwrap_or_else(|error| panic!("{error}")),
        );
        assert_eq!(Routes::default().slowest(), None);
        let routes = Routes::default()
            .route(Channel::Lms, sink.clone(), Arc::new(Pace::new(50)))
            .route(Channel::Email, sink.clone(), Arc::new(Pace::new(5)));
        let slowest = routes.slowest().unwrap_or_default();
        assert!((slowest - 5.0).abs() < 1e-9, "{slowest}");
        assert_eq!(
            routes.sinks().len(),
            1,
            "one sink routed twice is settled once"
        );
        assert_eq!(routes.channels(), vec![Channel::Lms, Channel::Email]);
    }
}
