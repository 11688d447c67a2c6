//! Stage 6, writing: the matched customers (unless they went to `--out`) and the closing
//! summary, on standard output.

use std::io::Write;
use std::time::Instant;

use haechi_leak::dump::TextEncoding;
use haechi_leak::matching::{CustomerMatch, MatchReport};
use haechi_vault::{LeakIndexSource, LeakSession};

use super::record::Recorded;
use crate::words::{human_bytes, join};
use crate::{Error, OutFile};

/// Totals of the run.
#[derive(Default)]
pub(super) struct Totals {
    pub(super) lines: u64,
    pub(super) bytes: u64,
    pub(super) rows: u64,
    pub(super) problems: u64,
    pub(super) other_encoding: u64,
}

/// When each part of the run ended.
pub(super) struct Times {
    pub(super) started: Instant,
    pub(super) opened: Instant,
    pub(super) matched: Instant,
}

/// Everything the summary names.
pub(super) struct Summary<'a> {
    pub(super) name: &'a str,
    pub(super) encoding: TextEncoding,
    pub(super) totals: &'a Totals,
    pub(super) report: &'a MatchReport,
    pub(super) customers: &'a [&'a CustomerMatch],
    pub(super) session: &'a LeakSession,
    pub(super) recorded: &'a Recorded,
    pub(super) times: &'a Times,
    pub(super) out: Option<&'a OutFile>,
}

impl Summary<'_> {
    /// Writes the customers' table (when there is no `--out`) and the summary.
    pub(super) fn write(&self, stdout: &mut dyn Write) -> Result<(), Error> {
        if self.out.is_none() && !self.customers.is_empty() {
            writeln!(stdout, "customer\tconfidence\tfields\trows\tlines")?;
            for customer in self.customers {
                writeln!(
                    stdout,
                    "{}\t{}\t{}\t{}\t{}",
                    customer.customer_id(),
                    customer.confidence(),
                    join(customer.fields().iter().map(|f| f.as_str()), ","),
                    customer.rows(),
                    join(customer.lines().iter(), ","),
                )?;
            }
        }
        self.write_reading(stdout)?;
        self.write_matching(stdout)?;
        let span = |from: Instant, to: Instant| to.duration_since(from).as_secs_f64();
        let times = self.times;
        writeln!(
            stdout,
            "times: {:.1} s to open the vault and start, {:.1} s matching rows, then at once \
             {:.1} s recording leak.matched events and {:.1} s recording exposures",
            span(times.started, times.opened),
            span(times.opened, times.matched),
            span(times.matched, self.recorded.events_at),
            span(times.matched, self.recorded.exposures_at),
        )?;
        if let Some(out) = self.out {
            writeln!(stdout, "matches written to {}", out.path().display())?;
        }
        Ok(())
    }

    fn write_reading(&self, stdout: &mut dyn Write) -> Result<(), Error> {
        let totals = self.totals;
        let seconds = self.times.started.elapsed().as_secs_f64();
        writeln!(
            stdout,
            "read {} lines ({}) of {} in {seconds:.1} s ({:.0} lines/s): {} rows with an \
             e-mail or phone, {} problems{}",
            totals.lines,
            human_bytes(totals.bytes),
            self.name,
            totals.lines as f64 / seconds.max(1e-9),
            totals.rows,
            totals.problems,
            if totals.other_encoding > 0 {
                format!(
                    ", {} lines read as {}",
                    totals.other_encoding,
                    match self.encoding {
                        TextEncoding::Utf8 => "cp949",
                        TextEncoding::Cp949 => "utf-8",
                    }
                )
            } else {
                String::new()
            }
        )?;
        Ok(())
    }

    fn write_matching(&self, stdout: &mut dyn Write) -> Result<(), Error> {
        let summary = self.report.summary();
        writeln!(
            stdout,
            "matched {} customers ({} high, {} medium, {} low confidence): by e-mail {}, by \
             phone {}, confirmed by name {}",
            summary.customers,
            summary.high,
            summary.medium,
            summary.low,
            summary.by_email,
            summary.by_phone,
            summary.by_name
        )?;
        let stats = self.session.stats();
        writeln!(
            stdout,
            "vault ({}): {} blind-index lookups, {} candidates, {} records decrypted; {} \
             exposed identifiers recorded ({} new)",
            match self.session.index_source() {
                LeakIndexSource::Lookups => "lookups",
                LeakIndexSource::Snapshot => "snapshot of the blind index",
                LeakIndexSource::Vault => "every record opened once",
            },
            stats.index_lookups,
            stats.candidates,
            stats.decrypted,
            self.recorded.exposures,
            self.recorded.new_exposures,
        )?;
        Ok(())
    }
}
