//! A scope: the query answered over the archive and the live log, joined by seq, summed up
//! per customer, per field and per day.

use std::collections::BTreeMap;
use std::sync::Arc;

use ahash::{AHashMap as HashMap, AHashSet as HashSet};

use haechi_events::Timestamp;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::archive::ArchiveScan;
use crate::custody::{Coverage, Custody, DigestMode};
use crate::hits::{FieldTable, Hit};
use crate::live::LiveScan;
use crate::matcher::Matcher;
use crate::progress::Progress;
use crate::query::Query;
use crate::sources::Sources;
use crate::timestamps::{day_of, format_time};

/// What "exposed" means, in the archive's column names (recorded in the custody block).
const EXPOSURE: &str =
    "kind IN ('pii.read', 'pii.lookup') AND decision IN ('allow', 'mask') AND status = 200";

/// How to compute a scope.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeOptions {
    /// How much of each archive file to hash for the custody block.
    pub digest: DigestMode,
    /// The tool and version recorded in the custody block (`haechi 0.1.0`).
    pub tool: String,
}

/// Exposure counts of one field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FieldCount {
    /// Customers whose field was read at least once.
    pub customers: u64,
    /// Reads that included the field.
    pub reads: u64,
}

/// One UTC day of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Reads that day.
    pub reads: u64,
    /// Distinct customers read that day.
    pub customers: u64,
    /// Customers first exposed that day.
    pub new_customers: u64,
}

/// The summary of a scope.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Customers exposed.
    pub customers: u64,
    /// Matching reads (records).
    pub records: u64,
    /// Matching reads that name no customer (none are expected; counted, not dropped).
    pub records_without_customer: u64,
    /// First exposure (RFC 3339, UTC).
    pub first_exposure: Option<String>,
    /// Last exposure.
    pub last_exposure: Option<String>,
    /// Per field: customers and reads.
    pub fields: BTreeMap<String, FieldCount>,
    /// Per UTC day, in order.
    pub timeline: Vec<DayCount>,
}

/// One exposed customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exposure {
    /// The customer's id.
    pub customer_id: String,
    /// Fields read, sorted by name.
    pub fields: Vec<String>,
    /// First exposure (RFC 3339, UTC).
    pub first: String,
    /// Last exposure.
    pub last: String,
    /// Matching reads.
    pub reads: u64,
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Scope {
    /// Totals, per field, per day.
    pub summary: Summary,
    /// One row per exposed customer, by customer id.
    pub customers: Vec<Exposure>,
    /// What the result was computed from.
    pub custody: Custody,
}

/// Answers `query` over `sources`: every exposure in the archive directories and the live
/// log, each seq counted once (a seq present in two sources must be the same record there, or
/// the scope refuses with [`Error::SourcesDisagree`]).
pub fn scope(
    query: &Query,
    sources: &Sources,
    options: &ScopeOptions,
    progress: &dyn Progress,
) -> Result<Scope, Error> {
    query.validate()?;
    let matcher = Arc::new(Matcher::new(query));
    let fields = FieldTable::default();

    let archive = crate::archive::scan(
        &sources.archives,
        &matcher,
        &fields,
        options.digest,
        progress,
    )?;
    let live = match &sources.live_log {
        Some(dir) if dir.is_dir() => Some(crate::live::scan(dir, &matcher, &fields)?),
        _ => None,
    };
    let (coverage, coverage_by_node) = coverage(&archive, live.as_ref());
    let live_custody = live.as_ref().map(|live| live.custody.clone());
    let (hits, duplicates) = join_by_seq(archive.hits, live.map(|live| live.hits))?;

    let (summary, customers) = summarise(&hits, &fields);
    let query_json = serde_json::json!({ "query": query, "exposure": EXPOSURE }).to_string();
    let row_groups_total = archive.files.iter().map(|file| file.row_groups).sum();
    let row_groups_read = archive
        .files
        .iter()
        .map(|file| file.row_groups_read.len())
        .sum();
    let custody = Custody {
        tool: options.tool.clone(),
        query: query.clone(),
        exposure: EXPOSURE.into(),
        query_sha256: hex::encode(Sha256::digest(query_json.as_bytes())),
        digest: options.digest,
        archives: sources
            .archives
            .iter()
            .map(|dir| dir.display().to_string())
            .collect(),
        files: archive.files,
        files_skipped_by_day: archive
            .skipped_by_day
            .into_iter()
            .map(|file| file.relative)
            .collect(),
        row_groups_total,
        row_groups_read,
        live_log: live_custody,
        duplicates,
        coverage,
        coverage_by_node,
        result_sha256: result_digest(&customers),
    };
    Ok(Scope {
        summary,
        customers,
        custody,
    })
}

