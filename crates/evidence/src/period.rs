//! Periods and months, in Korean time.
//!
//! An auditor's "March" is March in Korea: every day and month boundary here is KST
//! (UTC+9, no daylight saving), whatever the server's zone.

use std::fmt;
use std::str::FromStr;

use haechi_events::Timestamp;
use time::{Date, Month, OffsetDateTime, UtcOffset};

use crate::Error;

const KST_SECONDS: i64 = 9 * 3600;
const DAY_SECONDS: i64 = 24 * 3600;

/// The longest period one report covers: a certification cycle and its year before.
pub const MAX_PERIOD_DAYS: i64 = 3 * 366;

/// Days `from` to `to`, both inclusive, in KST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    from: Date,
    to: Date,
}

impl Period {
    /// The period from `from` to `to` (`YYYY-MM-DD`, inclusive). Refuses a reversed period
    /// or one longer than [`MAX_PERIOD_DAYS`].
    pub fn parse(from: &str, to: &str) -> Result<Self, Error> {
        let from = parse_date(from)?;
        let to = parse_date(to)?;
        Period::new(from, to)
    }

    /// The period of two dates.
    pub fn new(from: Date, to: Date) -> Result<Self, Error> {
        if to < from {
            return Err(Error::Period(format!("{to} is before {from}")));
        }
        if (to - from).whole_days() >= MAX_PERIOD_DAYS {
            return Err(Error::Period(format!(
                "a report covers at most {MAX_PERIOD_DAYS} days; split the period"
            )));
        }
        Ok(Period { from, to })
    }

    /// Refuses a period that starts after `now`'s day (KST): a report about days that have not
    /// happened would judge today's facts under tomorrow's date.
    pub fn not_after(self, now: Timestamp) -> Result<Self, Error> {
        let today = kst_date(now);
        if self.from > today {
            return Err(Error::Period(format!(
                "the period starts {}, after today ({today} KST)",
                self.from
            )));
        }
        Ok(self)
    }

    /// First day.
    pub fn from(&self) -> Date {
        self.from
    }

    /// Last day (inclusive).
    pub fn to(&self) -> Date {
        self.to
    }

    /// The first instant of the period (00:00 KST of `from`).
    pub fn start(&self) -> Timestamp {
        day_start(self.from)
    }

    /// The first instant after the period (00:00 KST of the day after `to`).
    pub fn end(&self) -> Timestamp {
        Timestamp::from_secs(day_start(self.to).as_secs() + DAY_SECONDS)
    }

    /// Whether `at` falls in the period.
    pub fn contains(&self, at: Timestamp) -> bool {
        at >= self.start() && at < self.end()
    }

    /// Days in the period.
    pub fn days(&self) -> usize {
        usize::try_from((self.to - self.from).whole_days() + 1).unwrap_or(0)
    }

    /// The day index of `at` within the period (0 = `from`), if it falls in it.
    pub fn day_index(&self, at: Timestamp) -> Option<usize> {
        if !self.contains(at) {
            return None;
        }
        usize::try_from((at.as_secs() - self.start().as_secs()) / DAY_SECONDS).ok()
    }

    /// Every day's label (`MM-DD`), in order.
    pub fn day_labels(&self) -> Vec<String> {
        (0..self.days())
            .map(|index| {
                let day = self.from + time::Duration::days(index as i64);
                format!("{:02}-{:02}", u8::from(day.month()), day.day())
            })
            .collect()
    }

    /// The months the period touches, in order.
    pub fn months(&self) -> Vec<YearMonth> {
        let mut months = Vec::new();
        let mut month = YearMonth::of_date(self.from);
        let last = YearMonth::of_date(self.to);
        while month <= last {
            months.push(month);
            month = month.next();
        }
        months
    }
}

/// A calendar month in KST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct YearMonth {
    year: i32,
    month: Month,
}

impl YearMonth {
    /// The month of a date.
    pub fn of_date(date: Date) -> Self {
        YearMonth {
            year: date.year(),
            month: date.month(),
        }
    }

    /// The month (KST) an instant falls in.
    pub fn of(at: Timestamp) -> Self {
        YearMonth::of_date(kst_date(at))
    }

    /// The month after.
    pub fn next(self) -> Self {
        match self.month {
            Month::December => YearMonth {
                year: self.year + 1,
                month: Month::January,
            },
            month => YearMonth {
                year: self.year,
                month: month.next(),
            },
        }
    }

    /// The month before.
    pub fn previous(self) -> Self {
        match self.month {
            Month::January => YearMonth {
                year: self.year - 1,
                month: Month::December,
            },
            month => YearMonth {
                year: self.year,
                month: month.previous(),
            },
        }
    }

    /// Its first instant (00:00 KST on the 1st).
    pub fn start(self) -> Timestamp {
        Date::from_calendar_date(self.year, self.month, 1)
            .map(day_start)
            .unwrap_or(Timestamp::EPOCH)
    }

