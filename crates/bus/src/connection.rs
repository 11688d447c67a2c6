//! [`Bus`]: one connection to NATS, the audit stream on it, and what each part of a node takes
//! from it — a [`JetStreamReplica`] for the audit log, a [`ClusterAuditReader`] for verify and
//! export, a [`DetectionFeed`] for detection.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use async_nats::jetstream::{self, Context};
use async_nats::{Client, ConnectOptions, Event};
use ed25519_dalek::VerifyingKey;
use haechi_audit::{ExportOptions, PruneMode};
use tokio::runtime::Handle;

use crate::Error;
use crate::export::{StreamExportReport, export_stream};
use crate::feed::{DetectionFeed, FeedLag, FeedOptions, Takeover};
use crate::history::RecordHistory;
use crate::names::{Names, NodeId, redact_url};
use crate::prune::{PruneBound, StreamPruneReport, prune_stream};
use crate::reader::ClusterAuditReader;
use crate::replica::{DEFAULT_ACK_TIMEOUT, JetStreamReplica, Target, WINDOW};
use crate::stream::{StreamRetention, ensure_stream};
use crate::verify::{ClusterVerifyReport, verify_one_chain, verify_stream};

/// How to reach the bus. [`BusOptions::new`] gives the defaults.
#[derive(Clone, PartialEq, Eq)]
pub struct BusOptions {
    /// `nats://[user:password@]host:port`, or several separated by commas. May hold
    /// credentials: it is never logged or put in an error as it is.
    pub url: String,
    /// Prefix of every subject and of the stream name (e.g. `haechi`).
    pub prefix: String,
    /// Replicas of the audit stream (1 for a single NATS server, 3 for a cluster).
    pub replicas: usize,
    /// How long a publish waits for JetStream's acknowledgement, and an API request for its
    /// answer, before the bus counts as unreachable (default 5 s).
    pub ack_timeout: Duration,
    /// The connection's name as NATS monitoring shows it.
    pub connection_name: String,
    /// Whether the audit stream, if this connection creates it, may ever be pruned
    /// (default [`StreamRetention::Forever`]).
    pub retention: StreamRetention,
}

impl fmt::Debug for BusOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusOptions")
            .field("url", &redact_url(&self.url))
            .field("prefix", &self.prefix)
            .field("replicas", &self.replicas)
            .field("ack_timeout", &self.ack_timeout)
            .field("connection_name", &self.connection_name)
            .field("retention", &self.retention)
            .finish()
    }
}

impl BusOptions {
    /// The defaults for `url`, `prefix` and `replicas`.
    pub fn new(url: &str, prefix: &str, replicas: usize) -> Self {
        BusOptions {
            url: url.to_string(),
            prefix: prefix.to_string(),
            replicas,
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            connection_name: "haechi".into(),
            retention: StreamRetention::Forever,
        }
    }
}

/// Connects to NATS at `url` and makes sure the audit stream exists under `prefix` with
/// `replicas` replicas ([`crate::ensure_stream`]).
pub async fn connect(url: &str, prefix: &str, replicas: usize) -> Result<Bus, Error> {
    Bus::connect(BusOptions::new(url, prefix, replicas)).await
}

/// Reads the whole audit stream and verifies every node's chain against the audit public key:
/// each record's hash, seq continuity from 1, prev_hash links, and the node's signed
/// checkpoints, with the audit crate's own checks ([`haechi_audit::ChainVerifier`]); plus every
/// message on a subject where no audit message belongs. Checkpoints are read first (a stream
/// holds each one after the records it covers), then every message in order. An `Err` only
/// when the stream cannot be read.
pub async fn verify_cluster(bus: &Bus, key: &VerifyingKey) -> Result<ClusterVerifyReport, Error> {
    verify_stream(&bus.target.stream, &bus.names, key, None).await
}

/// Reads node `node_id`'s chain alone from the audit stream and verifies it as
/// [`verify_cluster`] verifies every chain (records, seq continuity from 1, links, signed
/// checkpoints against the audit public key), without reading the other nodes' messages.
pub async fn verify_node(
    bus: &Bus,
    node_id: &str,
    key: &VerifyingKey,
) -> Result<haechi_audit::VerifyReport, Error> {
    let node = NodeId::new(node_id)?;
    verify_one_chain(&bus.target.stream, &bus.names, &node, key).await
}

/// A connection to the cluster's bus and its audit stream. Cheap to clone.
#[derive(Clone)]
pub struct Bus {
    client: Client,
    context: Context,
    target: Target,
    names: Names,
    options: BusOptions,
}

