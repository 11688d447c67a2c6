//! The archive's columns (the spec's audit-event fields), and the conversion of a record to a
//! row and back. The schema is documented in `docs/audit.md` at the workspace root.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use arrow_array::builder::{
    FixedSizeBinaryBuilder, ListBuilder, StringBuilder, TimestampMicrosecondBuilder, UInt16Builder,
    UInt64Builder,
};
use arrow_array::{
    Array, ArrayRef, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray,
    TimestampMicrosecondArray, UInt16Array, UInt64Array,
};
use arrow_schema::{DataType, Field, FieldRef, Schema, SchemaRef, TimeUnit};
use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};

use crate::AuditRecord;

/// Key-value metadata key that marks a Parquet file as a Haechi audit archive.
pub(super) const FORMAT_KEY: &str = "haechi.audit.format";
/// The archive schema version.
pub(super) const FORMAT_VERSION: &str = "1";

/// The archive's Arrow schema; column names are the spec's audit-event fields.
pub fn archive_schema() -> SchemaRef {
    let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new("seq", DataType::UInt64, false),
        Field::new(
            "time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        text("kind", false),
        text("principal", false),
        text("sid", true),
        text("jti", true),
        text("kid", true),
        text("ip", true),
        Field::new("ip_bin", DataType::FixedSizeBinary(16), true),
        text("user_agent", true),
        text("customer_id", true),
        Field::new("fields", DataType::List(fields_item()), false),
        text("purpose", true),
        text("decision", false),
        Field::new("status", DataType::UInt16, false),
        text("request_id", true),
        text("reason", true),
        text("detail", true),
        Field::new("prev_hash", DataType::FixedSizeBinary(32), false),
        Field::new("hash", DataType::FixedSizeBinary(32), false),
    ]))
}

fn fields_item() -> FieldRef {
    Arc::new(Field::new("item", DataType::Utf8, false))
}

