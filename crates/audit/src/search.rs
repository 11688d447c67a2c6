//! Search over the live log: a filtered scan, oldest first, paged by seq.
//!
//! A scan is enough for the live log, which retention keeps to days of events; forensic
//! questions over months go to the Parquet archive, whose layout (statistics, bloom filters,
//! binary IPs) is built for them.

use std::path::Path;

use haechi_events::{EventKind, Principal, SecurityEvent, Timestamp};
use ipnet::IpNet;

use crate::reader::LogCursor;
use crate::{AuditRecord, Error};

/// The most records one page returns, whatever the caller asks for: a page is an HTTP
/// response, and an unbounded one would let one admin request hold the whole log in memory.
pub const MAX_PAGE: usize = 10_000;

/// Which records a search returns. Every condition that is set must hold; an empty filter
/// matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchFilter {
    /// Only events touching this customer's data.
    pub customer_id: Option<String>,
    /// Only events by this principal.
    pub principal: Option<Principal>,
    /// Only events from this network (a single address is a /32 or /128).
    pub ip: Option<IpNet>,
    /// Only events at or after this instant.
    pub from: Option<Timestamp>,
    /// Only events before this instant.
    pub to: Option<Timestamp>,
    /// Only events of these kinds (empty: any kind).
    pub kinds: Vec<EventKind>,
}

impl SearchFilter {
    /// Whether `event` satisfies every condition set.
    pub fn matches(&self, event: &SecurityEvent) -> bool {
        self.customer_id
            .as_ref()
            .is_none_or(|customer| event.customer_id.as_ref() == Some(customer))
            && self
                .principal
                .as_ref()
                .is_none_or(|principal| event.principal == *principal)
            && self
                .ip
                .as_ref()
                .is_none_or(|network| event.ip.is_some_and(|ip| network.contains(&ip)))
            && self.from.is_none_or(|from| event.time >= from)
            && self.to.is_none_or(|to| event.time < to)
            && (self.kinds.is_empty() || self.kinds.contains(&event.kind))
    }
}

/// Which page of matches to return: results come oldest first (ascending seq); the next page
/// starts after the last seq of this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Return only records with a seq greater than this (0: from the start).
    pub after_seq: u64,
    /// At most this many records (clamped to [`MAX_PAGE`]).
    pub limit: usize,
}

impl Page {
    /// The first page of `limit` records.
    pub fn first(limit: usize) -> Self {
        Page {
            after_seq: 0,
            limit,
        }
    }
}

/// The search parameters [`parse_search`] understands, in the order the API documents them.
pub const SEARCH_PARAMETERS: &[&str] = &[
    "customer",
    "principal",
    "ip",
    "from",
    "to",
    "kind",
    "after",
    "limit",
];

/// A search parameter that cannot be used: which one, and why. The API answers it with a 400
/// naming the parameter; the CLI names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct BadParameter {
    /// The parameter's name (`customer`, `ip`, …).
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Builds a filter and a page from named text parameters, as the API's query string and the
/// CLI's flags give them: `customer` (an id), `principal` (`customer:ID`, `service:NAME`,
/// `admin:NAME`, `anonymous`), `ip` (an address or a network such as `203.0.113.0/24`), `from`
/// and `to` (RFC 3339 or `YYYY-MM-DD`, UTC; `from` inclusive, `to` exclusive), `kind` (dotted
/// names, repeated or comma-separated), `after` (a seq: the page starts after it) and `limit`
/// (1 to [`MAX_PAGE`]; `default_limit` when absent). An empty value counts as absent; every
/// other parameter may appear once, and an unknown one is refused.
pub fn parse_search<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    default_limit: usize,
) -> Result<(SearchFilter, Page), BadParameter> {
    let mut filter = SearchFilter::default();
    let mut page = Page::first(default_limit.clamp(1, MAX_PAGE));
    let mut seen: Vec<&str> = Vec::new();
    for (name, value) in params {
        let bad = |reason: String| BadParameter {
            name: name.chars().take(64).collect(),
            reason,
        };
        if !SEARCH_PARAMETERS.contains(&name) {
            return Err(bad(format!(
                "unknown parameter; known are {}",
                SEARCH_PARAMETERS.join(", ")
            )));
        }
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if name != "kind" {
            if seen.contains(&name) {
                return Err(bad("given more than once".into()));
            }
            seen.push(name);
        }
        apply_parameter(name, value, &mut filter, &mut page).map_err(bad)?;
    }
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && to <= from
    {
        return Err(BadParameter {
            name: "to".into(),
            reason: "must be after from".into(),
        });
    }
    Ok((filter, page))
}

