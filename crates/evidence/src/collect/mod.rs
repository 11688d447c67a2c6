//! Reading the facts that live in files: the audit trail, the data directory's bytes, the
//! drill reports. The store's facts (principals, keys, policy) are the caller's to read; this
//! module reads only what it is pointed at and writes nothing.

mod drills;
mod scan;

use std::path::Path;

use ed25519_dalek::VerifyingKey;
use haechi_audit::VerifySources;

use crate::Error;
use crate::activity::Activity;
use crate::facts::ChainFacts;
use crate::period::Period;

pub use drills::read_drills;
pub use scan::scan_data_dir;

/// Problems listed from a chain check; the rest are counted.
const PROBLEMS_LISTED: usize = 50;

/// Folds the whole trail of the log in `audit_dir` (the archive its manifest names, then the
/// live log) for `period`. Works beside a running server: nothing is locked or written.
pub fn fold_trail(
    audit_dir: &Path,
    period: Period,
    bulk_read_customers: u64,
) -> Result<Activity, Error> {
    let mut activity = Activity::new(period, bulk_read_customers);
    for record in haechi_audit::read_history(audit_dir)? {
        activity.observe(&record?.event);
    }
    Ok(activity.finish())
}

/// Verifies the chain and the signed checkpoints of the log in `audit_dir` (and its archive)
/// against the audit key, and against the checkpoints a witness holds when it could be read
/// back, as `haechi audit verify [--witness]` does. `witness` is what reading it back gave:
/// `None` without a witness, `Some(Err(why))` when it could not be read.
pub fn verify_chain(
    audit_dir: &Path,
    key: &VerifyingKey,
    witness: Option<Result<haechi_audit::WitnessedCheckpoints, String>>,
) -> Result<ChainFacts, Error> {
    let mut sources = VerifySources::log(audit_dir);
    let witness_problem = match witness {
        Some(Ok(checkpoints)) => {
            sources.witness = Some(checkpoints);
            None
        }
        Some(Err(why)) => Some(why),
        None => None,
    };
    let report = haechi_audit::verify(&sources, key)?;
    let mut problems: Vec<String> = report
        .problems
        .iter()
        .take(PROBLEMS_LISTED)
        .map(ToString::to_string)
        .collect();
    let more =
        report.problems.len().saturating_sub(PROBLEMS_LISTED) as u64 + report.problems_omitted;
    if more > 0 {
        problems.push(format!("{more} further problems"));
    }
    Ok(ChainFacts {
        records: report.records,
        last_seq: report.last_seq,
        checkpoints: report.checkpoints_verified,
        last_signed_seq: report.last_signed_seq,
        witness_matched: report.witnessed.map(|(matched, _)| matched),
        witness_unreadable: witness_problem,
        problems,
    })
}
