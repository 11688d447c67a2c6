//! The fields a rule can name, how they are read from an event, and how their values become
//! compact group and value keys.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::net::IpAddr;

use haechi_events::{Principal, SecurityEvent};

use crate::lookup::StateLookup;

/// A field of the audit event (or a derived or looked-up one) that a rule can name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Field {
    Seq,
    Time,
    Kind,
    Principal,
    PrincipalType,
    Sid,
    Jti,
    Kid,
    Ip,
    UserAgent,
    CustomerId,
    Fields,
    Purpose,
    Decision,
    Status,
    RequestId,
    Reason,
    Detail(Box<str>),
    StateKey,
    StateIpBlocked,
    StatePrincipalSuspended,
    StateTokenIssued,
}

/// How a field's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldType {
    /// Free text (`sid`, `reason`, `detail.*` …).
    Text,
    /// One of the event kinds.
    Kind,
    /// `customer:ID`, `service:NAME`, `admin:NAME`, `anonymous`.
    Principal,
    /// A network address.
    Ip,
    /// An integer (`seq`, `time` in µs, `status`).
    Number,
    /// A set of names (`fields`).
    Set,
    /// `allow`, `mask`, `deny`.
    Decision,
    /// `true` or `false` (the state lookups).
    Bool,
    /// `active`, `retiring`, `retired`, `revoked`, `unknown`.
    KeyState,
}

/// The audit-event field names, in the spec's order, then the derived and looked-up ones.
pub(crate) const FIELD_NAMES: &[&str] = &[
    "seq",
    "time",
    "kind",
    "principal",
    "principal_type",
    "sid",
    "jti",
    "kid",
    "ip",
    "user_agent",
    "customer_id",
    "fields",
    "purpose",
    "decision",
    "status",
    "request_id",
    "reason",
    "detail.NAME",
    "state.key",
    "state.ip_blocked",
    "state.principal_suspended",
    "state.token_issued",
];

