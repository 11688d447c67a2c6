//! Indicators of compromise, the time window, and how they combine into a query.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use haechi_events::{Principal, SecurityEvent, Timestamp};
use ipnet::IpNet;
use serde::Serialize;

use crate::Error;
use crate::alert::AlertSource;

/// Longest indicator value accepted (ids are far shorter; user agents are cut at 256 bytes by
/// the server).
const MAX_VALUE_LEN: usize = 1024;

/// The kinds of indicator a scope takes, by the audit column each one selects on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    /// A client address or network (`ip`, `ip_bin`).
    Ip,
    /// A signing-key id (`kid`).
    Kid,
    /// An access-token id (`jti`).
    Jti,
    /// A session id (`sid`).
    Sid,
    /// A principal: `customer:ID`, `service:NAME`, `admin:NAME`, `anonymous` (`principal`).
    Principal,
    /// An exact client `User-Agent` (`user_agent`).
    UserAgent,
}

impl IndicatorKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [IndicatorKind; 6] = [
        IndicatorKind::Ip,
        IndicatorKind::Kid,
        IndicatorKind::Jti,
        IndicatorKind::Sid,
        IndicatorKind::Principal,
        IndicatorKind::UserAgent,
    ];

    /// The kind's name in indicator files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "ip",
            IndicatorKind::Kid => "kid",
            IndicatorKind::Jti => "jti",
            IndicatorKind::Sid => "sid",
            IndicatorKind::Principal => "principal",
            IndicatorKind::UserAgent => "user_agent",
        }
    }

    /// Parses a kind's name (`user-agent` is accepted for `user_agent`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = if text == "user-agent" {
            "user_agent"
        } else {
            text
        };
        IndicatorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an investigator knows about an attacker. Every set may be empty; an event matches a
/// non-empty set when its column equals one of the values (an address: lies in one of the
/// networks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Indicators {
    /// Client networks; a single address is a /32 or /128. Kept in the order added, without
    /// duplicates.
    #[serde(serialize_with = "networks_as_text")]
    pub networks: Vec<IpNet>,
    /// Signing-key ids.
    pub kids: BTreeSet<String>,
    /// Access-token ids.
    pub jtis: BTreeSet<String>,
    /// Session ids.
    pub sids: BTreeSet<String>,
    /// Principals in their text form (`customer:ID` …).
    pub principals: BTreeSet<String>,
    /// Exact `User-Agent` values.
    pub user_agents: BTreeSet<String>,
}

impl Indicators {
    /// Adds one indicator given as text, checking it: a network must parse as an address or
    /// CIDR (`203.0.113.7`, `203.0.113.0/24`, `2001:db8::/32`), a principal must be one, and
    /// no value may be empty or hold control characters.
    pub fn add(&mut self, kind: IndicatorKind, value: &str) -> Result<(), Error> {
        let what = || format!("{kind} {:?}", truncate(value, 80));
        let value = if kind == IndicatorKind::UserAgent {
            value
        } else {
            value.trim()
        };
        if value.is_empty() {
            return Err(Error::bad_input(what(), "empty value"));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(Error::bad_input(
                what(),
                format!("longer than {MAX_VALUE_LEN} bytes"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(Error::bad_input(what(), "holds control characters"));
        }
        match kind {
            IndicatorKind::Ip => {
                let network =
                    parse_network(value).map_err(|reason| Error::bad_input(what(), reason))?;
                if !self.networks.contains(&network) {
                    self.networks.push(network);
                }
            }
            IndicatorKind::Kid | IndicatorKind::Jti | IndicatorKind::Sid => {
                if value.chars().any(char::is_whitespace) {
                    return Err(Error::bad_input(what(), "ids hold no spaces"));
                }
                let set = match kind {
                    IndicatorKind::Kid => &mut self.kids,
                    IndicatorKind::Jti => &mut self.jtis,
                    _ => &mut self.sids,
                };
                set.insert(value.to_string());
            }
            IndicatorKind::Principal => {
                let principal: Principal = value.parse().map_err(|_| {
                    Error::bad_input(
                        what(),
                        "not a principal (customer:ID, service:NAME, admin:NAME or anonymous)",
                    )
                })?;
                self.principals.insert(principal.to_string());
            }
            IndicatorKind::UserAgent => {
                self.user_agents.insert(value.to_string());
            }
        }
        Ok(())
    }

    /// Whether no indicator is set.
    pub fn is_empty(&self) -> bool {
        self.kinds().is_empty()
    }

    /// The kinds with at least one value.
    pub fn kinds(&self) -> Vec<IndicatorKind> {
        IndicatorKind::ALL
            .into_iter()
            .filter(|kind| match kind {
                IndicatorKind::Ip => !self.networks.is_empty(),
                IndicatorKind::Kid => !self.kids.is_empty(),
                IndicatorKind::Jti => !self.jtis.is_empty(),
                IndicatorKind::Sid => !self.sids.is_empty(),
                IndicatorKind::Principal => !self.principals.is_empty(),
                IndicatorKind::UserAgent => !self.user_agents.is_empty(),
            })
            .collect()
    }
}

fn networks_as_text<S: serde::Serializer>(
    networks: &[IpNet],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(networks.iter().map(ToString::to_string))
}

fn truncate(text: &str, chars: usize) -> String {
    text.chars().take(chars).collect()
}

/// Parses an address or a network. A network with host bits set (`203.0.113.7/24`) is
/// refused: it usually means a typo, and silently widening it would change the scope.
fn parse_network(text: &str) -> Result<IpNet, String> {
    if text.contains('/') {
        let network: IpNet = text
            .parse()
            .map_err(|_| "not an address or CIDR network".to_string())?;
        if network.trunc() != network {
            return Err(format!("host bits set; did you mean {}?", network.trunc()));
        }
        Ok(network)
    } else {
        let address: IpAddr = text
            .parse()
            .map_err(|_| "not an address or CIDR network".to_string())?;
        Ok(IpNet::from(address))
    }
}

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
                 --user-agent, --indicators, --alert) or a time window (--from/--to)",
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
        Ok(())
    }
}

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

