//! The merged chain: seq continuity, links, and the signed checkpoints pinned on it.

use std::collections::{BTreeMap, BTreeSet};

use super::checkpoints::SignedCheckpoint;
use super::problem::{Location, Notice, Problem};
use super::report::VerifyReport;
use super::streams::Located;
use crate::{AuditRecord, GENESIS_HASH};

/// The merged chain: seq continuity, links, and checkpoints.
pub(super) struct ChainCheck {
    /// Highest seq accepted in order, and its hash.
    last: Option<(u64, [u8; 32])>,
    /// Seqs skipped over so far, each with the location of the record after the gap; a
    /// record that turns up later was reordered, the rest were removed.
    missing: BTreeMap<u64, Location>,
    /// Seqs whose frame or row was damaged (already reported), not to be reported as removed.
    pub(super) damaged: BTreeSet<u64>,
    checkpoints: BTreeMap<u64, Vec<SignedCheckpoint>>,
    /// The witness's valid checkpoints, when one was given.
    pub(super) witnessed: Option<BTreeMap<u64, Vec<SignedCheckpoint>>>,
    /// Witnessed checkpoints that matched, and the highest seq among them.
    witness_matched: (u64, u64),
    records: u64,
    first_seq: Option<u64>,
    /// Whether the chain may begin after seq 1.
    pub(super) start: ChainStart,
}

/// Where a chain must begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStart {
    /// At seq 1 with the genesis link: anything else is [`Problem::MissingStart`]. A log and
    /// its archives hold the whole chain.
    Genesis,
    /// At seq 1, or right after a signed checkpoint the source still holds, whose head hash
    /// is the first record's `prev_hash`: the prefix before it was pruned from the source (a
    /// cluster's stream after `haechi audit prune --bus`) and is reported as
    /// [`Notice::PrunedPrefix`], not as missing. The signature ties the rest of the chain to
    /// the prefix the archive holds.
    AfterSignedCheckpoint,
}

/// At most this many missing seqs are tracked individually; a bigger gap is one range.
const MAX_TRACKED_MISSING: u64 = 100_000;

impl ChainCheck {
    pub(super) fn new(checkpoints: BTreeMap<u64, Vec<SignedCheckpoint>>) -> Self {
        ChainCheck {
            last: None,
            missing: BTreeMap::new(),
            damaged: BTreeSet::new(),
            checkpoints,
            witnessed: None,
            witness_matched: (0, 0),
            records: 0,
            first_seq: None,
            start: ChainStart::Genesis,
        }
    }

    /// The seq the chain expects next (1 before any record).
    pub(super) fn next_seq(&self) -> u64 {
        self.last.map_or(1, |(seq, _)| seq + 1)
    }

    pub(super) fn accept(&mut self, located: &Located, report: &mut VerifyReport) {
        let record = &located.record;
        let seq = record.seq;
        match self.last {
            None => {
                self.first_seq = Some(seq);
                if seq != 1 && self.resumes_after_checkpoint(record, report) {
                    // The pruned prefix is noted; the chain goes on from here.
                } else if seq != 1 {
                    report.problem(Problem::MissingStart {
                        first_seq: seq,
                        location: located.location.clone(),
                    });
                } else if record.prev_hash != GENESIS_HASH {
                    report.problem(Problem::ChainBroken {
                        seq,
                        location: located.location.clone(),
                    });
                }
            }
            Some((last_seq, last_hash)) if seq == last_seq + 1 => {
                if record.prev_hash != last_hash {
                    report.problem(Problem::ChainBroken {
                        seq,
                        location: located.location.clone(),
                    });
                }
            }
            Some((last_seq, _)) if seq > last_seq + 1 => {
                let gap = seq - last_seq - 1;
                if gap <= MAX_TRACKED_MISSING {
                    for missing in last_seq + 1..seq {
                        if !self.damaged.contains(&missing) {
                            self.missing.insert(missing, located.location.clone());
                        }
                    }
                } else {
                    report.problem(Problem::Removed {
                        first: last_seq + 1,
                        last: seq - 1,
                        location: located.location.clone(),
                    });
                }
            }
            Some((last_seq, _)) => {
                // At or below the highest seq seen: either a record that was skipped earlier
                // shows up late (reordered), or a seq used twice (inserted).
                if self.missing.remove(&seq).is_some() {
                    report.problem(Problem::Reordered {
                        seq,
                        after: last_seq,
                        location: located.location.clone(),
                    });
                } else {
                    report.problem(Problem::Duplicate {
                        seq,
                        location: located.location.clone(),
                    });
                }
                self.records += 1;
                return;
            }
        }
        self.records += 1;
        self.last = Some((seq, record.hash));
        if let Some(signed) = self.checkpoints.remove(&seq) {
            for signed in signed {
                if signed.checkpoint.hash == record.hash {
                    report.checkpoints_verified += 1;
                    report.last_signed_seq = report.last_signed_seq.max(seq);
                } else {
                    report.problem(Problem::CheckpointMismatch {
                        seq,
                        checkpoint: signed.location,
                        record: located.location.clone(),
                    });
                }
            }
        }
        if let Some(signed) = self
            .witnessed
            .as_mut()
            .and_then(|witnessed| witnessed.remove(&seq))
        {
            for signed in signed {
                if signed.checkpoint.hash == record.hash {
                    self.witness_matched.0 += 1;
                    self.witness_matched.1 = self.witness_matched.1.max(seq);
                } else {
                    report.problem(Problem::WitnessMismatch {
                        seq,
                        witnessed: signed.checkpoint.hash,
                        found: record.hash,
                        witness: signed.location,
                        record: located.location.clone(),
                    });
                }
            }
        }
    }