/// The seqs the sources hold: each archive file's, those of files skipped by their day, and
/// the live log's; a single log's chain, and each node's chain of a cluster's archive.
fn coverage(
    archive: &ArchiveScan,
    live: Option<&LiveScan>,
) -> (Coverage, BTreeMap<String, Coverage>) {
    let mut ranges: BTreeMap<Option<String>, Vec<(u64, u64)>> = BTreeMap::new();
    for file in &archive.files {
        if let (Some(first), Some(last)) = (file.first_seq, file.last_seq) {
            ranges
                .entry(file.node.clone())
                .or_default()
                .push((first, last));
        }
    }
    for file in &archive.skipped_by_day {
        if let Some(seqs) = file.seqs {
            ranges
                .entry(file.node.as_deref().map(str::to_string))
                .or_default()
                .push(seqs);
        }
    }
    if let Some(live) = live
        && let (Some(first), Some(last)) = (live.custody.first_seq, live.custody.last_seq)
    {
        ranges.entry(None).or_default().push((first, last));
    }
    let log = Coverage::of(ranges.remove(&None).unwrap_or_default());
    let nodes = ranges
        .into_iter()
        .filter_map(|(node, ranges)| Some((node?, Coverage::of(ranges))))
        .collect();
    (log, nodes)
}

/// Joins the archive's hits and the live log's by chain and seq, each once; returns them in
/// that order with how many were found twice. A record found twice must be the same hit.
fn join_by_seq(archive: Vec<Hit>, live: Option<Vec<Hit>>) -> Result<(Vec<Hit>, u64), Error> {
    // Archive hits first (in file order), then the live log's.
    let mut tagged: Vec<(Hit, u8)> = archive.into_iter().map(|hit| (hit, 0)).collect();
    if let Some(live) = live {
        tagged.extend(live.into_iter().map(|hit| (hit, 1)));
    }
    tagged.sort_by(|(a, a_source), (b, b_source)| {
        (&a.node, a.seq, a_source).cmp(&(&b.node, b.seq, b_source))
    });
    let mut hits: Vec<Hit> = Vec::with_capacity(tagged.len());
    let mut duplicates = 0u64;
    let mut last_source = 0u8;
    for (hit, source) in tagged {
        if let Some(previous) = hits.last()
            && previous.seq == hit.seq
            && previous.node == hit.node
        {
            if *previous != hit {
                let name = |source: u8| {
                    if source == 0 {
                        "the archive"
                    } else {
                        "the live log"
                    }
                };
                return Err(Error::SourcesDisagree {
                    seq: hit.seq,
                    first: name(last_source).into(),
                    second: name(source).into(),
                });
            }
            duplicates += 1;
            continue;
        }
        last_source = source;
        hits.push(hit);
    }
    Ok((hits, duplicates))
}