impl Field {
    /// The archive column (an audit event's field) this field is read from: a derived field
    /// from the one it derives from, a lookup from the key it looks up.
    pub(crate) fn column(&self) -> &'static str {
        match self {
            Field::Seq => "seq",
            Field::Time => "time",
            Field::Kind => "kind",
            Field::Principal | Field::PrincipalType | Field::StatePrincipalSuspended => "principal",
            Field::Sid => "sid",
            Field::Jti | Field::StateTokenIssued => "jti",
            Field::Kid | Field::StateKey => "kid",
            Field::Ip | Field::StateIpBlocked => "ip",
            Field::UserAgent => "user_agent",
            Field::CustomerId => "customer_id",
            Field::Fields => "fields",
            Field::Purpose => "purpose",
            Field::Decision => "decision",
            Field::Status => "status",
            Field::RequestId => "request_id",
            Field::Reason => "reason",
            Field::Detail(_) => "detail",
        }
    }

    /// Parses a field name; the error lists the names that exist.
    pub(crate) fn parse(name: &str) -> Result<Field, String> {
        let field = match name {
            "seq" => Field::Seq,
            "time" => Field::Time,
            "kind" => Field::Kind,
            "principal" => Field::Principal,
            "principal_type" => Field::PrincipalType,
            "sid" => Field::Sid,
            "jti" => Field::Jti,
            "kid" => Field::Kid,
            "ip" => Field::Ip,
            "user_agent" => Field::UserAgent,
            "customer_id" => Field::CustomerId,
            "fields" => Field::Fields,
            "purpose" => Field::Purpose,
            "decision" => Field::Decision,
            "status" => Field::Status,
            "request_id" => Field::RequestId,
            "reason" => Field::Reason,
            "state.key" => Field::StateKey,
            "state.ip_blocked" => Field::StateIpBlocked,
            "state.principal_suspended" => Field::StatePrincipalSuspended,
            "state.token_issued" => Field::StateTokenIssued,
            _ => match name.strip_prefix("detail.") {
                Some(key)
                    if !key.is_empty()
                        && key.len() <= 64
                        && key
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')) =>
                {
                    Field::Detail(key.into())
                }
                _ => {
                    return Err(format!(
                        "unknown field {name:?}; known fields: {}",
                        FIELD_NAMES.join(", ")
                    ));
                }
            },
        };
        Ok(field)
    }

    /// The field's name as rules spell it.
    pub(crate) fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Field::Seq => "seq",
            Field::Time => "time",
            Field::Kind => "kind",
            Field::Principal => "principal",
            Field::PrincipalType => "principal_type",
            Field::Sid => "sid",
            Field::Jti => "jti",
            Field::Kid => "kid",
            Field::Ip => "ip",
            Field::UserAgent => "user_agent",
            Field::CustomerId => "customer_id",
            Field::Fields => "fields",
            Field::Purpose => "purpose",
            Field::Decision => "decision",
            Field::Status => "status",
            Field::RequestId => "request_id",
            Field::Reason => "reason",
            Field::Detail(key) => return Cow::Owned(format!("detail.{key}")),
            Field::StateKey => "state.key",
            Field::StateIpBlocked => "state.ip_blocked",
            Field::StatePrincipalSuspended => "state.principal_suspended",
            Field::StateTokenIssued => "state.token_issued",
        })
    }

    pub(crate) fn field_type(&self) -> FieldType {
        match self {
            Field::Seq | Field::Time | Field::Status => FieldType::Number,
            Field::Kind => FieldType::Kind,
            Field::Principal => FieldType::Principal,
            Field::Ip => FieldType::Ip,
            Field::Fields => FieldType::Set,
            Field::Decision => FieldType::Decision,
            Field::StateIpBlocked | Field::StatePrincipalSuspended | Field::StateTokenIssued => {
                FieldType::Bool
            }
            Field::StateKey => FieldType::KeyState,
            Field::PrincipalType
            | Field::Sid
            | Field::Jti
            | Field::Kid
            | Field::UserAgent
            | Field::CustomerId
            | Field::Purpose
            | Field::RequestId
            | Field::Reason
            | Field::Detail(_) => FieldType::Text,
        }
    }

    /// Fields that take a new value on (nearly) every event: grouping by them gives one group
    /// per event, state that grows with traffic and never alerts usefully.
    pub(crate) fn is_per_event(&self) -> bool {
        matches!(
            self,
            Field::Seq | Field::Time | Field::RequestId | Field::Jti
        )
    }

    /// Looked-up fields ask Haechi's state and cannot be grouped or counted.
    pub(crate) fn is_lookup(&self) -> bool {
        matches!(
            self,
            Field::StateKey
                | Field::StateIpBlocked
                | Field::StatePrincipalSuspended
                | Field::StateTokenIssued
        )
    }
}

/// An event as rules see it: the event, its sequence number, the time it is evaluated at, and
/// the state lookups.
pub(crate) struct EventView<'a> {
    pub(crate) seq: u64,
    pub(crate) time: i64,
    pub(crate) event: &'a SecurityEvent,
    pub(crate) lookup: &'a dyn StateLookup,
}

/// One field's value in one event.
pub(crate) enum FieldValue<'a> {
    Missing,
    Text(&'a str),
    /// A word of a closed vocabulary (kind, decision, principal type, key state), exact.
    Symbol(&'static str),
    Principal(&'a Principal),
    Ip(IpAddr),
    Number(i64),
    Set(&'a [String]),
    Bool(bool),
}

impl<'a> EventView<'a> {
    pub(crate) fn value(&self, field: &Field) -> FieldValue<'a> {
        let event = self.event;
        let text = |value: &'a Option<String>| match value {
            Some(text) => FieldValue::Text(text.as_str()),
            None => FieldValue::Missing,
        };
        match field {
            Field::Seq => FieldValue::Number(i64::try_from(self.seq).unwrap_or(i64::MAX)),
            Field::Time => FieldValue::Number(self.time),
            Field::Kind => FieldValue::Symbol(event.kind.as_str()),
            Field::Principal => FieldValue::Principal(&event.principal),
            Field::PrincipalType => FieldValue::Symbol(principal_type(&event.principal)),
            Field::Sid => text(&event.sid),
            Field::Jti => text(&event.jti),
            Field::Kid => text(&event.kid),
            Field::Ip => event.ip.map_or(FieldValue::Missing, FieldValue::Ip),
            Field::UserAgent => text(&event.user_agent),
            Field::CustomerId => text(&event.customer_id),
            Field::Fields => FieldValue::Set(&event.fields),
            Field::Purpose => text(&event.purpose),
            Field::Decision => FieldValue::Symbol(event.decision.as_str()),
            Field::Status => FieldValue::Number(i64::from(event.status)),
            Field::RequestId => text(&event.request_id),
            Field::Reason => text(&event.reason),
            Field::Detail(key) => event
                .detail
                .get(key.as_ref())
                .map_or(FieldValue::Missing, |value| FieldValue::Text(value)),
            Field::StateKey => match &event.kid {
                None => FieldValue::Missing,
                Some(kid) => FieldValue::Symbol(
                    self.lookup
                        .key_state(kid)
                        .map_or("unknown", crate::KeyStateView::as_str),
                ),
            },
            Field::StateIpBlocked => match event.ip {
                None => FieldValue::Missing,
                Some(ip) => FieldValue::Bool(self.lookup.is_blocked(ip)),
            },
            Field::StatePrincipalSuspended => {
                FieldValue::Bool(self.lookup.is_suspended(&event.principal))
            }
            Field::StateTokenIssued => match &event.jti {
                None => FieldValue::Missing,
                Some(jti) => match self.lookup.token_issued(jti) {
                    None => FieldValue::Missing,
                    Some(issued) => FieldValue::Bool(issued),
                },
            },
        }
    }
}

/// `customer`, `service`, `admin` or `anonymous`.
pub(crate) fn principal_type(principal: &Principal) -> &'static str {
    match principal {
        Principal::Customer(_) => "customer",
        Principal::Service(_) => "service",
        Principal::Admin(_) => "admin",
        Principal::Anonymous => "anonymous",
    }
}