    /// Whether `record`, the first one met, follows a signed checkpoint of the seq before it
    /// that names its `prev_hash` (only with [`ChainStart::AfterSignedCheckpoint`]).
    fn resumes_after_checkpoint(
        &mut self,
        record: &AuditRecord,
        report: &mut VerifyReport,
    ) -> bool {
        if self.start != ChainStart::AfterSignedCheckpoint {
            return false;
        }
        let anchor_seq = record.seq - 1;
        let Some(signed) = self.checkpoints.get(&anchor_seq) else {
            return false;
        };
        let Some(anchor) = signed
            .iter()
            .find(|signed| signed.checkpoint.hash == record.prev_hash)
        else {
            return false;
        };
        report.notices.push(Notice::PrunedPrefix {
            last: anchor_seq,
            checkpoint: anchor.location.clone(),
        });
        report.checkpoints_verified += 1;
        report.last_signed_seq = report.last_signed_seq.max(anchor_seq);
        self.checkpoints.remove(&anchor_seq);
        true
    }

    pub(super) fn finish(mut self, report: &mut VerifyReport) {
        // Consecutive missing seqs with the same following record form one range.
        let mut ranges: Vec<(u64, u64, Location)> = Vec::new();
        for (seq, location) in std::mem::take(&mut self.missing) {
            match ranges.last_mut() {
                Some((_, last, at)) if *last + 1 == seq && *at == location => *last = seq,
                _ => ranges.push((seq, seq, location)),
            }
        }
        for (first, last, location) in ranges {
            report.problem(Problem::Removed {
                first,
                last,
                location,
            });
        }
        let last_seq = self.last.map_or(0, |(seq, _)| seq);
        for (seq, signed) in std::mem::take(&mut self.checkpoints) {
            if seq > last_seq {
                for signed in signed {
                    report.problem(Problem::CheckpointBeyondEnd {
                        seq,
                        last_seq,
                        location: signed.location,
                    });
                }
            }
            // A checkpoint inside a gap is covered by the gap's finding.
        }
        if let Some(witnessed) = self.witnessed.take() {
            // The highest witnessed head beyond the end names the cut; lower ones beyond the
            // end are the same finding.
            if let Some((&seq, signed)) = witnessed.range(last_seq + 1..).next_back()
                && let Some(signed) = signed.first()
            {
                report.problem(Problem::WitnessAhead {
                    seq,
                    hash: signed.checkpoint.hash,
                    last_seq,
                    last_hash: self.last.map(|(_, hash)| hash),
                    location: signed.location.clone(),
                });
            }
            report.witnessed = Some(self.witness_matched);
        }
        report.records = self.records;
        report.first_seq = self.first_seq.unwrap_or(0);
        report.last_seq = last_seq;
        if last_seq > report.last_signed_seq {
            report.notices.push(Notice::UnsignedTail {
                first: report.last_signed_seq + 1,
                last: last_seq,
            });
        }
    }
}
