//! Durations in rules: `30s`, `10m`, `1h`, `1d`, bounded so that no window needs unbounded
//! state, and held as microseconds of event time.

use std::time::Duration;

use crate::yaml::{Node, Problem};

/// `duration` in microseconds, saturating.
pub(crate) fn micros(duration: Duration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// Parses `30s`, `10m`, `1h`, `1d` into microseconds, checking `1s ≤ d ≤ max`.
pub(crate) fn duration(node: &Node, what: &str, max: Duration) -> Result<i64, Problem> {
    let text = node.scalar_text().unwrap_or_default();
    let parsed = parse_duration(&text).ok_or_else(|| {
        Problem::at(
            node,
            format!("{what} must be a duration such as 30s, 10m, 1h or 1d, not {text:?}"),
        )
    })?;
    if parsed.is_zero() {
        return Err(Problem::at(node, format!("{what} must be positive")));
    }
    if parsed > max {
        return Err(Problem::at(
            node,
            format!(
                "{what} {text} is longer than the maximum of {}; longer windows would need \
                 unbounded state",
                format_duration(max)
            ),
        ));
    }
    Ok(micros(parsed))
}

/// Parses `30s`, `10m`, `1h` or `1d`; `None` for anything else.
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(seconds).map(Duration::from_secs)
}

/// The shortest of `7d`, `3h`, `10m`, `90s` that is exact.
fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if seconds >= size && seconds.is_multiple_of(size) {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
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
    fn durations_parse_and_print() {
        assert_eq!(parse_duration("10m"), Some(Duration::from_secs(600)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5w"), None);
        assert_eq!(format_duration(Duration::from_secs(7 * 86_400)), "7d");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
    }
}