impl fmt::Debug for Bus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bus")
            .field("url", &redact_url(&self.options.url))
            .field("stream", &self.names.stream())
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// Connects with `options` and makes sure the audit stream exists. Must run on the tokio
    /// runtime that will drive the connection.
    pub async fn connect(options: BusOptions) -> Result<Bus, Error> {
        let names = Names::new(&options.prefix)?;
        if options.replicas == 0 {
            return Err(Error::config("the audit stream needs at least 1 replica"));
        }
        let shown = redact_url(&options.url);
        if options.url.split(',').any(|address| {
            let address = address.trim();
            address.starts_with("tls://") || address.starts_with("wss://")
        }) {
            return Err(Error::config(format!(
                "{shown}: TLS to NATS is not built in; reach NATS over a private network or \
                 a local TLS-terminating forwarder"
            )));
        }
        let runtime = Handle::try_current()
            .map_err(|_| Error::config("the bus must be connected on a tokio runtime"))?;
        let client = ConnectOptions::new()
            .name(&options.connection_name)
            .connection_timeout(options.ack_timeout)
            .request_timeout(Some(options.ack_timeout))
            // Reconnect quickly: while the bus is away the audit log refuses records.
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(100 * (attempts.min(10) as u64))
            })
            .event_callback(|event| async move { log_event(event) })
            .connect(options.url.as_str())
            .await
            .map_err(|error| Error::Connect {
                url: shown.clone(),
                reason: error.kind().to_string(),
            })?;
        let context = jetstream::ContextBuilder::new()
            .timeout(options.ack_timeout)
            .max_ack_inflight(WINDOW * 4)
            .backpressure_on_inflight(true)
            .build(client.clone());
        let stream = ensure_stream(&context, &names, options.replicas, options.retention).await?;
        let target = Target {
            context: context.clone(),
            stream,
            stream_name: names.stream().to_string(),
            runtime,
        };
        Ok(Bus {
            client,
            context,
            target,
            names,
            options,
        })
    }

    /// The alert board, created if it does not exist (see [`crate::AlertBoard`]).
    pub async fn alert_board(&self) -> Result<crate::AlertBoard, Error> {
        crate::AlertBoard::open(&self.context, &self.names, self.options.replicas).await
    }

    /// The replica of node `node_id`'s audit log: pass it to
    /// [`haechi_audit::AuditLog::open_replicated`]. One process per node id, ever.
    pub fn replica(&self, node_id: &str) -> Result<JetStreamReplica, Error> {
        let node = NodeId::new(node_id)?;
        Ok(JetStreamReplica::new(
            self.target.clone(),
            node,
            &self.names,
        ))
    }

    /// Reads the whole audit stream in order, every node's records and checkpoints.
    pub async fn reader(&self) -> Result<ClusterAuditReader, Error> {
        ClusterAuditReader::open(&self.target.stream, &self.names, self.names.all_subjects()).await
    }

    /// The durable detection feed `name` with the default options.
    pub async fn detection_feed(&self, name: &str) -> Result<DetectionFeed, Error> {
        self.detection_feed_with(FeedOptions::new(name)).await
    }

    /// The durable detection feed with `options`.
    pub async fn detection_feed_with(&self, options: FeedOptions) -> Result<DetectionFeed, Error> {
        DetectionFeed::open(&self.target.stream, &self.names, options).await
    }

    /// Takes the durable detection feed over for the one node that leads detection: the
    /// consumer is recreated to deliver every record after the last one acknowledged, at once
    /// and in order (see [`DetectionFeed`]).
    pub async fn take_over_detection_feed(
        &self,
        options: FeedOptions,
    ) -> Result<(DetectionFeed, Takeover), Error> {
        DetectionFeed::take_over(&self.target.stream, &self.names, options).await
    }

    /// How far the detection feed `name` is behind the stream.
    pub async fn detection_feed_lag(&self, name: &str) -> Result<FeedLag, Error> {
        DetectionFeed::lag(&self.target.stream, name).await
    }

    /// The stream sequence of the newest record of any node's chain (0: none yet): read after
    /// a set of requests was answered, every record those requests made durable is at or
    /// below it ("durable before answered" on a node with a bus means acknowledged by
    /// JetStream). The drill clock settles a cluster's detection through it. Checkpoints are
    /// not records: the detection feed never delivers them, so they do not count here.
    pub async fn last_record_sequence(&self) -> Result<u64, Error> {
        let subject = self.names.every_node(crate::names::Part::Records);
        match self
            .target
            .stream
            .get_last_raw_message_by_subject(&subject)
            .await
        {
            Ok(message) => Ok(message.sequence),
            Err(error)
                if error.kind() == jetstream::stream::LastRawMessageErrorKind::NoMessageFound =>
            {
                Ok(0)
            }
            Err(error) => Err(Error::jetstream(
                format!("reading the newest record of {subject}"),
                error,
            )),
        }
    }

    /// Every node's records published at or after `since`, through stream sequence
    /// `through`, in stream order: the history a detection node warms its engine up with.
    pub async fn record_history(
        &self,
        since: std::time::SystemTime,
        through: u64,
    ) -> Result<RecordHistory, Error> {
        RecordHistory::open(&self.target.stream, &self.names, since, through).await
    }

    /// Verifies every node's chain in the stream against the audit public key
    /// ([`verify_cluster`]).
    pub async fn verify(&self, key: &VerifyingKey) -> Result<ClusterVerifyReport, Error> {
        verify_cluster(self, key).await
    }

    /// Verifies every node's chain from seq 1 through the cluster's archive in `archive` (an
    /// export of this stream) and on through the stream: a seq in both must be the same
    /// record; a node the archive holds with no message left in the stream is reported.
    pub async fn verify_with_archive(
        &self,
        key: &VerifyingKey,
        archive: &Path,
    ) -> Result<ClusterVerifyReport, Error> {
        verify_stream(&self.target.stream, &self.names, key, Some(archive)).await
    }

    /// Exports every message after the last export into the cluster's archive `to_dir`:
    /// each node's chain under `node=<id>/` as the Parquet a single log's export writes (same
    /// schema, day partitions, `_checkpoints`), committed by the `_cluster_export` marker.
    /// Incremental (only what is new) and idempotent; files an interrupted export left
    /// beyond the marker are removed first. A record that does not continue its node's chain
    /// stops the export there ([`Error::ExportStopped`]) after committing what came before.
    pub async fn export(
        &self,
        to_dir: &Path,
        options: &ExportOptions,
    ) -> Result<StreamExportReport, Error> {
        export_stream(&self.target.stream, &self.names, to_dir, options).await
    }

    /// Purges each node's records before `bound` from the stream, but only up to a signed
    /// checkpoint the stream keeps and only once they are in the cluster's archive `archive`,
    /// read back and found identical; refuses otherwise ([`Error::PruneRefused`]), purging
    /// nothing. Needs a stream created with [`StreamRetention::Archive`]. See the `prune`
    /// module for the checks, and docs/cluster-audit.md.
    pub async fn prune(
        &self,
        key: &VerifyingKey,
        archive: &Path,
        bound: PruneBound,
        mode: PruneMode,
    ) -> Result<StreamPruneReport, Error> {
        prune_stream(&self.target.stream, &self.names, key, archive, bound, mode).await
    }

    /// The names of the stream and subjects.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// The audit records at these stream sequences, in the order given; a sequence that holds
    /// no record (purged into the archive, a checkpoint, beyond the end) is left out. Direct
    /// gets: any replica answers. An alert's evidence, for the console on an API node.
    pub async fn records_at(
        &self,
        sequences: &[u64],
    ) -> Result<Vec<(u64, haechi_audit::AuditRecord)>, Error> {
        use async_nats::jetstream::stream::DirectGetErrorKind;
        let mut records = Vec::with_capacity(sequences.len());
        for &sequence in sequences {
            let message = match self.target.stream.direct_get(sequence).await {
                Ok(message) => message,
                Err(error) if matches!(error.kind(), DirectGetErrorKind::NotFound) => continue,
                Err(error) => {
                    return Err(Error::jetstream(
                        format!("reading message {sequence}"),
                        error,
                    ));
                }
            };
            if let crate::reader::EntryContent::Record { record, .. } =
                crate::reader::decode(&self.names, message.subject.as_str(), &message.payload)
            {
                records.push((sequence, record));
            }
        }
        Ok(records)
    }

    /// The audit stream.
    pub fn stream(&self) -> &jetstream::stream::Stream {
        &self.target.stream
    }

    /// The JetStream context (for tools and measurements).
    pub fn jetstream(&self) -> &Context {
        &self.context
    }

    /// The NATS client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// Connection events, for the operator: no address, no credentials.
fn log_event(event: Event) {
    match event {
        Event::Connected => tracing::info!(target: "haechi::bus", "connected to NATS"),
        // The end of a connection the process let go of (a one-shot command finishing).
        Event::Closed => tracing::info!(target: "haechi::bus", "NATS connection closed"),
        Event::Disconnected => {
            tracing::warn!(target: "haechi::bus", "disconnected from NATS; reconnecting");
        }
        other => tracing::warn!(target: "haechi::bus", event = %other, "NATS connection event"),
    }
}
