//! Witnesses: every signed checkpoint, also kept outside the data directory.
//!
//! The log's own `checkpoints` file lives beside the segments, so whoever can cut records off
//! the end of the log can cut the checkpoints that sign them too, and the shortened log still
//! verifies. A witness is a copy of the signed checkpoints somewhere that person cannot
//! rewrite (another machine, another account, write-once storage). `verify` with the witness
//! then reports a log that ends before the head the witness saw, or disagrees with it, as
//! tampering ([`crate::Problem::WitnessAhead`], [`crate::Problem::WitnessMismatch`]).
//!
//! A witness receives only the checkpoint — seq, head hash, time, key id, signature — never a
//! record, so no personal data leaves through it. The wire form is one JSON object
//! ([`checkpoint_json`]); the `file://` witness stores one per line and the `http://` witness
//! POSTs it, so a company's own receiver that appends each body to a file as a line produces a
//! file `verify --witness file://…` reads.
//!
//! Adding a scheme is one file implementing [`Witness`] and one line in [`SCHEMES`].
//!
//! Delivery never holds up the log: the writer hands each checkpoint to a delivery thread
//! ([`pump`]) that retries a failing witness with backoff, keeps the newest checkpoint when
//! the witness is far behind, and publishes its state ([`WitnessStatus`]) for `/readyz` and
//! `/metrics`.

mod file;
mod http;
pub(crate) mod pump;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use haechi_events::Timestamp;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::checkpoint::{Checkpoint, KeyId};

pub use file::FileWitness;
pub use http::HttpWitness;

/// The `format` value of a witnessed checkpoint's JSON.
pub const WITNESS_FORMAT: &str = "haechi.audit.checkpoint.v1";

/// Somewhere outside the data directory that keeps every signed checkpoint.
#[async_trait]
pub trait Witness: Send + Sync + fmt::Debug {
    /// The address it was opened from (for messages; carries no secret).
    fn address(&self) -> &str;

    /// Hands one checkpoint over, returning only once the witness holds it (the file is
    /// synced; the receiver answered 2xx). The error says why not, in words for an operator.
    async fn deliver(&self, checkpoint: &Checkpoint) -> Result<(), String>;

    /// Every checkpoint the witness holds, for `verify --witness`. Witnesses that cannot be
    /// read back say so.
    async fn read_back(&self) -> Result<WitnessedCheckpoints, Error> {
        Err(Error::Witness {
            witness: self.address().to_string(),
            reason: "this kind of witness cannot be read back; verify against the file its \
                     receiver keeps (file:///…)"
                .into(),
        })
    }
}

/// How to open a witness of one scheme from its address.
type Opener = fn(&str) -> Result<Arc<dyn Witness>, Error>;

/// The schemes a witness address may have, and how each is opened.
pub const SCHEMES: &[(&str, Opener)] = &[("file", file::open), ("http", http::open)];

/// Opens the witness at `address` (`file:///var/lib/haechi-witness/checkpoints.jsonl`,
/// `http://witness.internal:8080/checkpoints`).
pub fn open_witness(address: &str) -> Result<Arc<dyn Witness>, Error> {
    let scheme = address
        .split_once("://")
        .map(|(scheme, _)| scheme)
        .ok_or_else(|| Error::Witness {
            witness: address.to_string(),
            reason: "not a URL: expected file:///PATH or http://HOST/PATH".into(),
        })?;
    let opener = SCHEMES
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(scheme))
        .map(|(_, opener)| opener)
        .ok_or_else(|| Error::Witness {
            witness: address.to_string(),
            reason: format!(
                "unknown scheme {scheme:?}: one of {}",
                SCHEMES
                    .iter()
                    .map(|(name, _)| format!("{name}://"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    opener(address)
}

/// A checkpoint as a witness receives it: the JSON body of the `http://` POST and one line of
/// the `file://` witness.
///
/// ```json
/// {"format":"haechi.audit.checkpoint.v1","seq":1234,"hash":"<64 hex>","time_micros":1764860000000000,
///  "key_id":"<16 hex>","signature":"<128 hex>"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointJson {
    /// Always [`WITNESS_FORMAT`].
    pub format: String,
    /// The seq of the last record covered.
    pub seq: u64,
    /// That record's hash (hex).
    pub hash: String,
    /// When the checkpoint was made, microseconds since the Unix epoch (UTC).
    pub time_micros: i64,
    /// Which audit key signed it (hex, see [`KeyId`]).
    pub key_id: String,
    /// Ed25519 signature (hex) over the fields, as in `docs/audit.md` (Checkpoint entry).
    pub signature: String,
}

/// The wire form of `checkpoint`.
pub fn checkpoint_json(checkpoint: &Checkpoint) -> CheckpointJson {
    CheckpointJson {
        format: WITNESS_FORMAT.to_string(),
        seq: checkpoint.seq,
        hash: hex::encode(checkpoint.hash),
        time_micros: checkpoint.time.as_micros(),
        key_id: hex::encode(checkpoint.key_id.0),
        signature: hex::encode(checkpoint.signature),
    }
}

impl CheckpointJson {
    /// The checkpoint it carries (its signature is checked by the verifier, not here).
    pub fn to_checkpoint(&self) -> Result<Checkpoint, String> {
        if self.format != WITNESS_FORMAT {
            return Err(format!("unknown format {:?}", self.format));
        }
        fn bytes<const N: usize>(name: &str, text: &str) -> Result<[u8; N], String> {
            let raw = hex::decode(text).map_err(|_| format!("{name} is not hex"))?;
            raw.try_into()
                .map_err(|_| format!("{name} is not {N} bytes"))
        }
        Ok(Checkpoint {
            seq: self.seq,
            hash: bytes("hash", &self.hash)?,
            time: Timestamp::from_micros(self.time_micros),
            key_id: KeyId(bytes("key_id", &self.key_id)?),
            signature: bytes("signature", &self.signature)?,
        })
    }
}

/// What a witness holds, read back for verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WitnessedCheckpoints {
    /// The witness's address.
    pub address: String,
    /// Each entry with its line number (from 1), or why it could not be read.
    pub entries: Vec<(usize, Result<Checkpoint, String>)>,
}

/// How checkpoint delivery to the witness stands; see [`crate::AuditLog::witness_status`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WitnessStatus {
    /// The witness's address.
    pub address: String,
    /// The newest checkpoint seq the witness confirmed (0 if none yet this run).
    pub delivered_seq: u64,
    /// The newest checkpoint seq signed (0 if none yet this run).
    pub signed_seq: u64,
    /// Failed delivery attempts since the log opened.
    pub failures: u64,
    /// Checkpoints never delivered because newer ones superseded them while the witness was
    /// down (the newest always goes; it covers everything before it).
    pub skipped: u64,
    /// Why the last attempt failed, while the witness is failing.
    pub last_error: Option<String>,
}

impl WitnessStatus {
    /// Whether the last delivery attempt failed and a checkpoint is still waiting.
    pub fn is_failing(&self) -> bool {
        self.last_error.is_some() && self.delivered_seq < self.signed_seq
    }
}
