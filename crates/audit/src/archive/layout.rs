//! The layout of an archive directory: `day=YYYY-MM-DD/part-<first_seq>-<last_seq>.parquet`,
//! one file per run of consecutive records of one UTC day, and the `_checkpoints` copy.

use std::path::Path;

use haechi_events::Timestamp;

use crate::AuditRecord;

/// Name of the checkpoint copy in an archive directory. The leading underscore makes dataset
/// readers (pyarrow, Spark, DuckDB's hive partitioning) skip it when they scan the directory.
pub(crate) const ARCHIVE_CHECKPOINTS_FILE: &str = "_checkpoints";

/// Footer key naming the node whose chain a cluster archive file holds (absent in the archive
/// of a single log).
pub const CHAIN_KEY: &str = "haechi.audit.node";

pub(super) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The UTC date of `time` as `YYYY-MM-DD` (`unknown` outside the calendar's range).
pub(super) fn day_of(time: Timestamp) -> String {
    let nanos = i128::from(time.as_micros()) * 1000;
    match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(datetime) => {
            let date = datetime.date();
            format!(
                "{:04}-{:02}-{:02}",
                date.year(),
                u8::from(date.month()),
                date.day()
            )
        }
        Err(_) => "unknown".into(),
    }
}

/// Splits seq-ordered records into maximal runs of one day. Event times of concurrent requests
/// can straddle midnight out of seq order; splitting into runs (rather than grouping by day)
/// keeps every file a contiguous seq range.
pub(super) fn day_runs(records: &[AuditRecord]) -> Vec<&[AuditRecord]> {
    let mut runs = Vec::new();
    let mut start = 0;
    for index in 1..=records.len() {
        let boundary = index == records.len()
            || day_of(records[index].event.time) != day_of(records[start].event.time);
        if boundary {
            runs.push(&records[start..index]);
            start = index;
        }
    }
    runs
}

pub(super) fn first_seq_of_name(path: &Path) -> Option<u64> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (first, _) = rest.split_once('-')?;
    first.parse().ok()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use haechi_events::{EventKind, Principal, SecurityEvent};

    use super::*;

    #[test]
    fn days_and_runs() {
        assert_eq!(
            day_of(Timestamp::from_micros(1_750_734_765_123_456)),
            "2025-06-24"
        );
        let at = |seq: u64, secs: i64| {
            AuditRecord::chained(
                seq,
                SecurityEvent::new(
                    Timestamp::from_secs(secs),
                    EventKind::PiiRead,
                    Principal::Anonymous,
                ),
                crate::GENESIS_HASH,
            )
        };
        let day = 86_400;
        let records = vec![
            at(1, day - 2),
            at(2, day + 1),
            at(3, day - 1),
            at(4, day + 2),
        ];
        let runs: Vec<Vec<u64>> = day_runs(&records)
            .iter()
            .map(|run| run.iter().map(|record| record.seq).collect())
            .collect();
        assert_eq!(runs, vec![vec![1], vec![2], vec![3], vec![4]]);
        assert!(day_runs(&[]).is_empty());
    }
}