/// Sets the part of `filter` or `page` that the known parameter `name` gives; the error is the
/// reason the value is refused.
fn apply_parameter(
    name: &str,
    value: &str,
    filter: &mut SearchFilter,
    page: &mut Page,
) -> Result<(), String> {
    match name {
        "customer" => {
            let valid = value.len() <= 128
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !valid {
                return Err("not a customer id (up to 128 of a-z, A-Z, 0-9, '-', '_', '.')".into());
            }
            filter.customer_id = Some(value.to_string());
        }
        "principal" => {
            filter.principal = Some(value.parse().map_err(|_| {
                "expected customer:ID, service:NAME, admin:NAME or anonymous".to_string()
            })?);
        }
        "ip" => {
            let network = match value.parse::<IpNet>() {
                Ok(network) => network,
                Err(_) => value
                    .parse::<std::net::IpAddr>()
                    .map(IpNet::from)
                    .map_err(|_| {
                        "expected an IP address or a network such as 203.0.113.0/24".to_string()
                    })?,
            };
            filter.ip = Some(network);
        }
        "from" | "to" => {
            let time = Timestamp::parse(value).ok_or_else(|| {
                "expected an RFC 3339 time (2025-06-24T03:12:45Z) or a date (2025-06-24)"
                    .to_string()
            })?;
            if name == "from" {
                filter.from = Some(time);
            } else {
                filter.to = Some(time);
            }
        }
        "kind" => {
            for kind in value.split(',').map(str::trim).filter(|k| !k.is_empty()) {
                let kind = kind.parse::<EventKind>().map_err(|_| {
                    format!(
                        "unknown event kind {:?}",
                        kind.chars().take(64).collect::<String>()
                    )
                })?;
                if !filter.kinds.contains(&kind) {
                    filter.kinds.push(kind);
                }
            }
        }
        "after" => {
            page.after_seq = value
                .parse()
                .map_err(|_| "expected a sequence number".to_string())?;
        }
        "limit" => {
            page.limit = value
                .parse::<usize>()
                .ok()
                .filter(|limit| (1..=MAX_PAGE).contains(limit))
                .ok_or_else(|| format!("expected a number from 1 to {MAX_PAGE}"))?;
        }
        _ => unreachable!("every known parameter is matched above"),
    }
    Ok(())
}

/// Searches the log in `dir` (which may be live or closed), oldest first. Records before the
/// oldest segment still in the directory (pruned into the archive) are not searched.
pub fn search(dir: &Path, filter: &SearchFilter, page: Page) -> Result<Vec<AuditRecord>, Error> {
    search_upto(dir, filter, page, u64::MAX)
}