/// Parses an indicator file: one indicator per line as `KIND VALUE` (`ip 203.0.113.0/24`,
/// `kid …`, `jti …`, `sid …`, `principal customer:…`, `user_agent Mozilla/5.0 …`); blank lines
/// and lines starting with `#` are skipped. An unknown kind is an error naming the line.
pub fn parse_indicator_file(
    text: &str,
    source: &str,
    indicators: &mut Indicators,
) -> Result<usize, Error> {
    let mut added = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, value) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        let Some(kind) = IndicatorKind::parse(kind) else {
            return Err(Error::bad_input(
                format!("{source}:{}", index + 1),
                format!(
                    "unknown indicator type {:?} (known: ip, kid, jti, sid, principal, user_agent)",
                    truncate(kind, 40)
                ),
            ));
        };
        let value = value
            .trim_start_matches([' ', '\t'])
            .trim_end_matches(['\r', '\n']);
        indicators.add(kind, value).map_err(|error| match error {
            Error::BadInput { what, reason } => {
                Error::bad_input(format!("{source}:{}: {what}", index + 1), reason)
            }
            other => other,
        })?;
        added += 1;
    }
    Ok(added)
}

/// Parses a file of values of one kind, one per line (blank lines and `#` comments skipped).
pub(crate) fn parse_value_file(
    text: &str,
    source: &str,
    kind: IndicatorKind,
    indicators: &mut Indicators,
) -> Result<usize, Error> {
    let mut added = 0;
    for (index, line) in text.lines().enumerate() {
        let value = line.trim();
        if value.is_empty() || value.starts_with('#') {
            continue;
        }
        indicators.add(kind, value).map_err(|error| match error {
            Error::BadInput { what, reason } => {
                Error::bad_input(format!("{source}:{}: {what}", index + 1), reason)
            }
            other => other,
        })?;
        added += 1;
    }
    Ok(added)
}

impl Indicators {
    /// Adds every value of a file holding one value of `kind` per line (a `--jti-file`).
    pub fn add_file(
        &mut self,
        kind: IndicatorKind,
        text: &str,
        source: &str,
    ) -> Result<usize, Error> {
        parse_value_file(text, source, kind, self)
    }
}

/// A set of indicator values, tested once per row: a handful are compared directly (cheaper
/// than hashing a 43-byte key id), more go through a fast hash set.
#[derive(Debug, Clone, Default)]
pub(crate) struct TextSet {
    few: Vec<String>,
    many: ahash::AHashSet<String>,
}

/// Up to this many values are compared one by one.
const FEW_VALUES: usize = 4;

