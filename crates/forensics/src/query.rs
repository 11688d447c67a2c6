//! A forensic question: indicators, how they combine, the time window, and what counts as an
//! exposure.

use haechi_events::Timestamp;
use serde::Serialize;

use crate::Error;
use crate::alert::AlertSource;
use crate::indicators::Indicators;
use crate::timestamps::format_time;

/// How indicators of different kinds combine. Values of one kind are always alternatives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchMode {
    /// An event matches if it matches any kind given: the union of what each indicator
    /// points at. This is what a list of indicators of compromise means — each one is
    /// evidence of the attacker on its own — and it errs on the side of notifying.
    #[default]
    Any,
    /// An event matches only if it matches every kind given: narrowing, e.g. reads with a
    /// key that legitimate clients also used, but only from the attacker's networks.
    All,
}

impl MatchMode {
    /// The mode's name (`any`, `all`).
    pub fn as_str(self) -> &'static str {
        match self {
            MatchMode::Any => "any",
            MatchMode::All => "all",
        }
    }
}

/// A time window: `from` inclusive, `to` exclusive; either may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeWindow {
    /// Events at or after this instant.
    pub from: Option<Timestamp>,
    /// Events before this instant.
    pub to: Option<Timestamp>,
}

impl TimeWindow {
    /// Whether `time` lies in the window.
    pub fn contains(&self, time: i64) -> bool {
        self.from.is_none_or(|from| time >= from.as_micros())
            && self.to.is_none_or(|to| time < to.as_micros())
    }

    /// Whether the closed range `[min, max]` of µs can hold a time in the window.
    pub fn overlaps(&self, min: i64, max: i64) -> bool {
        self.from.is_none_or(|from| max >= from.as_micros())
            && self.to.is_none_or(|to| min < to.as_micros())
    }
}

impl Serialize for TimeWindow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct View {
            from: Option<String>,
            to: Option<String>,
        }
        View {
            from: self.from.map(format_time),
            to: self.to.map(format_time),
        }
        .serialize(serializer)
    }
}

/// Whether events of this kind (its text form) can expose a customer: reads, and lookups,
/// whose answer discloses who holds an e-mail or phone.
pub(crate) fn is_exposure_kind(kind: &str) -> bool {
    matches!(kind, "pii.read" | "pii.lookup")
}

/// A forensic question: indicators, how they combine, and the window. The scope always
/// takes events of kind `pii.read` or `pii.lookup`, decision `allow` or `mask`, status 200.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Query {
    /// What is known about the attacker.
    pub indicators: Indicators,
    /// How indicators of different kinds combine.
    #[serde(rename = "match")]
    pub mode: MatchMode,
    /// The window (always ANDed with the indicators).
    pub window: TimeWindow,
    /// The detection alert the indicators were taken from (`--alert ID`), if any: which
    /// indicators it gave and which of its group fields it could not. Left out of the
    /// serialised query when absent, so queries without an alert hash as they always did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertSource>,
    /// The incident the indicators were taken from (`--incident ID`), if any. Left out when
    /// absent, like `alert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentSource>,
}

/// An incident as a source of indicators: its correlating values (the keys, addresses,
/// principals its alerts were tied by), any of which marks an event as the attack's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IncidentSource {
    /// The incident's id.
    pub id: String,
    /// The indicator kinds taken (its rules' `incident.correlate`).
    pub correlated_on: Vec<String>,
    /// Values the incident counted past those it lists (not in the query).
    pub unlisted: u64,
}

impl Query {
    /// Checks that the query can be answered: the window is not empty, and either some
    /// indicator or a window bound is given (a query with neither would list everyone whose
    /// data was ever read, which is never what an investigator means).
    pub fn validate(&self) -> Result<(), Error> {
        if let (Some(from), Some(to)) = (self.window.from, self.window.to)
            && to <= from
        {
            return Err(Error::bad_input(
                "--from/--to",
                format!(
                    "empty window: {} is not after {}",
                    format_time(to),
                    format_time(from)
                ),
            ));
        }
        if self.indicators.is_empty() && self.window.from.is_none() && self.window.to.is_none() {
            return Err(Error::bad_input(
                "indicators",
                "give at least one indicator (--ip, --kid, --jti, --jti-file, --sid, --principal, \
                 --user-agent, --indicators, --alert, --incident) or a time window (--from/--to)",
            ));
        }
        // An alert's indicators describe one group together (its principal *and* the agent it
        // used); their union would take in every legitimate read of the same principal.
        if let Some(alert) = &self.alert
            && self.mode == MatchMode::Any
        {
            return Err(Error::bad_input(
                format!("--alert {} with --match any", alert.id),
                "an alert's indicators combine with --match all (every one must match)",
            ));
        }
        // An incident's values are alternatives (any key, any address it was tied by);
        // requiring all of them at once would match nothing.
        if let Some(incident) = &self.incident
            && self.mode == MatchMode::All
        {
            return Err(Error::bad_input(
                format!("--incident {} with --match all", incident.id),
                "an incident's indicators combine with --match any (each is the attack's)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    use crate::timestamps::parse_time;

    #[test]
    fn windows_must_not_be_empty() {
        let mut query = Query::default();
        assert!(query.validate().is_err(), "no indicator and no window");
        query.window.from = Some(parse_time("2025-06-02").unwrap());
        query.window.to = Some(parse_time("2025-06-01").unwrap());
        assert!(query.validate().is_err());
        query.window.to = Some(parse_time("2025-06-03").unwrap());
        assert!(query.validate().is_ok());
    }
}
