//! Haechi's cluster bus on NATS JetStream: the audit trail of every node in one stream.
//!
//! # Design: one hash chain per node
//!
//! Each node keeps its own [`haechi_audit::AuditLog`] exactly as a single node does — one
//! writer, group commit, seqs, hash chain, signed checkpoints, segments on its disk — and in
//! cluster mode every batch is *also* appended to the audit stream and acknowledged by
//! JetStream before callers are answered ([`JetStreamReplica`], a
//! [`haechi_audit::Replica`]). "Durable before answered" becomes "in the local fsynced segment
//! *and* acknowledged by JetStream".
//!
//! - Node `N`'s records go to `<prefix>.audit.N.records`, one message per record, message id
//!   `N:<seq>` (JetStream drops duplicates, so republishing is safe); its checkpoints to
//!   `<prefix>.audit.N.checkpoints`. The payload is the record exactly as stored in a segment
//!   ([`haechi_audit::record::encode_stored`]), so the stream alone verifies.
//! - One stream, `<prefix>_audit`, over `<prefix>.audit.>`: file storage, configurable
//!   replicas, nothing expires or is discarded, deletes denied, purges denied unless chosen
//!   at creation for pruning into the archive ([`ensure_stream`], [`StreamRetention`]).
//! - [`ClusterAuditReader`] reads it back in order; [`verify_cluster`] verifies every node's
//!   chain with the audit crate's checks; [`DetectionFeed`] is the durable, explicitly
//!   acknowledged consumer detection reads; the one node leading detection takes it over
//!   ([`Bus::take_over_detection_feed`]) and warms its engine up from [`RecordHistory`].
//! - [`Bus::export`] writes the stream into the cluster's Parquet archive (one ordinary
//!   archive per node under `node=<id>/`, committed by a marker), incrementally;
//!   [`Bus::prune`] purges what that archive holds, up to signed checkpoints the stream
//!   keeps, from a stream created with [`StreamRetention::Archive`];
//!   [`Bus::verify_with_archive`] verifies every chain from seq 1 across both.
//! - [`republish_log`] moves a closed log (an embedded deployment's, `haechi migrate --bus`)
//!   into the stream as the chain of a node id of its own, records and checkpoints exactly as
//!   stored and signed; [`verify_node`] verifies one node's chain alone.
//! - [`AlertBoard`] is a stream of its own beside the audit stream: each alert's last state,
//!   published by the detection leader (and acknowledgements by the node that took them), read
//!   by the API nodes so the alert API, its stream and the responder console show the
//!   cluster's alerts.
//!
//! The stream gives one total order over all nodes' records (the message sequence); each
//! chain proves its own node's records complete and unaltered, and every checkpoint is signed
//! with the one audit key. What happens when a node, NATS or the network fails is in
//! `docs/cluster-audit.md`.
//!
//! # Architecture invariants
//!
//! - A node's records are published only by its own log's writer, in seq order, after the
//!   local sync; a second process under the same node id is refused (see [`JetStreamReplica`]).
//! - Nothing here logs or returns the NATS URL's credentials ([`redact_url`]).

#![forbid(unsafe_code)]

mod alerts;
mod archive;
mod chains;
mod connection;
mod error;
mod export;
mod feed;
mod history;
mod names;
mod prune;
mod reader;
mod replica;
mod republish;
mod stream;
mod verify;

pub use alerts::{AlertBoard, BOARD_MAX_AGE, BoardFeed, BoardMessage, BoardPart};
pub use archive::{EXPORT_MARKER, cluster_archive_nodes, node_archive_dir};
pub use connection::{Bus, BusOptions, connect, verify_cluster, verify_node};
pub use error::Error;
pub use export::StreamExportReport;
pub use feed::{DetectionFeed, FeedAck, FeedLag, FeedOptions, FeedRecord, Takeover};
pub use history::{HistoryRecord, RecordHistory};
pub use names::{Names, NodeId, Part, redact_url};
pub use prune::{NodePrune, PruneBound, StreamPruneReport};
pub use reader::{ClusterAuditReader, EntryContent, StreamEntry};
pub use replica::{DEFAULT_ACK_TIMEOUT, JetStreamReplica, WINDOW};
pub use republish::{RepublishReport, republish_log};
pub use stream::{StreamRetention, audit_stream_config, ensure_stream};
pub use verify::ClusterVerifyReport;