impl TextSet {
    fn of(values: &BTreeSet<String>) -> Self {
        if values.len() <= FEW_VALUES {
            TextSet {
                few: values.iter().cloned().collect(),
                many: ahash::AHashSet::new(),
            }
        } else {
            TextSet {
                few: Vec::new(),
                many: values.iter().cloned().collect(),
            }
        }
    }

    /// Whether `value` is one of the values.
    pub fn contains(&self, value: &str) -> bool {
        if self.many.is_empty() {
            self.few.iter().any(|known| known == value)
        } else {
            self.many.contains(value)
        }
    }

    /// Every value.
    pub fn iter(&self) -> impl Iterator<Item = &String> {
        self.few.iter().chain(self.many.iter())
    }
}

/// The query compiled for evaluation: networks as merged ranges of 128-bit addresses (IPv4
/// mapped into IPv6, as the archive's `ip_bin` stores them), strings as hash sets.
#[derive(Debug, Clone)]
pub(crate) struct Matcher {
    pub mode: MatchMode,
    pub window: TimeWindow,
    /// Sorted, non-overlapping inclusive ranges.
    pub networks: Vec<(u128, u128)>,
    /// The single addresses among the networks (and small networks expanded), for bloom
    /// filter probes; `None` when some network is too wide to enumerate.
    pub probe_addresses: Option<Vec<IpAddr>>,
    pub kids: TextSet,
    pub jtis: TextSet,
    pub sids: TextSet,
    pub principals: TextSet,
    pub user_agents: TextSet,
    /// Kinds given, in evaluation order.
    pub kinds: Vec<IndicatorKind>,
}

/// Networks with at most this many addresses in total are enumerated for bloom-filter probes.
const MAX_PROBED_ADDRESSES: u128 = 4096;

