//! The live log: records not archived yet, read from the log's files through the audit
//! crate's read-only reader (no lock; a running server's log is read up to its last whole
//! record on disk).

use std::path::Path;

use crate::Error;
use crate::custody::LiveLogCustody;
use crate::hits::{FieldTable, Hit};
use crate::matcher::Matcher;

/// The matching records of the live log and what was read.
pub(crate) struct LiveScan {
    pub hits: Vec<Hit>,
    pub custody: LiveLogCustody,
}

/// Reads every record of the live log in `dir` and keeps the exposures the query selects.
pub(crate) fn scan(dir: &Path, matcher: &Matcher, fields: &FieldTable) -> Result<LiveScan, Error> {
    let mut custody = LiveLogCustody {
        dir: dir.display().to_string(),
        records: 0,
        first_seq: None,
        last_seq: None,
        last_hash: None,
    };
    let mut hits = Vec::new();
    for record in haechi_audit::read_log(dir)? {
        let record = record?;
        custody.records += 1;
        custody.first_seq.get_or_insert(record.seq);
        custody.last_seq = Some(record.seq);
        custody.last_hash = Some(hex::encode(record.hash));
        if matcher.matches_event(&record.event) {
            let mut mask = 0;
            for field in &record.event.fields {
                mask |= fields.bit(field)?;
            }
            hits.push(Hit {
                node: None,
                seq: record.seq,
                time: record.event.time.as_micros(),
                customer: record.event.customer_id.as_deref().map(Into::into),
                fields: mask,
            });
        }
    }
    Ok(LiveScan { hits, custody })
}
