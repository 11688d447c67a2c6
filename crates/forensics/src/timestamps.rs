//! Times as investigators type them (RFC 3339 or a UTC date) and as reports print them
//! (RFC 3339 in UTC with microseconds).

use haechi_events::Timestamp;

use crate::error::truncate;

/// Parses a time: RFC 3339 (`2025-06-24T03:12:45Z`, `2025-06-24T12:12:45+09:00`, fractions
/// allowed) or a UTC date `YYYY-MM-DD` (its midnight).
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    let text = text.trim();
    let nanos = if let Ok(datetime) =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
    {
        datetime.unix_timestamp_nanos()
    } else if let Ok(date) = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    ) {
        date.midnight().assume_utc().unix_timestamp_nanos()
    } else {
        return Err(format!(
            "{:?} is not a time (RFC 3339 such as 2025-06-24T03:12:45Z, or YYYY-MM-DD)",
            truncate(text, 60)
        ));
    };
    i64::try_from(nanos / 1000)
        .map(Timestamp::from_micros)
        .map_err(|_| "time out of range".to_string())
}

/// Parses a UTC date `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<time::Date, String> {
    time::Date::parse(
        text.trim(),
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| format!("{:?} is not a date (YYYY-MM-DD)", truncate(text, 40)))
}

/// A timestamp as RFC 3339 in UTC with microseconds (`2025-06-24T03:12:45.123456Z`).
pub fn format_time(time: Timestamp) -> String {
    let micros = time.as_micros();
    let days = micros.div_euclid(86_400_000_000);
    let (year, month, day) = civil_from_days(days);
    if !(0..=9999).contains(&year) {
        return format_time_slowly(micros);
    }
    let of_day = micros.rem_euclid(86_400_000_000);
    let seconds = of_day / 1_000_000;
    let fraction = of_day % 1_000_000;
    let mut out = String::with_capacity(27);
    push_digits(&mut out, year, 4);
    let parts = [
        ('-', i64::from(month), 2),
        ('-', i64::from(day), 2),
        ('T', seconds / 3600, 2),
        (':', seconds / 60 % 60, 2),
        (':', seconds % 60, 2),
        ('.', fraction, 6),
    ];
    for (separator, value, width) in parts {
        out.push(separator);
        push_digits(&mut out, value, width);
    }
    out.push('Z');
    out
}

/// Appends `value` (non-negative) as exactly `width` decimal digits.
fn push_digits(out: &mut String, value: i64, width: u32) {
    for position in (0..width).rev() {
        let digit = (value / 10_i64.pow(position)) % 10;
        out.push(char::from(b'0' + digit as u8));
    }
}

/// Year, month, day of a count of days since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// [`format_time`] through the calendar library, for years outside 0–9999.
fn format_time_slowly(micros: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1000) {
        Ok(datetime) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            datetime.year(),
            u8::from(datetime.month()),
            datetime.day(),
            datetime.hour(),
            datetime.minute(),
            datetime.second(),
            datetime.microsecond()
        ),
        Err(_) => format!("@{micros}us"),
    }
}

/// The UTC day of a µs timestamp as `YYYY-MM-DD`.
pub(crate) fn day_of(micros: i64) -> String {
    format_time(Timestamp::from_micros(micros))
        .get(..10)
        .unwrap_or("unknown")
        .to_string()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_and_print() {
        let time = parse_time("2025-06-24T12:12:45.5+09:00").unwrap();
        assert_eq!(format_time(time), "2025-06-24T03:12:45.500000Z");
        assert_eq!(
            format_time(parse_time("2025-06-24").unwrap()),
            "2025-06-24T00:00:00.000000Z"
        );
        assert!(parse_time("24/06/2025").is_err());
        assert!(parse_time("2025-13-01").is_err());
    }

    #[test]
    fn the_fast_time_format_agrees_with_the_calendar_library() {
        let mut value: i64 = 0x1234_5678;
        for _ in 0..20_000 {
            value = value
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let micros = value.rem_euclid(253_402_300_799_999_999 + 62_135_596_800_000_000)
                - 62_135_596_800_000_000;
            assert_eq!(
                format_time(Timestamp::from_micros(micros)),
                format_time_slowly(micros),
                "{micros}"
            );
        }
        assert_eq!(
            format_time(Timestamp::from_micros(-1)),
            "1969-12-31T23:59:59.999999Z"
        );
    }
}