/// The SHA-256 of the customer list, one tab-separated line per customer.
fn result_digest(customers: &[Exposure]) -> String {
    let mut result = Sha256::new();
    for row in customers {
        result.update(row.customer_id.as_bytes());
        result.update(b"\t");
        for (index, field) in row.fields.iter().enumerate() {
            if index > 0 {
                result.update(b",");
            }
            result.update(field.as_bytes());
        }
        result.update(b"\t");
        result.update(row.first.as_bytes());
        result.update(b"\t");
        result.update(row.last.as_bytes());
        result.update(b"\t");
        result.update(row.reads.to_string().as_bytes());
        result.update(b"\n");
    }
    hex::encode(result.finalize())
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Days since the Unix epoch (UTC) of a µs timestamp.
fn day_number(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

#[derive(Debug, Clone, Copy)]
struct CustomerTotals {
    fields: u64,
    first: i64,
    last: i64,
    reads: u64,
}

/// Sums seq-ordered, de-duplicated hits up.
fn summarise(hits: &[Hit], fields: &FieldTable) -> (Summary, Vec<Exposure>) {
    let mut summary = Summary {
        records: hits.len() as u64,
        ..Summary::default()
    };
    let mut per_customer: HashMap<&str, CustomerTotals> = HashMap::with_capacity(hits.len() / 2);
    let mut per_field_reads: BTreeMap<u64, u64> = BTreeMap::new();
    let mut days: BTreeMap<i64, (u64, HashSet<&str>)> = BTreeMap::new();
    let mut first: Option<i64> = None;
    let mut last: Option<i64> = None;
    for hit in hits {
        first = Some(first.map_or(hit.time, |time| time.min(hit.time)));
        last = Some(last.map_or(hit.time, |time| time.max(hit.time)));
        let mut bits = hit.fields;
        while bits != 0 {
            let bit = bits & bits.wrapping_neg();
            *per_field_reads.entry(bit).or_default() += 1;
            bits &= bits - 1;
        }
        let day = days.entry(day_number(hit.time)).or_default();
        day.0 += 1;
        let Some(customer) = hit.customer.as_deref() else {
            summary.records_without_customer += 1;
            continue;
        };
        day.1.insert(customer);
        per_customer
            .entry(customer)
            .and_modify(|totals| {
                totals.fields |= hit.fields;
                totals.first = totals.first.min(hit.time);
                totals.last = totals.last.max(hit.time);
                totals.reads += 1;
            })
            .or_insert(CustomerTotals {
                fields: hit.fields,
                first: hit.time,
                last: hit.time,
                reads: 1,
            });
    }
    summary.first_exposure = first.map(|time| format_time(Timestamp::from_micros(time)));
    summary.last_exposure = last.map(|time| format_time(Timestamp::from_micros(time)));

    let mut new_per_day: HashMap<i64, u64> = HashMap::new();
    let mut per_field_customers: BTreeMap<u64, u64> = BTreeMap::new();
    for totals in per_customer.values() {
        *new_per_day.entry(day_number(totals.first)).or_default() += 1;
        let mut bits = totals.fields;
        while bits != 0 {
            let bit = bits & bits.wrapping_neg();
            *per_field_customers.entry(bit).or_default() += 1;
            bits &= bits - 1;
        }
    }
    for (bit, reads) in &per_field_reads {
        for name in fields.names(*bit) {
            summary.fields.insert(
                name,
                FieldCount {
                    customers: per_field_customers.get(bit).copied().unwrap_or(0),
                    reads: *reads,
                },
            );
        }
    }
    summary.timeline = days
        .into_iter()
        .map(|(day, (reads, customers))| DayCount {
            new_customers: new_per_day.get(&day).copied().unwrap_or(0),
            day: day_of(day * MICROS_PER_DAY),
            reads,
            customers: customers.len() as u64,
        })
        .collect();
    summary.customers = per_customer.len() as u64;

    let mut names_of: HashMap<u64, Vec<String>> = HashMap::new();
    let mut customers: Vec<Exposure> = per_customer
        .into_iter()
        .map(|(id, totals)| Exposure {
            customer_id: id.to_string(),
            fields: names_of
                .entry(totals.fields)
                .or_insert_with(|| fields.names(totals.fields))
                .clone(),
            first: format_time(Timestamp::from_micros(totals.first)),
            last: format_time(Timestamp::from_micros(totals.last)),
            reads: totals.reads,
        })
        .collect();
    customers.sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
    (summary, customers)
}