// Key encoding. A group or value key is the concatenation of its fields' encodings; each
// encoding is self-delimiting, so different tuples never collide:
// - text: its UTF-8 bytes then 0xFF (a byte UTF-8 never contains);
// - principal: a type byte, the id, 0xFF;
// - address: 4 then 4 bytes, or 6 then 16 bytes;
// - number: `#` then 8 bytes big-endian;
// - set: each item then 0xFE, then 0xFF;
// - boolean: one byte, 0 or 1;
// - absent (single-event rules only, which still alert without the field): 0xFD.
// No encoding starts with 0xFD (not a UTF-8 byte, not a type byte), so absence is unambiguous.
const END: u8 = 0xFF;
const ITEM: u8 = 0xFE;
const ABSENT: u8 = 0xFD;

/// Appends `field`'s encoding, or the absent marker if the event has no such value.
pub(crate) fn encode_or_absent(view: &EventView<'_>, field: &Field, out: &mut Vec<u8>) {
    if !encode(view, field, out) {
        out.push(ABSENT);
    }
}

/// Appends `field`'s encoding for `view` to `out`; `false` if the event has no such value (the
/// event then belongs to no group).
pub(crate) fn encode(view: &EventView<'_>, field: &Field, out: &mut Vec<u8>) -> bool {
    match view.value(field) {
        FieldValue::Missing => return false,
        FieldValue::Text(text) | FieldValue::Symbol(text) => {
            out.extend_from_slice(text.as_bytes());
            out.push(END);
        }
        FieldValue::Principal(principal) => {
            out.push(match principal {
                Principal::Customer(_) => b'c',
                Principal::Service(_) => b's',
                Principal::Admin(_) => b'a',
                Principal::Anonymous => b'n',
            });
            out.extend_from_slice(principal.id().as_bytes());
            out.push(END);
        }
        FieldValue::Ip(IpAddr::V4(ip)) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        FieldValue::Ip(IpAddr::V6(ip)) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
        FieldValue::Number(number) => {
            out.push(b'#');
            out.extend_from_slice(&number.to_be_bytes());
        }
        FieldValue::Set(items) => {
            for item in items {
                out.extend_from_slice(item.as_bytes());
                out.push(ITEM);
            }
            out.push(END);
        }
        FieldValue::Bool(flag) => out.push(u8::from(flag)),
    }
    true
}

/// Renders an encoded key as `field=value` pairs separated by spaces (just the value when there
/// is one field), for alerts.
pub(crate) fn render(fields: &[Field], mut key: &[u8]) -> String {
    let mut out = String::new();
    for (index, field) in fields.iter().enumerate() {
        if index > 0 {
            out.push(' ');
        }
        if fields.len() > 1 {
            let _ = write!(out, "{}=", field.name());
        }
        key = render_one(field, key, &mut out);
    }
    out
}