/// [`search`] over records with seq ≤ `upto` only (the live log passes its durable seq).
pub(crate) fn search_upto(
    dir: &Path,
    filter: &SearchFilter,
    page: Page,
    upto: u64,
) -> Result<Vec<AuditRecord>, Error> {
    let limit = page.limit.min(MAX_PAGE);
    let mut found = Vec::new();
    let Some(oldest) = LogCursor::oldest_seq(dir)? else {
        return Ok(found);
    };
    let mut next = page.after_seq.saturating_add(1).max(oldest);
    let mut cursor = LogCursor::new(dir);
    while found.len() < limit && next <= upto {
        let chunk = cursor.read(next, upto, 4096)?;
        let Some(last) = chunk.last() else {
            break;
        };
        next = last.seq + 1;
        for record in chunk {
            if filter.matches(&record.event) {
                found.push(record);
                if found.len() == limit {
                    break;
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn check(filter: SearchFilter, event: &SecurityEvent, expected: bool) {
        assert_eq!(filter.matches(event), expected, "{filter:?}");
    }

    fn parse(query: &[(&str, &str)]) -> Result<(SearchFilter, Page), BadParameter> {
        parse_search(query.iter().copied(), 100)
    }

    fn refused(query: &[(&str, &str)]) -> String {
        parse(query).unwrap_err().name
    }

    #[test]
    fn parameters_parse_into_a_filter_and_a_page() {
        let (filter, page) = parse(&[("customer", "c_1")]).unwrap();
        assert_eq!(filter.customer_id.as_deref(), Some("c_1"));
        assert_eq!(page, Page::first(100));
        let (filter, page) = parse(&[
            ("principal", "service:shipping"),
            ("ip", "203.0.113.7"),
            ("from", "2025-06-01"),
            ("to", "2025-06-24T03:12:45Z"),
            ("kind", "pii.read,pii.lookup"),
            ("kind", "pii.read"),
            ("after", "42"),
            ("limit", "7"),
            ("customer", ""),
        ])
        .unwrap();
        assert_eq!(filter.customer_id, None);
        assert_eq!(
            filter.principal,
            Some(Principal::Service("shipping".into()))
        );
        assert_eq!(filter.ip, Some("203.0.113.7/32".parse().unwrap()));
        assert_eq!(filter.from, Timestamp::parse("2025-06-01"));
        assert_eq!(filter.kinds, vec![EventKind::PiiRead, EventKind::PiiLookup]);
        assert_eq!(
            page,
            Page {
                after_seq: 42,
                limit: 7
            }
        );
    }

    #[test]
    fn bad_parameters_are_named() {
        for (query, name) in [
            (&[("customer", "c 1")][..], "customer"),
            (&[("principal", "root")][..], "principal"),
            (&[("ip", "300.1.1.1")][..], "ip"),
            (&[("from", "yesterday")][..], "from"),
            (&[("from", "2025-06-02"), ("to", "2025-06-01")][..], "to"),
            (&[("kind", "pii.read,pii.steal")][..], "kind"),
            (&[("after", "-1")][..], "after"),
            (&[("limit", "0")][..], "limit"),
            (&[("limit", "10001")][..], "limit"),
            (&[("ip", "10.0.0.1"), ("ip", "10.0.0.2")][..], "ip"),
            (&[("jti", "j_1")][..], "jti"),
        ] {
            assert_eq!(refused(query), name, "{query:?}");
        }
    }

    #[test]
    fn filter_conditions() {
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        let event = SecurityEvent::new(
            Timestamp::from_secs(100),
            EventKind::PiiRead,
            Principal::Service("shipping".into()),
        )
        .customer("c_1")
        .ip(Some(ip));
        check(SearchFilter::default(), &event, true);
        let by = |filter: SearchFilter| filter;
        check(
            by(SearchFilter {
                customer_id: Some("c_1".into()),
                ..Default::default()
            }),
            &event,
            true,
        );
        check(
            by(SearchFilter {
                customer_id: Some("c_2".into()),
                ..Default::default()
            }),
            &event,
            false,
        );
        check(
            by(SearchFilter {
                principal: Some(Principal::Service("shipping".into())),
                ..Default::default()
            }),
            &event,
            true,
        );
        check(
            by(SearchFilter {
                principal: Some(Principal::Anonymous),
                ..Default::default()
            }),
            &event,
            false,
        );
        check(
            by(SearchFilter {
                ip: Some("203.0.113.0/24".parse().unwrap()),
                ..Default::default()
            }),
            &event,
            true,
        );
        check(
            by(SearchFilter {
                ip: Some("198.51.100.0/24".parse().unwrap()),
                ..Default::default()
            }),
            &event,
            false,
        );
        check(
            by(SearchFilter {
                from: Some(Timestamp::from_secs(100)),
                ..Default::default()
            }),
            &event,
            true,
        );
        check(
            by(SearchFilter {
                to: Some(Timestamp::from_secs(100)),
                ..Default::default()
            }),
            &event,
            false,
        );
        check(
            by(SearchFilter {
                kinds: vec![EventKind::PiiWrite, EventKind::PiiRead],
                ..Default::default()
            }),
            &event,
            true,
        );
        check(
            by(SearchFilter {
                kinds: vec![EventKind::LoginOk],
                ..Default::default()
            }),
            &event,
            false,
        );
    }
}
