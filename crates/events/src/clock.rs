//! Time as the domain sees it: microseconds since the Unix epoch, read through a [`Clock`].

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// An instant in UTC with microsecond resolution (the audit event's `time`); the default is
/// the Unix epoch.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

/// In the API's documents an instant is what it serialises as: an integer of microseconds.
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .description(Some("An instant: microseconds since the Unix epoch (UTC)."))
            .examples([1_750_723_200_000_000_i64])
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl Timestamp {
    /// The Unix epoch.
    pub const EPOCH: Timestamp = Timestamp(0);

    /// A timestamp from microseconds since the Unix epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// A timestamp from whole seconds since the Unix epoch.
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp(secs.saturating_mul(1_000_000))
    }

    /// Microseconds since the Unix epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the Unix epoch (rounded down), as JWT `iat`/`exp` use them.
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// This instant moved forward by `duration` (saturating).
    pub fn plus(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_add(micros))
    }

    /// This instant moved back by `duration` (saturating).
    pub fn minus(self, duration: Duration) -> Self {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        Timestamp(self.0.saturating_sub(micros))
    }

    /// How long after `earlier` this instant is; zero if it is not after.
    pub fn since(self, earlier: Timestamp) -> Duration {
        let micros = self.0.saturating_sub(earlier.0).max(0);
        Duration::from_micros(micros.unsigned_abs())
    }

    /// RFC 3339 text with microseconds, e.g. `2025-06-24T03:12:45.123456Z`.
    pub fn to_rfc3339(self) -> String {
        let nanos = i128::from(self.0) * 1000;
        match time::OffsetDateTime::from_unix_timestamp_nanos(nanos) {
            Ok(datetime) => {
                let format = time::macros::format_description!(
                    "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
                );
                datetime
                    .format(&format)
                    .unwrap_or_else(|_| self.0.to_string())
            }
            Err(_) => self.0.to_string(),
        }
    }

    /// The UTC date, e.g. `2025-06-24` (the microseconds as text outside the calendar's range,
    /// as [`Timestamp::to_rfc3339`]).
    pub fn utc_date(self) -> String {
        let text = self.to_rfc3339();
        match text.split_once('T') {
            Some((date, _)) => date.to_string(),
            None => text,
        }
    }

    /// Parses RFC 3339 text (any offset) or a bare date `YYYY-MM-DD` (midnight UTC).
    pub fn parse(text: &str) -> Option<Timestamp> {
        let text = text.trim();
        if let Ok(datetime) =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        {
            let micros = datetime.unix_timestamp_nanos() / 1000;
            return i64::try_from(micros).ok().map(Timestamp);
        }
        let date_format = time::macros::format_description!("[year]-[month]-[day]");
        let date = time::Date::parse(text, &date_format).ok()?;
        let micros = date.midnight().assume_utc().unix_timestamp_nanos() / 1000;
        i64::try_from(micros).ok().map(Timestamp)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Where the domain gets the current time from.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Timestamp;
}

/// The operating system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since_epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX))
    }
}

/// A clock that only moves when told to: the drill and test facility that lets 137 days of
/// traffic run in minutes. Never the default; a server uses it only when started with the
/// drill clock explicitly enabled.
#[derive(Debug)]
pub struct SimulatedClock {
    now_micros: AtomicI64,
}

impl SimulatedClock {
    /// A simulated clock standing at `start`.
    pub fn new(start: Timestamp) -> Self {
        SimulatedClock {
            now_micros: AtomicI64::new(start.0),
        }
    }

    /// Moves the clock to `instant`; a clock never runs backwards, so an earlier instant is
    /// ignored. Returns the time now shown.
    pub fn advance_to(&self, instant: Timestamp) -> Timestamp {
        let previous = self.now_micros.fetch_max(instant.0, Ordering::SeqCst);
        Timestamp(previous.max(instant.0))
    }

    /// Moves the clock forward by `duration`.
    pub fn advance_by(&self, duration: Duration) -> Timestamp {
        let micros = i64::try_from(duration.as_micros()).unwrap_or(i64::MAX);
        let previous = self.now_micros.fetch_add(micros, Ordering::SeqCst);
        Timestamp(previous.saturating_add(micros))
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.now_micros.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_microseconds() {
        let instant = Timestamp::from_micros(1_750_734_765_123_456);
        let text = instant.to_rfc3339();
        assert_eq!(text, "2025-06-24T03:12:45.123456Z");
        assert_eq!(Timestamp::parse(&text), Some(instant));
    }

    #[test]
    fn the_utc_date_is_the_day_in_utc() {
        // 03:12 UTC on the 24th is already noon in Seoul; the date is UTC's.
        assert_eq!(
            Timestamp::from_micros(1_750_734_765_123_456).utc_date(),
            "2025-06-24"
        );
        assert_eq!(Timestamp::from_secs(86_399).utc_date(), "1970-01-01");
        assert_eq!(Timestamp::from_secs(86_400).utc_date(), "1970-01-02");
    }

    #[test]
    fn bare_date_is_midnight_utc() {
        assert_eq!(
            Timestamp::parse("2025-06-24").map(Timestamp::to_rfc3339),
            Some("2025-06-24T00:00:00.000000Z".to_string())
        );
        assert_eq!(Timestamp::parse("24/06/2025"), None);
    }

    #[test]
    fn simulated_clock_never_runs_backwards() {
        let clock = SimulatedClock::new(Timestamp::from_secs(100));
        clock.advance_to(Timestamp::from_secs(50));
        assert_eq!(clock.now(), Timestamp::from_secs(100));
        clock.advance_by(Duration::from_secs(5));
        assert_eq!(clock.now(), Timestamp::from_secs(105));
    }
}
