//! The drill clock's line to the detection task (`haechi_server::drill`): a settle request,
//! and what the task answers once it has settled — a [`Settled`] proof only the task makes.
//!
//! On a single node the request names the last durable seq of the node's own log. On a
//! cluster's leading detection node the task settles through the newest record in the
//! cluster's stream, read when the request arrives (every record of a request the API nodes
//! answered before is at or below it: "durable before answered" means acknowledged by
//! JetStream there). A standby answers that it stands by.

use tokio::sync::{mpsc, oneshot};

/// A request of the drill clock to the detection engine: evaluate through `through_seq`,
/// then answer.
#[derive(Debug)]
pub struct Settle {
    /// On a single node, the last durable audit seq the engine must have taken in. A
    /// cluster's detection node settles through the stream's newest record instead.
    pub through_seq: u64,
    /// Answered once done; dropped unanswered when the task stops (or loses the lead) first.
    pub done: oneshot::Sender<SettleAnswer>,
}

/// What the detection task answers a [`Settle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettleAnswer {
    /// Everything asked for is evaluated, and what it raised recorded and carried out.
    Settled(Settled),
    /// A cluster's standby detection node: another node leads and settles; nothing here.
    Standby,
}

/// Proof that the detection task settled: it had taken in every record asked for, moved its
/// watermark to the clock's time, and recorded the alerts and carried out the actions that
/// followed. Only the detection task makes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    source: SettledSource,
}

/// What a [`Settled`] covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettledSource {
    /// A single node's own log, through this seq.
    LocalLog {
        /// The last seq taken in.
        through_seq: u64,
    },
    /// The cluster's audit stream, on its leading detection node.
    Stream {
        /// Every record in the stream at or below this sequence was taken in (the stream's
        /// newest record when the settle began).
        records_through: u64,
        /// Every record at or below this sequence is evaluated, recorded and acknowledged
        /// (records newer than the clock's time less the allowed lateness wait for a later
        /// move, as on a single node).
        evaluated_through: u64,
    },
}

impl Settled {
    pub(super) fn new(source: SettledSource) -> Self {
        Settled { source }
    }

    /// What was settled.
    pub fn source(&self) -> SettledSource {
        self.source
    }
}

/// Settle requests as the detection task holds them (`None`: no drill clock).
pub(super) type Settles = Option<mpsc::Receiver<Settle>>;

/// The next settle request, or never when there is no drill clock. A closed line is
/// forgotten, so it is not polled again.
pub(super) async fn next_settle(settles: &mut Settles) -> Option<Settle> {
    match settles {
        Some(receiver) => {
            let settle = receiver.recv().await;
            if settle.is_none() {
                *settles = None;
            }
            settle
        }
        None => std::future::pending().await,
    }
}