fn take_until(key: &[u8], stop: u8) -> (&[u8], &[u8]) {
    match key.iter().position(|&b| b == stop) {
        Some(end) => (&key[..end], &key[end + 1..]),
        None => (key, &[]),
    }
}

fn render_one<'k>(field: &Field, key: &'k [u8], out: &mut String) -> &'k [u8] {
    if let Some((&ABSENT, rest)) = key.split_first() {
        out.push('-');
        return rest;
    }
    match field.field_type() {
        FieldType::Text | FieldType::Kind | FieldType::Decision | FieldType::KeyState => {
            let (text, rest) = take_until(key, END);
            out.push_str(&String::from_utf8_lossy(text));
            rest
        }
        FieldType::Principal => {
            let Some((&tag, rest)) = key.split_first() else {
                return key;
            };
            let (id, rest) = take_until(rest, END);
            let id = String::from_utf8_lossy(id);
            match tag {
                b'c' => out.push_str("customer:"),
                b's' => out.push_str("service:"),
                b'a' => out.push_str("admin:"),
                _ => out.push_str("anonymous"),
            }
            out.push_str(&id);
            rest
        }
        FieldType::Ip => match key.split_first() {
            Some((4, rest)) if rest.len() >= 4 => {
                let mut octets = [0u8; 4];
                octets.copy_from_slice(&rest[..4]);
                let _ = write!(out, "{}", std::net::Ipv4Addr::from(octets));
                &rest[4..]
            }
            Some((6, rest)) if rest.len() >= 16 => {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&rest[..16]);
                let _ = write!(out, "{}", std::net::Ipv6Addr::from(octets));
                &rest[16..]
            }
            _ => &[],
        },
        FieldType::Number => {
            if key.len() < 9 {
                return &[];
            }
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(&key[1..9]);
            let _ = write!(out, "{}", i64::from_be_bytes(bytes));
            &key[9..]
        }
        FieldType::Set => {
            let (items, rest) = take_until(key, END);
            let names: Vec<String> = items
                .split(|&b| b == ITEM)
                .filter(|item| !item.is_empty())
                .map(|item| String::from_utf8_lossy(item).into_owned())
                .collect();
            out.push_str(&names.join(","));
            rest
        }
        FieldType::Bool => {
            let Some((&flag, rest)) = key.split_first() else {
                return key;
            };
            out.push_str(if flag == 1 { "true" } else { "false" });
            rest
        }
    }
}

/// The value of `field` in `view` as display text, for alert context; `None` if absent.
pub(crate) fn display(view: &EventView<'_>, field: &Field) -> Option<String> {
    Some(match view.value(field) {
        FieldValue::Missing => return None,
        FieldValue::Text(text) | FieldValue::Symbol(text) => text.to_string(),
        FieldValue::Principal(principal) => principal.to_string(),
        FieldValue::Ip(ip) => ip.to_string(),
        FieldValue::Number(number) => number.to_string(),
        FieldValue::Set(items) => items.join(","),
        FieldValue::Bool(flag) => flag.to_string(),
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;
    use crate::NoState;
    use haechi_events::{Decision, EventKind, Timestamp};

    #[test]
    fn keys_round_trip_to_text() {
        let event = SecurityEvent::new(
            Timestamp::EPOCH,
            EventKind::PiiRead,
            Principal::Service("shipping".into()),
        )
        .ip(Some("2001:db8::1".parse().unwrap()))
        .customer("c_1")
        .outcome(Decision::Deny, 404);
        let view = EventView {
            seq: 7,
            time: 0,
            event: &event,
            lookup: &NoState,
        };
        let fields = [
            Field::Principal,
            Field::Ip,
            Field::CustomerId,
            Field::Status,
            Field::Decision,
        ];
        let mut key = Vec::new();
        for field in &fields {
            assert!(encode(&view, field, &mut key));
        }
        assert_eq!(
            render(&fields, &key),
            "principal=service:shipping ip=2001:db8::1 customer_id=c_1 status=404 decision=deny"
        );
        assert!(!encode(&view, &Field::Sid, &mut key));
        let mut key = Vec::new();
        encode_or_absent(&view, &Field::Sid, &mut key);
        encode_or_absent(&view, &Field::Status, &mut key);
        assert_eq!(
            render(&[Field::Sid, Field::Status], &key),
            "sid=- status=404"
        );
    }
}
