//! The chain-of-custody block: what a scope was computed from, so the same result can be
//! reproduced and defended.
//!
//! Every archive file consulted is listed with its size, seq range, row groups (which were
//! read, how many were pruned by time and by statistics or bloom filters) and the SHA-256 of
//! exactly the bytes the result depends on: the footer (schema, statistics, offsets), every
//! bloom filter probed, and every column chunk read, in that order. Hashing those bytes rather
//! than whole files keeps a query by token id under a second over a 100 M-event archive; with
//! [`DigestMode::Full`] each whole file is hashed as well (≈ 1 s per 2 GB per core here). The
//! integrity of the archive itself — every record's hash, the chain, the signed checkpoints —
//! is `haechi audit verify`'s job; the digests here tie one result to the bytes it came from.

use serde::Serialize;

/// How much of each archive file is hashed for the custody block.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DigestMode {
    /// The bytes the result was computed from: footers, bloom filters probed, column chunks
    /// read.
    #[default]
    Consulted,
    /// Those, and every consulted file whole.
    Full,
}

/// One archive file consulted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArchiveFileCustody {
    /// Index into [`Custody::archives`].
    pub archive: usize,
    /// Path relative to its archive directory.
    pub path: String,
    /// The node whose chain it holds, in a cluster's archive (`node=<id>/`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Size in bytes.
    pub bytes: u64,
    /// First seq it holds (from its metadata).
    pub first_seq: Option<u64>,
    /// Last seq it holds.
    pub last_seq: Option<u64>,
    /// Row groups in the file.
    pub row_groups: usize,
    /// Row groups read (indices).
    pub row_groups_read: Vec<usize>,
    /// Row groups whose `time` statistics lie outside the window.
    pub pruned_by_time: usize,
    /// Row groups whose statistics or bloom filters prove no indicator value is there.
    pub pruned_by_filter: usize,
    /// Bytes hashed into `consulted_sha256`.
    pub consulted_bytes: u64,
    /// SHA-256 over the footer, the bloom filters probed and the column chunks read.
    pub consulted_sha256: String,
    /// SHA-256 of the whole file ([`DigestMode::Full`] only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// The live log as read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveLogCustody {
    /// The log directory.
    pub dir: String,
    /// Records read.
    pub records: u64,
    /// Oldest seq read.
    pub first_seq: Option<u64>,
    /// Newest seq read (the log's durable end when it was read).
    pub last_seq: Option<u64>,
    /// Hash of the newest record read: with a verified chain it commits to every record up to
    /// it.
    pub last_hash: Option<String>,
}

/// Which seqs the sources held between them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Inclusive seq ranges held by the archive files (consulted or skipped by day) and the
    /// live log, merged.
    pub ranges: Vec<[u64; 2]>,
    /// Seqs from 1 to the newest held that no source holds: records that fell between the
    /// archive and the live log (or an archive directory that was not given).
    pub gaps: Vec<[u64; 2]>,
}

impl Coverage {
    /// Merges seq ranges and finds the holes below the newest.
    pub(crate) fn of(mut ranges: Vec<(u64, u64)>) -> Self {
        ranges.retain(|(first, last)| first <= last);
        ranges.sort_unstable();
        let mut merged: Vec<[u64; 2]> = Vec::new();
        for (first, last) in ranges {
            match merged.last_mut() {
                Some(previous) if first <= previous[1].saturating_add(1) => {
                    previous[1] = previous[1].max(last);
                }
                _ => merged.push([first, last]),
            }
        }
        let mut gaps = Vec::new();
        let mut expected = 1;
        for range in &merged {
            if range[0] > expected {
                gaps.push([expected, range[0] - 1]);
            }
            expected = range[1].saturating_add(1);
        }
        Coverage {
            ranges: merged,
            gaps,
        }
    }
}

/// The chain-of-custody block of a scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Custody {
    /// The tool and version that computed the result (`haechi 0.1.0`).
    pub tool: String,
    /// The query as normalised (sets sorted, networks as parsed).
    pub query: crate::query::Query,
    /// What counts as an exposure, in the archive's column names.
    pub exposure: String,
    /// SHA-256 of the canonical JSON of `query` and `exposure`.
    pub query_sha256: String,
    /// How archive files were hashed.
    pub digest: DigestMode,
    /// The archive directories, as given.
    pub archives: Vec<String>,
    /// Files consulted, in seq order.
    pub files: Vec<ArchiveFileCustody>,
    /// Files not opened because their day partition lies outside the window.
    pub files_skipped_by_day: Vec<String>,
    /// Row groups in consulted files.
    pub row_groups_total: usize,
    /// Row groups read.
    pub row_groups_read: usize,
    /// The live log, when one was read.
    pub live_log: Option<LiveLogCustody>,
    /// Matching records found in more than one source (identical, counted once).
    pub duplicates: u64,
    /// Seqs the sources held (of a single log's chain: its archive and live log).
    pub coverage: Coverage,
    /// In a cluster's archive, the seqs held of each node's chain (seqs repeat across
    /// nodes, so each has its own ranges and gaps).
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub coverage_by_node: std::collections::BTreeMap<String, Coverage>,
    /// SHA-256 over the per-customer rows (`id TAB fields TAB first TAB last TAB reads LF`,
    /// in order): two runs with equal digests found exactly the same exposures.
    pub result_sha256: String,
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    fn check(ranges: &[(u64, u64)], merged: &[[u64; 2]], gaps: &[[u64; 2]]) {
        let coverage = Coverage::of(ranges.to_vec());
        assert_eq!(coverage.ranges, merged);
        assert_eq!(coverage.gaps, gaps);
    }

    #[test]
    fn coverage_merges_and_finds_gaps() {
        check(&[], &[], &[]);
        check(&[(1, 10), (11, 20)], &[[1, 20]], &[]);
        check(&[(5, 10), (1, 3)], &[[1, 3], [5, 10]], &[[4, 4]]);
        check(
            &[(1, 10), (5, 8), (30, 40)],
            &[[1, 10], [30, 40]],
            &[[11, 29]],
        );
        check(&[(100, 200)], &[[100, 200]], &[[1, 99]]);
    }
}
