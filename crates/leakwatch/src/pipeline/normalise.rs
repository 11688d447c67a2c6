//! Stage 2, normalising: a chunk's rows become the vault's probes. Most of the work of
//! reading a dump, so it runs in the matching tasks, on every core, not in the reader thread.

use haechi_leak::dump::DumpRow;
use haechi_vault::LeakProbe;

/// A batch's probes and the line each came from.
pub(super) struct Probes {
    /// Per probe, its row's line.
    pub(super) lines: Vec<u64>,
    /// The rows with an e-mail or phone, normalised.
    pub(super) probes: Vec<LeakProbe>,
}

/// The probes of `rows`; rows with nothing to look up are dropped.
pub(super) fn normalise(rows: Vec<DumpRow>) -> Probes {
    let (lines, probes): (Vec<u64>, Vec<LeakProbe>) = rows
        .iter()
        .map(|row| (row.line, row.identifiers()))
        .filter(|(_, identifiers)| identifiers.has_lookup_key())
        .map(|(line, identifiers)| {
            let probe = LeakProbe {
                emails: identifiers.emails,
                phones: identifiers.phones,
                names: identifiers.names,
            };
            (line, probe)
        })
        .unzip();
    drop(rows);
    Probes { lines, probes }
}