    /// The first instant of the next month.
    pub fn end(self) -> Timestamp {
        self.next().start()
    }
}

impl fmt::Display for YearMonth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, u8::from(self.month))
    }
}

impl FromStr for YearMonth {
    type Err = Error;

    /// `YYYY-MM`.
    fn from_str(text: &str) -> Result<Self, Error> {
        let bad = || Error::Period(format!("{text:?} is not a month (YYYY-MM)"));
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u8 = month.parse().map_err(|_| bad())?;
        let month = Month::try_from(month).map_err(|_| bad())?;
        // 9999-12 has no month after it to end at.
        if !(1970..=9998).contains(&year) {
            return Err(bad());
        }
        Ok(YearMonth { year, month })
    }
}

/// `YYYY-MM-DD`, strictly.
pub fn parse_date(text: &str) -> Result<Date, Error> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = Date::parse(text.trim(), &format)
        .map_err(|_| Error::Period(format!("{text:?} is not a date (YYYY-MM-DD)")))?;
    if !(1970..=9998).contains(&date.year()) {
        return Err(Error::Period(format!(
            "{text:?} is not between 1970 and 9998"
        )));
    }
    Ok(date)
}

/// The KST date of an instant.
pub fn kst_date(at: Timestamp) -> Date {
    let offset = UtcOffset::from_whole_seconds(KST_SECONDS as i32).unwrap_or(UtcOffset::UTC);
    OffsetDateTime::from_unix_timestamp(at.as_secs())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset)
        .date()
}

/// `2026-03-01 14:05 KST`.
pub fn kst_minute(at: Timestamp) -> String {
    let offset = UtcOffset::from_whole_seconds(KST_SECONDS as i32).unwrap_or(UtcOffset::UTC);
    let instant = OffsetDateTime::from_unix_timestamp(at.as_secs())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset);
    format!(
        "{} {:02}:{:02} KST",
        instant.date(),
        instant.hour(),
        instant.minute()
    )
}

fn day_start(date: Date) -> Timestamp {
    let midnight_utc = date.midnight().assume_utc().unix_timestamp();
    Timestamp::from_secs(midnight_utc - KST_SECONDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_runs_from_midnight_kst_to_the_midnight_after_its_last_day() {
        let period = Period::parse("2026-03-01", "2026-03-31").unwrap();
        assert_eq!(period.start().to_rfc3339(), "2026-02-28T15:00:00.000000Z");
        assert_eq!(period.end().to_rfc3339(), "2026-03-31T15:00:00.000000Z");
        assert_eq!(period.days(), 31);
        let last_minute = Timestamp::parse("2026-03-31T14:59:59Z").unwrap();
        assert_eq!(period.day_index(last_minute), Some(30));
        assert_eq!(period.day_index(period.end()), None);
    }

    #[test]
    fn months_cross_the_year() {
        let period = Period::parse("2025-11-15", "2026-02-01").unwrap();
        let months: Vec<String> = period.months().iter().map(|m| m.to_string()).collect();
        assert_eq!(months, ["2025-11", "2025-12", "2026-01", "2026-02"]);
        let december: YearMonth = "2025-12".parse().unwrap();
        assert_eq!(
            december.end(),
            "2026-01".parse::<YearMonth>().unwrap().start()
        );
    }

    proptest::proptest! {
        #[test]
        fn any_text_is_a_date_a_month_or_a_clear_error(from in ".{0,24}", to in ".{0,24}") {
            let _ = Period::parse(&from, &to);
            let _ = from.parse::<YearMonth>();
        }

        #[test]
        fn every_instant_of_a_period_has_its_day(days in 0_i64..1000, offset in 0_i64..86_400_000) {
            let period = Period::new(
                time::macros::date!(2024 - 02 - 28),
                time::macros::date!(2024 - 02 - 28) + time::Duration::days(days),
            ).unwrap();
            let at = Timestamp::from_micros(period.start().as_micros() + offset * 1000 * (days + 1));
            let index = period.day_index(at).unwrap();
            proptest::prop_assert!(index < period.days());
            proptest::prop_assert_eq!(YearMonth::of(at), YearMonth::of_date(kst_date(at)));
        }
    }

    #[test]
    fn bad_periods_are_refused_with_the_reason() {
        assert!(Period::parse("2026-03-02", "2026-03-01").is_err());
        assert!(Period::parse("2020-01-01", "2026-01-01").is_err());
        assert!(Period::parse("2026-3-1", "2026-03-01").is_err());
        assert!(Period::parse("yesterday", "2026-03-01").is_err());
        assert!("2026-13".parse::<YearMonth>().is_err());
        assert!("26-01".parse::<YearMonth>().is_err());
    }
}
