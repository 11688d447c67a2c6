//! Verifying a chain whose records come from outside the log directory — a node's chain read
//! back from the cluster's stream — with the very checks [`crate::verify()`] applies to
//! segments: each record's own hash, seq continuity, links, and signed checkpoints pinned on
//! the chain.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;

use super::chain::{ChainCheck, ChainStart};
use super::checkpoints::{SignedCheckpoint, keep_if_signed};
use super::problem::{Location, Problem};
use super::report::VerifyReport;
use super::streams::Located;
use crate::AuditRecord;
use crate::checkpoint::{Checkpoint, KeyId};

/// One chain, fed record by record in the order its source holds them.
///
/// Checkpoints are given first (a stream holds each one after the records it covers, so they
/// are read in a pass of their own): each signature is checked once against the auditor's key,
/// and the valid ones are matched against the records as they arrive.
pub struct ChainVerifier {
    chain: ChainCheck,
    report: VerifyReport,
}

impl std::fmt::Debug for ChainVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainVerifier")
            .field("next_seq", &self.chain.next_seq())
            .field("problems", &self.report.problems.len())
            .finish_non_exhaustive()
    }
}

impl ChainVerifier {
    /// A verifier for one chain, with the checkpoints its source holds and where each is.
    pub fn new(
        key: &VerifyingKey,
        checkpoints: impl IntoIterator<Item = (Checkpoint, Location)>,
    ) -> Self {
        let mut report = VerifyReport::default();
        let expected = KeyId::of(key);
        let mut valid: BTreeMap<u64, Vec<SignedCheckpoint>> = BTreeMap::new();
        for (checkpoint, location) in checkpoints {
            keep_if_signed(checkpoint, location, key, expected, &mut valid, &mut report);
        }
        ChainVerifier {
            chain: ChainCheck::new(valid),
            report,
        }
    }

    /// Accepts a chain that begins right after a signed checkpoint the source holds (a
    /// stream whose prefix was pruned into the archive): the pruned seqs are a
    /// [`crate::Notice::PrunedPrefix`], not [`Problem::MissingStart`].
    pub fn resuming_after_checkpoint(mut self) -> Self {
        self.chain.start = ChainStart::AfterSignedCheckpoint;
        self
    }

    /// The next record of the chain as stored (`record.hash` the stored hash) with the hash
    /// its content implies ([`crate::record::decode_stored`] gives both).
    pub fn record(&mut self, record: AuditRecord, computed_hash: [u8; 32], location: Location) {
        let located = Located {
            record,
            computed_hash,
            location,
        };
        if located.computed_hash != located.record.hash {
            self.report.problem(Problem::RecordAltered {
                seq: located.record.seq,
                location: located.location.clone(),
            });
        }
        self.chain.accept(&located, &mut self.report);
    }

    /// A message in the chain's place that does not decode as a record: reported as a damaged
    /// record at the seq the chain expected there, so that seq is not also reported missing.
    pub fn undecodable(&mut self, location: Location, reason: String) {
        let probable_seq = self.chain.next_seq();
        self.chain.damaged.insert(probable_seq);
        self.report.problem(Problem::CorruptFrame {
            location,
            probable_seq: Some(probable_seq),
            reason,
        });
    }

    /// A checkpoint message that does not decode, or problems found outside the chain.
    pub fn problem(&mut self, problem: Problem) {
        self.report.problem(problem);
    }

    /// Ends the chain and returns what was found.
    pub fn finish(mut self) -> VerifyReport {
        self.chain.finish(&mut self.report);
        self.report
    }
}