/// An address as 16 bytes, IPv4 mapped into IPv6 (`::ffff:a.b.c.d`), so one fixed-width column
/// answers predicates on both families.
pub fn ip_to_bin(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The IPv6 form of a 16-byte `ip_bin` value (for readers that want to print it).
pub fn ip_from_bin(bytes: [u8; 16]) -> IpAddr {
    let v6 = Ipv6Addr::from(bytes);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

pub(super) fn to_record_batch(records: &[AuditRecord]) -> Result<RecordBatch, String> {
    let rows = records.len();
    let mut seq = UInt64Builder::with_capacity(rows);
    let mut time = TimestampMicrosecondBuilder::with_capacity(rows).with_timezone("UTC");
    let mut kind = StringBuilder::new();
    let mut principal = StringBuilder::new();
    let mut sid = StringBuilder::new();
    let mut jti = StringBuilder::new();
    let mut kid = StringBuilder::new();
    let mut ip = StringBuilder::new();
    let mut ip_bin = FixedSizeBinaryBuilder::with_capacity(rows, 16);
    let mut user_agent = StringBuilder::new();
    let mut customer_id = StringBuilder::new();
    let mut fields = ListBuilder::new(StringBuilder::new()).with_field(fields_item());
    let mut purpose = StringBuilder::new();
    let mut decision = StringBuilder::new();
    let mut status = UInt16Builder::with_capacity(rows);
    let mut request_id = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut detail = StringBuilder::new();
    let mut prev_hash = FixedSizeBinaryBuilder::with_capacity(rows, 32);
    let mut hash = FixedSizeBinaryBuilder::with_capacity(rows, 32);
    for record in records {
        let event = &record.event;
        seq.append_value(record.seq);
        time.append_value(event.time.as_micros());
        kind.append_value(event.kind.as_str());
        principal.append_value(event.principal.to_string());
        sid.append_option(event.sid.as_deref());
        jti.append_option(event.jti.as_deref());
        kid.append_option(event.kid.as_deref());
        ip.append_option(event.ip.map(|address| address.to_string()));
        match event.ip {
            Some(address) => ip_bin
                .append_value(ip_to_bin(address))
                .map_err(|error| error.to_string())?,
            None => ip_bin.append_null(),
        }
        user_agent.append_option(event.user_agent.as_deref());
        customer_id.append_option(event.customer_id.as_deref());
        for field in &event.fields {
            fields.values().append_value(field);
        }
        fields.append(true);
        purpose.append_option(event.purpose.as_deref());
        decision.append_value(event.decision.as_str());
        status.append_value(event.status);
        request_id.append_option(event.request_id.as_deref());
        reason.append_option(event.reason.as_deref());
        if event.detail.is_empty() {
            detail.append_null();
        } else {
            // A BTreeMap serialises with sorted keys: one JSON text per map.
            let json = serde_json::to_string(&event.detail).map_err(|error| error.to_string())?;
            detail.append_value(json);
        }
        prev_hash
            .append_value(record.prev_hash)
            .map_err(|error| error.to_string())?;
        hash.append_value(record.hash)
            .map_err(|error| error.to_string())?;
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(seq.finish()),
        Arc::new(time.finish()),
        Arc::new(kind.finish()),
        Arc::new(principal.finish()),
        Arc::new(sid.finish()),
        Arc::new(jti.finish()),
        Arc::new(kid.finish()),
        Arc::new(ip.finish()),
        Arc::new(ip_bin.finish()),
        Arc::new(user_agent.finish()),
        Arc::new(customer_id.finish()),
        Arc::new(fields.finish()),
        Arc::new(purpose.finish()),
        Arc::new(decision.finish()),
        Arc::new(status.finish()),
        Arc::new(request_id.finish()),
        Arc::new(reason.finish()),
        Arc::new(detail.finish()),
        Arc::new(prev_hash.finish()),
        Arc::new(hash.finish()),
    ];
    RecordBatch::try_new(archive_schema(), columns).map_err(|error| error.to_string())
}

pub(super) fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> Result<&'a T, String> {
    batch
        .column_by_name(name)
        .and_then(|column| column.as_any().downcast_ref::<T>())
        .ok_or_else(|| format!("column {name} missing or of the wrong type"))
}

/// Reads a principal from its text form without the id validation of `Principal::from_str`:
/// the archive must give back exactly what the log held, whatever id the caller used.
pub(super) fn principal_from_text(text: &str) -> Result<Principal, String> {
    if text == "anonymous" {
        return Ok(Principal::Anonymous);
    }
    match text.split_once(':') {
        Some(("customer", id)) => Ok(Principal::Customer(id.to_string())),
        Some(("service", name)) => Ok(Principal::Service(name.to_string())),
        Some(("admin", name)) => Ok(Principal::Admin(name.to_string())),
        _ => Err(format!("not a principal: {text:?}")),
    }
}

/// A batch's columns, found by name and type once per batch: looking them up by name for every
/// row (20 string comparisons per column per row) was a sixth of a replay's time.
#[derive(Clone)]
pub(super) struct BatchColumns {
    seq: UInt64Array,
    time: TimestampMicrosecondArray,
    kind: StringArray,
    principal: StringArray,
    sid: StringArray,
    jti: StringArray,
    kid: StringArray,
    ip: StringArray,
    ip_bin: FixedSizeBinaryArray,
    user_agent: StringArray,
    customer_id: StringArray,
    fields: ListArray,
    purpose: StringArray,
    decision: StringArray,
    status: UInt16Array,
    request_id: StringArray,
    reason: StringArray,
    detail: StringArray,
    prev_hash: FixedSizeBinaryArray,
    hash: FixedSizeBinaryArray,
}

impl BatchColumns {
    /// The columns of `batch`, or why they are not the archive's.
    pub(super) fn of(batch: &RecordBatch) -> Result<BatchColumns, String> {
        fn get<T: Clone + 'static>(batch: &RecordBatch, name: &str) -> Result<T, String> {
            column::<T>(batch, name).cloned()
        }
        Ok(BatchColumns {
            seq: get(batch, "seq")?,
            time: get(batch, "time")?,
            kind: get(batch, "kind")?,
            principal: get(batch, "principal")?,
            sid: get(batch, "sid")?,
            jti: get(batch, "jti")?,
            kid: get(batch, "kid")?,
            ip: get(batch, "ip")?,
            ip_bin: get(batch, "ip_bin")?,
            user_agent: get(batch, "user_agent")?,
            customer_id: get(batch, "customer_id")?,
            fields: get(batch, "fields")?,
            purpose: get(batch, "purpose")?,
            decision: get(batch, "decision")?,
            status: get(batch, "status")?,
            request_id: get(batch, "request_id")?,
            reason: get(batch, "reason")?,
            detail: get(batch, "detail")?,
            prev_hash: get(batch, "prev_hash")?,
            hash: get(batch, "hash")?,
        })
    }
}

