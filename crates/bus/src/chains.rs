//! One chain verifier per node for the cluster's verify, made when the node is first met with
//! the checkpoints it has. With the cluster's archive, each node's archived records are fed
//! before the stream's (a seq in both must be the same record), so a chain whose prefix was
//! pruned from the stream is checked whole from seq 1; without it, a stream chain may resume
//! after a signed checkpoint it still holds (the prefix pruned: a notice).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ed25519_dalek::VerifyingKey;
use haechi_audit::{
    ArchiveRecords, ArchivedRecord, AuditRecord, ChainVerifier, Checkpoint, Location, Problem,
    VerifyReport, read_archive, read_archive_checkpoints,
};

use crate::Error;
use crate::archive::{node_archive_dir, node_dirs};
use crate::names::NodeId;

/// Every node's chain being verified.
pub(crate) struct NodeChains<'a> {
    key: &'a VerifyingKey,
    archive: Option<PathBuf>,
    chains: BTreeMap<NodeId, NodeChain>,
    checkpoints: BTreeMap<NodeId, Vec<(Checkpoint, Location)>>,
    unreadable_checkpoints: BTreeMap<NodeId, Vec<Problem>>,
}

/// What [`NodeChains::finish`] found beyond each chain's report.
pub(crate) struct Finished {
    pub reports: BTreeMap<NodeId, VerifyReport>,
    /// Per node with archived records: the highest seq such that the archive holds every seq
    /// from 1 through it.
    pub archived: BTreeMap<NodeId, u64>,
    /// Nodes the archive holds that have no message left in the stream.
    pub vanished: Vec<NodeId>,
}

struct NodeChain {
    verifier: ChainVerifier,
    archived: Option<ArchivedSide>,
    in_stream: bool,
}

/// A node's archived records, read in seq order beside the stream's.
struct ArchivedSide {
    records: ArchiveRecords,
    head: Option<ArchivedRecord>,
    contiguous_through: u64,
    broken: bool,
    dir: PathBuf,
}

impl ArchivedSide {
    fn open(dir: PathBuf) -> Result<Self, Error> {
        Ok(ArchivedSide {
            records: read_archive(&dir)?,
            head: None,
            contiguous_through: 0,
            broken: false,
            dir,
        })
    }

    /// Moves to the next archived record, reporting rows that cannot be read.
    fn advance(&mut self, verifier: &mut ChainVerifier) {
        self.head = loop {
            match self.records.next_located() {
                None => break None,
                Some(Ok(located)) => {
                    if !self.broken && located.record.seq == self.contiguous_through + 1 {
                        self.contiguous_through = located.record.seq;
                    } else {
                        self.broken = true;
                    }
                    break Some(located);
                }
                Some(Err(error)) => {
                    self.broken = true;
                    verifier.problem(Problem::UnreadableArchive {
                        path: self.dir.clone(),
                        reason: error.to_string(),
                    });
                }
            }
        };
    }
}

fn archive_location(located: &ArchivedRecord) -> Location {
    Location::Archive {
        path: located.path.clone(),
        row: located.row,
    }
}

impl<'a> NodeChains<'a> {
    /// Chains checked against `key`, with each node's checkpoints from the stream (and the
    /// ones that did not decode) and, if given, the cluster's archive.
    pub fn new(
        key: &'a VerifyingKey,
        archive: Option<&Path>,
        checkpoints: BTreeMap<NodeId, Vec<(Checkpoint, Location)>>,
        unreadable_checkpoints: BTreeMap<NodeId, Vec<Problem>>,
    ) -> Self {
        NodeChains {
            key,
            archive: archive.map(Path::to_path_buf),
            chains: BTreeMap::new(),
            checkpoints,
            unreadable_checkpoints,
        }
    }

    fn of(&mut self, node: &NodeId) -> Result<&mut NodeChain, Error> {
        if !self.chains.contains_key(node) {
            let chain = self.open(node)?;
            self.chains.insert(node.clone(), chain);
        }
        self.chains
            .get_mut(node)
            .ok_or_else(|| Error::config("a chain just made is gone"))
    }

