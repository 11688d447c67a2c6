//! Row-group pruning: which row groups of a file may hold a match, by the `time` statistics,
//! the indicator columns' min/max statistics and their bloom filters.

use std::fs::File;
use std::net::IpAddr;
use std::path::Path;

use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::bloom_filter::Sbbf;
use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;

use super::files::{ArchiveFile, check_node, check_schema, footer_range, seq_metadata};
use crate::Error;
use crate::indicators::IndicatorKind;
use crate::matcher::Matcher;
use crate::query::MatchMode;

/// What the footer said about one file, and which of its row groups may hold a match.
pub(crate) struct FilePlan {
    pub file: ArchiveFile,
    pub(super) metadata: ArrowReaderMetadata,
    pub bytes: u64,
    pub seqs: Option<(u64, u64)>,
    pub candidates: Vec<usize>,
    pub pruned_by_time: usize,
    pub pruned_by_filter: usize,
    /// Byte ranges of the file the plan was made from: the footer, then each bloom filter
    /// read, in row-group and column order.
    pub(super) consulted: Vec<(u64, u64)>,
}

/// Column positions (leaf indices) the scan needs.
#[derive(Debug, Clone, Copy)]
struct Columns {
    time: usize,
    ip: usize,
    ip_bin: usize,
    kid: usize,
    jti: usize,
    sid: usize,
    principal: usize,
    user_agent: usize,
}

impl Columns {
    fn of(metadata: &ArrowReaderMetadata, path: &Path) -> Result<Self, Error> {
        let schema = metadata.parquet_schema();
        let find = |name: &str| {
            schema
                .columns()
                .iter()
                .position(|column| column.path().parts() == [name.to_string()])
                .ok_or_else(|| Error::bad_file(path, format!("missing column {name}")))
        };
        Ok(Columns {
            time: find("time")?,
            ip: find("ip")?,
            ip_bin: find("ip_bin")?,
            kid: find("kid")?,
            jti: find("jti")?,
            sid: find("sid")?,
            principal: find("principal")?,
            user_agent: find("user_agent")?,
        })
    }

    fn of_kind(&self, kind: IndicatorKind) -> usize {
        match kind {
            IndicatorKind::Ip => self.ip_bin,
            IndicatorKind::Kid => self.kid,
            IndicatorKind::Jti => self.jti,
            IndicatorKind::Sid => self.sid,
            IndicatorKind::Principal => self.principal,
            IndicatorKind::UserAgent => self.user_agent,
        }
    }
}

pub(super) fn column_name(kind: IndicatorKind) -> &'static str {
    match kind {
        IndicatorKind::Ip => "ip_bin",
        IndicatorKind::Kid => "kid",
        IndicatorKind::Jti => "jti",
        IndicatorKind::Sid => "sid",
        IndicatorKind::Principal => "principal",
        IndicatorKind::UserAgent => "user_agent",
    }
}

/// Reads a file's footer, checks it is a Haechi audit archive of the known schema, and
/// decides which row groups to read.
pub(crate) fn plan_file(file: ArchiveFile, matcher: &Matcher) -> Result<FilePlan, Error> {
    let path = file.path.clone();
    let handle = File::open(&path).map_err(|error| Error::io(&path, error))?;
    let bytes = handle
        .metadata()
        .map_err(|error| Error::io(&path, error))?
        .len();
    let metadata = ArrowReaderMetadata::load(&handle, ArrowReaderOptions::new())
        .map_err(|error| Error::bad_file(&path, format!("not a readable Parquet file: {error}")))?;
    check_schema(&metadata, &path)?;
    check_node(&metadata, &file)?;
    let footer = footer_range(&handle, bytes, &path)?;
    let columns = Columns::of(&metadata, &path)?;
    let seqs = seq_metadata(&metadata).or(file.named_seqs);

    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(handle, metadata.clone());
    let mut plan = FilePlan {
        file,
        metadata: metadata.clone(),
        bytes,
        seqs,
        candidates: Vec::new(),
        pruned_by_time: 0,
        pruned_by_filter: 0,
        consulted: vec![footer],
    };
    // Kinds in the order that decides fastest: unique ids first, then keys, principals,
    // networks, agents.
    let mut kinds = matcher.kinds.clone();
    kinds.sort_by_key(|kind| match kind {
        IndicatorKind::Jti => 0,
        IndicatorKind::Sid => 1,
        IndicatorKind::Kid => 2,
        IndicatorKind::Principal => 3,
        IndicatorKind::Ip => 4,
        IndicatorKind::UserAgent => 5,
    });
    for index in 0..metadata.metadata().num_row_groups() {
        let row_group = metadata.metadata().row_group(index);
        if !time_may_match(row_group, columns.time, matcher) {
            plan.pruned_by_time += 1;
            continue;
        }
        let mut probe = Probe {
            builder: &builder,
            row_group: index,
            consulted: &mut plan.consulted,
            path: &path,
        };
        let mut keep = kinds.is_empty();
        if !keep {
            keep = match matcher.mode {
                MatchMode::Any => {
                    let mut any = false;
                    for kind in &kinds {
                        if probe.may_hold(*kind, row_group, &columns, matcher)? {
                            any = true;
                            break;
                        }
                    }
                    any
                }
                MatchMode::All => {
                    let mut all = true;
                    for kind in &kinds {
                        if !probe.may_hold(*kind, row_group, &columns, matcher)? {
                            all = false;
                            break;
                        }
                    }
                    all
                }
            };
        }
        if keep {
            plan.candidates.push(index);
        } else {
            plan.pruned_by_filter += 1;
        }
    }
    Ok(plan)
}