impl Matcher {
    pub fn new(query: &Query) -> Self {
        let indicators = &query.indicators;
        let mut ranges: Vec<(u128, u128)> = indicators
            .networks
            .iter()
            .map(|network| {
                let (start, end) = match network {
                    IpNet::V4(v4) => (IpAddr::V4(v4.network()), IpAddr::V4(v4.broadcast())),
                    IpNet::V6(v6) => (IpAddr::V6(v6.network()), IpAddr::V6(v6.broadcast())),
                };
                (address_key(start), address_key(end))
            })
            .collect();
        ranges.sort_unstable();
        let mut merged: Vec<(u128, u128)> = Vec::with_capacity(ranges.len());
        for (start, end) in ranges {
            match merged.last_mut() {
                Some(last) if start <= last.1.saturating_add(1) => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        let total: u128 = merged
            .iter()
            .map(|(start, end)| end - start + 1)
            .fold(0u128, u128::saturating_add);
        let probe_addresses = (!merged.is_empty() && total <= MAX_PROBED_ADDRESSES).then(|| {
            merged
                .iter()
                .flat_map(|&(start, end)| (start..=end).map(key_address))
                .collect()
        });
        let set = TextSet::of;
        Matcher {
            mode: query.mode,
            window: query.window,
            networks: merged,
            probe_addresses,
            kids: set(&indicators.kids),
            jtis: set(&indicators.jtis),
            sids: set(&indicators.sids),
            principals: set(&indicators.principals),
            user_agents: set(&indicators.user_agents),
            kinds: indicators.kinds(),
        }
    }

    /// Whether an address (as its 16-byte `ip_bin` form) lies in one of the networks.
    pub fn network_contains(&self, bin: &[u8]) -> bool {
        let Ok(bytes) = <[u8; 16]>::try_from(bin) else {
            return false;
        };
        let key = u128::from_be_bytes(bytes);
        // The last range starting at or before the key.
        let index = self.networks.partition_point(|&(start, _)| start <= key);
        index > 0 && key <= self.networks[index - 1].1
    }

    /// The string set of a text kind (`None` for `Ip`, which is matched by range).
    pub fn strings(&self, kind: IndicatorKind) -> Option<&TextSet> {
        match kind {
            IndicatorKind::Kid => Some(&self.kids),
            IndicatorKind::Jti => Some(&self.jtis),
            IndicatorKind::Sid => Some(&self.sids),
            IndicatorKind::Principal => Some(&self.principals),
            IndicatorKind::UserAgent => Some(&self.user_agents),
            IndicatorKind::Ip => None,
        }
    }

    /// Combines per-kind results by the match mode. With no indicator kinds, everything
    /// matches (a window-only query).
    pub fn combine(&self, mut per_kind: impl Iterator<Item = bool>) -> bool {
        if self.kinds.is_empty() {
            return true;
        }
        match self.mode {
            MatchMode::Any => per_kind.any(|hit| hit),
            MatchMode::All => per_kind.all(|hit| hit),
        }
    }

    /// Whether `event` is an exposure this query selects (the same decision the archive scan
    /// makes column by column; used for the live log).
    pub fn matches_event(&self, event: &SecurityEvent) -> bool {
        if !is_exposure_kind(event.kind.as_str())
            || !matches!(
                event.decision,
                haechi_events::Decision::Allow | haechi_events::Decision::Mask
            )
            || event.status != 200
            || !self.window.contains(event.time.as_micros())
        {
            return false;
        }
        let text_in = |set: &TextSet, value: &Option<String>| {
            value.as_deref().is_some_and(|value| set.contains(value))
        };
        self.combine(self.kinds.iter().map(|kind| {
            match kind {
                IndicatorKind::Ip => event
                    .ip
                    .is_some_and(|ip| self.network_contains(&haechi_audit::ip_to_bin(ip))),
                IndicatorKind::Kid => text_in(&self.kids, &event.kid),
                IndicatorKind::Jti => text_in(&self.jtis, &event.jti),
                IndicatorKind::Sid => text_in(&self.sids, &event.sid),
                IndicatorKind::Principal => self.principals.contains(&event.principal.to_string()),
                IndicatorKind::UserAgent => text_in(&self.user_agents, &event.user_agent),
            }
        }))
    }
}

/// An address as the 128-bit number of its `ip_bin` form.
fn address_key(address: IpAddr) -> u128 {
    u128::from_be_bytes(haechi_audit::ip_to_bin(address))
}

fn key_address(key: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(key);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
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

    fn check_add(kind: IndicatorKind, value: &str, ok: bool) {
        let mut indicators = Indicators::default();
        assert_eq!(indicators.add(kind, value).is_ok(), ok, "{kind} {value:?}");
    }

    #[test]
    fn indicator_values_are_checked() {
        use IndicatorKind::*;
        check_add(Ip, "203.0.113.7", true);
        check_add(Ip, "203.0.113.0/24", true);
        check_add(Ip, "2001:db8::/32", true);
        check_add(Ip, "203.0.113.7/24", false);
        check_add(Ip, "203.0.113/24", false);
        check_add(Ip, "10.0.0.0/33", false);
        check_add(Ip, "", false);
        check_add(Kid, "abc def", false);
        check_add(Jti, "0123", true);
        check_add(Principal, "customer:c0123", true);
        check_add(Principal, "root", false);
        check_add(UserAgent, "python-requests/2.31", true);
        check_add(UserAgent, "bad\u{7}agent", false);
    }

    #[test]
    fn networks_merge_and_contain() {
        let mut query = Query::default();
        for network in [
            "203.0.113.0/25",
            "203.0.113.128/25",
            "198.51.100.9",
            "2001:db8::1",
        ] {
            query.indicators.add(IndicatorKind::Ip, network).unwrap();
        }
        let matcher = Matcher::new(&query);
        assert_eq!(matcher.networks.len(), 3);
        let bin = |text: &str| haechi_audit::ip_to_bin(text.parse().unwrap());
        assert!(matcher.network_contains(&bin("203.0.113.200")));
        assert!(matcher.network_contains(&bin("198.51.100.9")));
        assert!(!matcher.network_contains(&bin("198.51.100.10")));
        assert!(matcher.network_contains(&bin("2001:db8::1")));
        assert!(!matcher.network_contains(&bin("2001:db8::2")));
        assert_eq!(matcher.probe_addresses.as_ref().map(Vec::len), Some(258));
    }

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

    #[test]
    fn indicator_files_name_unknown_kinds() {
        let mut indicators = Indicators::default();
        let text = "# attacker\nip 203.0.113.0/24\nkid k1\nuser_agent Mozilla/5.0 (X11)\n";
        assert_eq!(
            parse_indicator_file(text, "iocs", &mut indicators).unwrap(),
            3
        );
        assert!(indicators.user_agents.contains("Mozilla/5.0 (X11)"));
        let error = parse_indicator_file("domain evil.example\n", "iocs", &mut indicators)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("iocs:1") && error.contains("unknown indicator type"),
            "{error}"
        );
    }
}