    fn open(&mut self, node: &NodeId) -> Result<NodeChain, Error> {
        let mut checkpoints = self.checkpoints.remove(node).unwrap_or_default();
        let mut problems = self.unreadable_checkpoints.remove(node).unwrap_or_default();
        let archive_dir = self
            .archive
            .as_deref()
            .map(|archive| node_archive_dir(archive, node))
            .filter(|dir| dir.is_dir());
        if let Some(dir) = &archive_dir {
            let copy = read_archive_checkpoints(dir)?;
            if copy.torn {
                problems.push(Problem::CorruptCheckpoint {
                    location: Location::Checkpoint {
                        path: copy.path.clone(),
                        index: copy.entries.len(),
                    },
                    reason: "incomplete entry".into(),
                });
            }
            for (index, entry) in copy.entries {
                let location = Location::Checkpoint {
                    path: copy.path.clone(),
                    index,
                };
                match entry {
                    // The stream's copy of the same checkpoint is checked once.
                    Ok(checkpoint) if checkpoints.iter().any(|(known, _)| *known == checkpoint) => {
                    }
                    Ok(checkpoint) => checkpoints.push((checkpoint, location)),
                    Err(reason) => problems.push(Problem::CorruptCheckpoint { location, reason }),
                }
            }
        }
        let mut verifier = ChainVerifier::new(self.key, checkpoints);
        if self.archive.is_none() {
            verifier = verifier.resuming_after_checkpoint();
        }
        for problem in problems {
            verifier.problem(problem);
        }
        let archived = match archive_dir {
            Some(dir) => {
                let mut side = ArchivedSide::open(dir)?;
                side.advance(&mut verifier);
                Some(side)
            }
            None => None,
        };
        Ok(NodeChain {
            verifier,
            archived,
            in_stream: false,
        })
    }

    /// A record of `node` from the stream, in stream order.
    pub fn record(
        &mut self,
        node: &NodeId,
        record: AuditRecord,
        computed_hash: [u8; 32],
        location: Location,
    ) -> Result<(), Error> {
        let chain = self.of(node)?;
        chain.in_stream = true;
        if let Some(side) = &mut chain.archived {
            while let Some(head) = side.head.take() {
                if head.record.seq > record.seq {
                    side.head = Some(head);
                    break;
                }
                let archived_location = archive_location(&head);
                if head.record.seq == record.seq {
                    if head.record != record {
                        chain.verifier.problem(Problem::SourcesDisagree {
                            seq: record.seq,
                            log: location.clone(),
                            archive: archived_location.clone(),
                        });
                    }
                    if head.record.computed_hash() != head.record.hash {
                        chain.verifier.problem(Problem::RecordAltered {
                            seq: head.record.seq,
                            location: archived_location,
                        });
                    }
                } else {
                    let computed = head.record.computed_hash();
                    chain
                        .verifier
                        .record(head.record, computed, archived_location);
                }
                side.advance(&mut chain.verifier);
            }
        }
        chain.verifier.record(record, computed_hash, location);
        Ok(())
    }

    /// A message on `node`'s records subject that does not decode.
    pub fn undecodable(
        &mut self,
        node: &NodeId,
        location: Location,
        reason: String,
    ) -> Result<(), Error> {
        let chain = self.of(node)?;
        chain.in_stream = true;
        chain.verifier.undecodable(location, reason);
        Ok(())
    }

    /// Any other message of `node` (a checkpoint): the node is in the stream.
    pub fn seen(&mut self, node: &NodeId) -> Result<(), Error> {
        self.of(node)?.in_stream = true;
        Ok(())
    }

    /// Ends every chain: the rest of each node's archive is fed, nodes with checkpoints only
    /// or in the archive only are reported too.
    pub fn finish(mut self) -> Result<Finished, Error> {
        let leftover: Vec<NodeId> = self.checkpoints.keys().cloned().collect();
        for node in leftover {
            self.seen(&node)?;
        }
        if let Some(archive) = self.archive.clone() {
            for (node, _) in node_dirs(&archive)? {
                self.of(&node)?;
            }
        }
        let mut finished = Finished {
            reports: BTreeMap::new(),
            archived: BTreeMap::new(),
            vanished: Vec::new(),
        };
        for (node, mut chain) in self.chains {
            if let Some(side) = &mut chain.archived {
                while let Some(head) = side.head.take() {
                    let location = archive_location(&head);
                    let computed = head.record.computed_hash();
                    chain.verifier.record(head.record, computed, location);
                    side.advance(&mut chain.verifier);
                }
                if side.contiguous_through > 0 {
                    finished
                        .archived
                        .insert(node.clone(), side.contiguous_through);
                    if !chain.in_stream {
                        finished.vanished.push(node.clone());
                    }
                }
            }
            finished.reports.insert(node, chain.verifier.finish());
        }
        Ok(finished)
    }
}