fn time_may_match(row_group: &RowGroupMetaData, column: usize, matcher: &Matcher) -> bool {
    if matcher.window.from.is_none() && matcher.window.to.is_none() {
        return true;
    }
    match row_group.column(column).statistics() {
        Some(Statistics::Int64(stats)) => match (stats.min_opt(), stats.max_opt()) {
            (Some(min), Some(max)) => matcher.window.overlaps(*min, *max),
            _ => true,
        },
        _ => true,
    }
}

/// Bloom-filter and statistics probes of one row group.
struct Probe<'a> {
    builder: &'a ParquetRecordBatchReaderBuilder<File>,
    row_group: usize,
    consulted: &'a mut Vec<(u64, u64)>,
    path: &'a Path,
}

impl Probe<'_> {
    fn bloom(
        &mut self,
        row_group: &RowGroupMetaData,
        column: usize,
    ) -> Result<Option<Sbbf>, Error> {
        let chunk = row_group.column(column);
        let filter = self
            .builder
            .get_row_group_column_bloom_filter(self.row_group, column)
            .map_err(|error| Error::bad_file(self.path, format!("bloom filter: {error}")))?;
        if filter.is_some()
            && let (Some(offset), Some(length)) =
                (chunk.bloom_filter_offset(), chunk.bloom_filter_length())
            && let (Ok(offset), Ok(length)) = (u64::try_from(offset), u64::try_from(length))
        {
            self.consulted.push((offset, length));
        }
        Ok(filter)
    }

    /// Whether the row group may hold a value of `kind` (false only when provably not).
    fn may_hold(
        &mut self,
        kind: IndicatorKind,
        row_group: &RowGroupMetaData,
        columns: &Columns,
        matcher: &Matcher,
    ) -> Result<bool, Error> {
        let column = columns.of_kind(kind);
        let bounds = byte_bounds(row_group, column);
        if kind == IndicatorKind::Ip {
            if let Some((min, max)) = &bounds {
                let (Ok(min), Ok(max)) = (
                    <[u8; 16]>::try_from(min.as_slice()),
                    <[u8; 16]>::try_from(max.as_slice()),
                ) else {
                    return Ok(true);
                };
                let (min, max) = (u128::from_be_bytes(min), u128::from_be_bytes(max));
                let overlaps = matcher
                    .networks
                    .iter()
                    .any(|&(start, end)| start <= max && end >= min);
                if !overlaps {
                    return Ok(false);
                }
            }
            let Some(addresses) = &matcher.probe_addresses else {
                return Ok(true);
            };
            let by_bin = self.bloom(row_group, columns.ip_bin)?;
            let mut by_text = None;
            for address in addresses {
                let bin = haechi_audit::ip_to_bin(*address);
                if by_bin
                    .as_ref()
                    .is_some_and(|filter| !filter.check(&bin[..]))
                {
                    continue;
                }
                // The ip_bin filter lets this address through; ask the ip filter too.
                if by_text.is_none() {
                    by_text = Some(self.bloom(row_group, columns.ip)?);
                }
                // The text column holds what the server saw: an IPv4 client on a dual-stack
                // socket may appear as ::ffff:a.b.c.d, with the same ip_bin.
                let mut texts = vec![address.to_string()];
                if let IpAddr::V4(v4) = address {
                    texts.push(format!("::ffff:{v4}"));
                }
                if let Some(Some(filter)) = &by_text
                    && !texts.iter().any(|text| filter.check(text.as_str()))
                {
                    continue;
                }
                return Ok(true);
            }
            return Ok(false);
        }
        let Some(values) = matcher.strings(kind) else {
            return Ok(true);
        };
        let in_bounds = |value: &String| {
            bounds.as_ref().is_none_or(|(min, max)| {
                value.as_bytes() >= min.as_slice() && value.as_bytes() <= max.as_slice()
            })
        };
        let candidates: Vec<&String> = values.iter().filter(|value| in_bounds(value)).collect();
        if candidates.is_empty() {
            return Ok(false);
        }
        if kind == IndicatorKind::UserAgent {
            // No bloom filter on user_agent.
            return Ok(true);
        }
        match self.bloom(row_group, column)? {
            Some(filter) => Ok(candidates.iter().any(|value| filter.check(value.as_str()))),
            None => Ok(true),
        }
    }
}

/// The min and max statistics of a byte-array column chunk, if written.
pub(crate) fn byte_bounds(
    row_group: &RowGroupMetaData,
    column: usize,
) -> Option<(Vec<u8>, Vec<u8>)> {
    let statistics = row_group.column(column).statistics()?;
    // Exact bounds only: a truncated max could exclude a value that is there.
    if !statistics.min_is_exact() || !statistics.max_is_exact() {
        return None;
    }
    Some((
        statistics.min_bytes_opt()?.to_vec(),
        statistics.max_bytes_opt()?.to_vec(),
    ))
}
