//! One item through the existing pipeline: refused at once if it cannot be text (compressed,
//! binary, UTF-16), else sniffed and matched against the vault as `haechi leak match` does —
//! free text too, whose e-mails and phones the scanner finds — with nothing of it written
//! anywhere. Its outcome becomes one `leak.item_scanned` record.

use std::io::Cursor;
use std::time::Duration;

use haechi_events::{Clock as _, EventKind, SecurityEvent, SystemClock};
use haechi_leak::dump::DumpOptions;
use haechi_token::AdminGrant;

use crate::{Error, Input, MatchServices, MatchSettings, PreparedDump, Progress};

/// What became of an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Customers of the vault are in it (recorded as `leak.matched`, one per customer).
    Matched {
        /// How many.
        customers: usize,
    },
    /// Read through; no customer of the vault is in it.
    Clean,
    /// Refused unread (or read no further), and why.
    Quarantined(String),
}

impl ItemOutcome {
    /// The outcome's name in records and metrics.
    pub fn as_str(&self) -> &'static str {
        match self {
            ItemOutcome::Matched { .. } => "matched",
            ItemOutcome::Clean => "clean",
            ItemOutcome::Quarantined(_) => "quarantined",
        }
    }
}

/// The formats that are never text, by their first bytes: an archive is not unpacked here (a
/// zip bomb stays a few bytes); whoever drops one unpacks it into the drop directory instead.
const COMPRESSED: [(&[u8], &str); 7] = [
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"Rar!", "rar"),
];

/// The pipeline's notes (a line cut, a row without a column) go to the log: they name line
/// numbers and problems, never the line.
struct LogNotes;

impl Progress for LogNotes {
    fn note(&self, line: &str) {
        tracing::debug!(note = line, "leak watch item");
    }
}

/// The name the pipeline's records carry (`leak.matched`'s `source`): one per item, which is
/// what the built-in rule raises one alert — and so one incident — for; or, once the source
/// has opened its day's allowance of incidents (`overflow`: the day), the day's overflow
/// label, so that the rest of the day's matches grow one alert.
pub(crate) fn label(source: &str, name: &str, digest: &str, overflow: Option<&str>) -> String {
    match overflow {
        Some(day) => format!("{source}:over-the-daily-limit-{day}"),
        None => format!(
            "{source}:{}#{}",
            name.replace(['/', '\\'], "_"),
            &digest[..16.min(digest.len())]
        ),
    }
}

/// Matches `bytes` (an item, named `label` in the records) against the vault.
/// An input that cannot be read is quarantined; a vault or audit failure is an error (the
/// item is tried again next poll).
pub(crate) async fn examine(
    bytes: Vec<u8>,
    label: String,
    services: MatchServices<'_>,
    grant: &AdminGrant,
    timeout: Duration,
) -> Result<ItemOutcome, Error> {
    if let Some((_, format)) = COMPRESSED
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
    {
        return Ok(ItemOutcome::Quarantined(format!(
            "compressed ({format}): not unpacked here; unpack it into a drop directory"
        )));
    }
    if bytes.is_empty() {
        return Ok(ItemOutcome::Clean);
    }
    let size = bytes.len() as u64;
    let input = Input::new(Box::new(Cursor::new(bytes)), size, label);
    let dump = match PreparedDump::new(input, &DumpOptions::default(), None) {
        Ok(dump) => dump,
        Err(error @ (Error::Utf16 { .. } | Error::NotText { .. } | Error::Plan { .. })) => {
            return Ok(ItemOutcome::Quarantined(error.to_string()));
        }
        Err(Error::Read { .. }) => {
            return Ok(ItemOutcome::Quarantined("unreadable".into()));
        }
        Err(error) => return Err(error),
    };
    let settings = MatchSettings {
        batch: 4096,
        index: crate::IndexChoice::Auto,
        out: None,
    };
    let mut summary = std::io::sink();
    let matching = crate::match_dump(
        dump,
        settings,
        services,
        grant.clone(),
        &LogNotes,
        &mut summary,
    );
    match tokio::time::timeout(timeout, matching).await {
        Err(_) => Ok(ItemOutcome::Quarantined(format!(
            "not read through within {} s",
            timeout.as_secs()
        ))),
        Ok(Ok(outcome)) if outcome.customers > 0 => Ok(ItemOutcome::Matched {
            customers: outcome.customers,
        }),
        Ok(Ok(_)) => Ok(ItemOutcome::Clean),
        Ok(Err(Error::Read { .. })) => Ok(ItemOutcome::Quarantined("unreadable".into())),
        Ok(Err(error)) => Err(error),
    }
}

/// The `leak.item_scanned` record of an item: its source, name, digest, size and outcome
/// (counts, or why it was refused) — never its content.
pub(crate) async fn record(
    services: MatchServices<'_>,
    grant: &AdminGrant,
    source: &str,
    name: &str,
    digest: &str,
    size: u64,
    outcome: &ItemOutcome,
) -> Result<(), Error> {
    let mut event = SecurityEvent::new(
        SystemClock.now(),
        EventKind::LeakItemScanned,
        grant.actor().clone(),
    )
    .context(grant.context())
    .reason(outcome.as_str())
    .detail("source", source)
    .detail("item", name)
    .detail("digest", digest)
    .detail("bytes", size.to_string());
    match outcome {
        ItemOutcome::Matched { customers } => {
            event = event.detail("customers", customers.to_string());
        }
        ItemOutcome::Clean => event = event.detail("customers", "0"),
        ItemOutcome::Quarantined(reason) => event = event.detail("quarantine", reason.as_str()),
    }
    services
        .events
        .record(event)
        .await
        .map(|_| ())
        .map_err(Error::Audit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_outcome_has_its_name() {
        assert_eq!(ItemOutcome::Matched { customers: 2 }.as_str(), "matched");
        assert_eq!(ItemOutcome::Clean.as_str(), "clean");
        assert_eq!(ItemOutcome::Quarantined("x".into()).as_str(), "quarantined");
        assert!(
            COMPRESSED
                .iter()
                .any(|(magic, _)| b"\x1f\x8b\x08".starts_with(magic))
        );
    }
}