fn cell(array: &StringArray, row: usize) -> Option<String> {
    (!array.is_null(row)).then(|| array.value(row).to_string())
}

fn required(array: &StringArray, name: &str, row: usize) -> Result<String, String> {
    cell(array, row).ok_or_else(|| format!("{name} is null"))
}

fn hash_cell(array: &FixedSizeBinaryArray, name: &str, row: usize) -> Result<[u8; 32], String> {
    if array.is_null(row) {
        return Err(format!("{name} is null"));
    }
    array
        .value(row)
        .try_into()
        .map_err(|_| format!("{name} is not 32 bytes"))
}

pub(super) fn row_to_record(columns: &BatchColumns, row: usize) -> Result<AuditRecord, String> {
    let seq = columns.seq.value(row);
    let time = Timestamp::from_micros(columns.time.value(row));
    let kind_text = required(&columns.kind, "kind", row)?;
    let kind: EventKind = kind_text
        .parse()
        .map_err(|_| format!("unknown kind {kind_text:?}"))?;
    let principal = principal_from_text(&required(&columns.principal, "principal", row)?)?;
    let ip = match (!columns.ip.is_null(row)).then(|| columns.ip.value(row)) {
        Some(address) => Some(
            address
                .parse::<IpAddr>()
                .map_err(|_| format!("not an address: {address:?}"))?,
        ),
        None => None,
    };
    let values = columns.fields.value(row);
    let values = values
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("fields is not a list of strings")?;
    let fields = (0..values.len())
        .map(|index| values.value(index).to_string())
        .collect();
    let decision = match (!columns.decision.is_null(row)).then(|| columns.decision.value(row)) {
        Some("allow") => Decision::Allow,
        Some("mask") => Decision::Mask,
        Some("deny") => Decision::Deny,
        Some(other) => return Err(format!("unknown decision {other:?}")),
        None => return Err("decision is null".into()),
    };
    let detail: BTreeMap<String, String> =
        match (!columns.detail.is_null(row)).then(|| columns.detail.value(row)) {
            Some(json) => serde_json::from_str(json).map_err(|error| format!("detail: {error}"))?,
            None => BTreeMap::new(),
        };
    let event = SecurityEvent {
        time,
        kind,
        principal,
        sid: cell(&columns.sid, row),
        jti: cell(&columns.jti, row),
        kid: cell(&columns.kid, row),
        ip,
        user_agent: cell(&columns.user_agent, row),
        customer_id: cell(&columns.customer_id, row),
        fields,
        purpose: cell(&columns.purpose, row),
        decision,
        status: columns.status.value(row),
        request_id: cell(&columns.request_id, row),
        reason: cell(&columns.reason, row),
        detail,
    };
    // ip_bin is derived from ip; a row where they disagree was edited.
    let stored_bin = (!columns.ip_bin.is_null(row)).then(|| columns.ip_bin.value(row));
    let derived = ip.map(ip_to_bin);
    if stored_bin != derived.as_ref().map(|bin| &bin[..]) {
        return Err("ip_bin does not match ip".into());
    }
    Ok(AuditRecord {
        seq,
        event,
        prev_hash: hash_cell(&columns.prev_hash, "prev_hash", row)?,
        hash: hash_cell(&columns.hash, "hash", row)?,
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

    #[test]
    fn ip_bin_maps_v4_into_v6() {
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(
            &ip_to_bin(v4)[..12],
            &[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        );
        assert_eq!(ip_from_bin(ip_to_bin(v4)), v4);
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_from_bin(ip_to_bin(v6)), v6);
    }
}
