//! The scan of the Parquet archive: which files, which row groups, which columns, which rows.
//!
//! 1. **Partition pruning.** Files sit in `day=YYYY-MM-DD` directories and every row of a file
//!    lies in that UTC day (the exporter splits runs at midnight), so a window excludes whole
//!    days before a file is opened.
//! 2. **Row-group pruning.** Each remaining file's footer is read once. A row group is skipped
//!    when the `time` statistics lie outside the window, or when an indicator kind is provably
//!    absent from it: min/max statistics bound every value out, or the column's bloom filter
//!    answers "absent" for every value (bloom filters have false positives, never false
//!    negatives). Single addresses and small networks are probed in the bloom filters of
//!    *both* `ip_bin` and `ip`: the two filters err independently, so a 40-address set lets
//!    about 1 % of row groups through by accident instead of ~33 %. With [`MatchMode::Any`] a row
//!    group is skipped only when every kind is absent; with [`MatchMode::All`] when any is.
//! 3. **Predicate pushdown and projection.** Surviving row groups are read with two row
//!    filters — the indicator columns first, then `kind`, `decision`, `status`, `time` for the
//!    rows that passed — and only `seq`, `time`, `customer_id` and `fields` are decoded, for
//!    the rows that passed both.
//! 4. **Parallelism.** Footers and row groups are spread over the cores; results are put back
//!    in file and row-group order.
//!
//! [`MatchMode::Any`]: crate::MatchMode::Any
//! [`MatchMode::All`]: crate::MatchMode::All

mod digest;
mod files;
mod plan;
mod rows;

pub(crate) use files::{check_schema, list_files};
pub(crate) use plan::byte_bounds;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::custody::{ArchiveFileCustody, DigestMode};
use crate::hits::{FieldTable, Hit};
use crate::matcher::Matcher;
use crate::progress::Progress;
use crate::{Error, parallel};
use digest::file_custody;
use plan::plan_file;
use rows::{ByteRanges, read_row_group};

/// A file skipped by its day partition.
#[derive(Debug, Clone)]
pub(crate) struct SkippedFile {
    /// Its relative path.
    pub relative: String,
    /// The seqs its name states.
    pub seqs: Option<(u64, u64)>,
    /// The node whose chain it holds (`None`: a single log's).
    pub node: Option<Arc<str>>,
}

/// The result of scanning all archive directories.
pub(crate) struct ArchiveScan {
    pub hits: Vec<Hit>,
    pub files: Vec<ArchiveFileCustody>,
    pub skipped_by_day: Vec<SkippedFile>,
}

/// Scans every archive directory for the query's exposures.
pub(crate) fn scan(
    directories: &[PathBuf],
    matcher: &Arc<Matcher>,
    fields: &FieldTable,
    digest: DigestMode,
    progress: &dyn Progress,
) -> Result<ArchiveScan, Error> {
    let mut files = Vec::new();
    for (index, dir) in directories.iter().enumerate() {
        files.extend(list_files(index, dir)?);
    }
    let mut skipped_by_day = Vec::new();
    let mut opened = Vec::new();
    for file in files {
        let inside = file
            .day
            .is_none_or(|(start, end)| matcher.window.overlaps(start, end - 1));
        if inside {
            opened.push(file);
        } else {
            skipped_by_day.push(SkippedFile {
                relative: file.relative.clone(),
                seqs: file.named_seqs,
                node: file.node.clone(),
            });
        }
    }

    progress.phase("reading footers", opened.len() as u64);
    let plans = parallel::map(&opened, |_, file| {
        let plan = plan_file(file.clone(), matcher);
        progress.advance(1);
        plan
    })?;

    let work: Vec<(usize, usize)> = plans
        .iter()
        .enumerate()
        .flat_map(|(file, plan)| plan.candidates.iter().map(move |group| (file, *group)))
        .collect();
    progress.phase("scanning row groups", work.len() as u64);
    let results = parallel::map(&work, |_, &(file, group)| {
        let result = read_row_group(&plans[file], group, matcher, fields);
        progress.advance(1);
        result
    })?;

    let mut hits = Vec::new();
    let mut read_ranges: Vec<Vec<(usize, ByteRanges)>> = plans.iter().map(|_| Vec::new()).collect();
    for ((file, group), (found, ranges)) in work.iter().zip(results) {
        hits.extend(found);
        read_ranges[*file].push((*group, ranges));
    }

    progress.phase("hashing", plans.len() as u64);
    let indexed: Vec<usize> = (0..plans.len()).collect();
    let files = parallel::map(&indexed, |_, &index| {
        let custody = file_custody(&plans[index], &read_ranges[index], digest);
        progress.advance(1);
        custody
    })?;
    progress.finish();
    Ok(ArchiveScan {
        hits,
        files,
        skipped_by_day,
    })
}

/// The archive files under `dir` in seq order (for tests that damage one).
#[doc(hidden)]
pub fn list_files_for_tests(dir: &Path) -> Vec<PathBuf> {
    list_files(0, dir)
        .map(|files| files.into_iter().map(|file| file.path).collect())
        .unwrap_or_default()
}
