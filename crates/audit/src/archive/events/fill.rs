//! One archive row into an event the caller gave back: its strings are cleared and refilled,
//! not allocated again.

use arrow_array::{
    Array, FixedSizeBinaryArray, ListArray, RecordBatch, StringArray, TimestampMicrosecondArray,
    UInt16Array, UInt64Array,
};

use crate::archive::schema::{column, ip_from_bin};
use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};

/// A projected batch's columns, found once per batch; those not read are `None`.
pub(super) struct Columns<'a> {
    seq: &'a UInt64Array,
    time: &'a TimestampMicrosecondArray,
    kind: &'a StringArray,
    principal: Option<&'a StringArray>,
    sid: Option<&'a StringArray>,
    jti: Option<&'a StringArray>,
    kid: Option<&'a StringArray>,
    ip: Option<&'a FixedSizeBinaryArray>,
    user_agent: Option<&'a StringArray>,
    customer_id: Option<&'a StringArray>,
    fields: Option<&'a ListArray>,
    purpose: Option<&'a StringArray>,
    decision: Option<&'a StringArray>,
    status: Option<&'a UInt16Array>,
    request_id: Option<&'a StringArray>,
    reason: Option<&'a StringArray>,
    detail: Option<&'a StringArray>,
}

impl<'a> Columns<'a> {
    pub(super) fn of(batch: &'a RecordBatch) -> Result<Columns<'a>, String> {
        fn read<'a, T: 'static>(
            batch: &'a RecordBatch,
            name: &str,
        ) -> Result<Option<&'a T>, String> {
            match batch.column_by_name(name) {
                None => Ok(None),
                Some(_) => column::<T>(batch, name).map(Some),
            }
        }
        Ok(Columns {
            seq: column(batch, "seq")?,
            time: column(batch, "time")?,
            kind: column(batch, "kind")?,
            principal: read(batch, "principal")?,
            sid: read(batch, "sid")?,
            jti: read(batch, "jti")?,
            kid: read(batch, "kid")?,
            ip: read(batch, "ip_bin")?,
            user_agent: read(batch, "user_agent")?,
            customer_id: read(batch, "customer_id")?,
            fields: read(batch, "fields")?,
            purpose: read(batch, "purpose")?,
            decision: read(batch, "decision")?,
            status: read(batch, "status")?,
            request_id: read(batch, "request_id")?,
            reason: read(batch, "reason")?,
            detail: read(batch, "detail")?,
        })
    }

    pub(super) fn seq(&self, row: usize) -> u64 {
        self.seq.value(row)
    }

    pub(super) fn time(&self, row: usize) -> i64 {
        self.time.value(row)
    }
}

/// An event for [`fill`] to overwrite.
pub(super) fn blank_event() -> SecurityEvent {
    SecurityEvent::new(Timestamp::EPOCH, EventKind::PiiRead, Principal::Anonymous)
}

/// Overwrites every field of `event` with the row's: read columns with their values, the
/// others with `SecurityEvent::new`'s.
pub(super) fn fill(
    columns: &Columns<'_>,
    row: usize,
    event: &mut SecurityEvent,
) -> Result<(), String> {
    event.time = Timestamp::from_micros(columns.time(row));
    let kind = columns.kind.value(row);
    event.kind = kind.parse().map_err(|_| format!("unknown kind {kind:?}"))?;
    match columns.principal {
        Some(array) => set_principal(&mut event.principal, array.value(row))?,
        None => event.principal = Principal::Anonymous,
    }
    set_text(&mut event.sid, columns.sid, row);
    set_text(&mut event.jti, columns.jti, row);
    set_text(&mut event.kid, columns.kid, row);
    event.ip = match columns.ip.filter(|array| !array.is_null(row)) {
        Some(array) => {
            let bytes: [u8; 16] = array
                .value(row)
                .try_into()
                .map_err(|_| "ip_bin is not 16 bytes")?;
            Some(ip_from_bin(bytes))
        }
        None => None,
    };
    set_text(&mut event.user_agent, columns.user_agent, row);
    set_text(&mut event.customer_id, columns.customer_id, row);
    set_fields(&mut event.fields, columns.fields, row)?;
    set_text(&mut event.purpose, columns.purpose, row);
    event.decision = match columns.decision.map(|array| array.value(row)) {
        None | Some("allow") => Decision::Allow,
        Some("mask") => Decision::Mask,
        Some("deny") => Decision::Deny,
        Some(other) => return Err(format!("unknown decision {other:?}")),
    };
    event.status = columns.status.map_or(200, |array| array.value(row));
    set_text(&mut event.request_id, columns.request_id, row);
    set_text(&mut event.reason, columns.reason, row);
    event.detail.clear();
    if let Some(array) = columns.detail.filter(|array| !array.is_null(row)) {
        event.detail =
            serde_json::from_str(array.value(row)).map_err(|error| format!("detail: {error}"))?;
    }
    Ok(())
}

/// `slot` holds the cell's text, in its own string when it had one.
fn set_text(slot: &mut Option<String>, array: Option<&StringArray>, row: usize) {
    match array.filter(|array| !array.is_null(row)) {
        Some(array) => overwrite(slot, array.value(row)),
        None => *slot = None,
    }
}

fn overwrite(slot: &mut Option<String>, value: &str) {
    match slot {
        Some(text) => {
            text.clear();
            text.push_str(value);
        }
        None => *slot = Some(value.to_owned()),
    }
}

/// As the archive's own reader, without the id checks of `Principal::from_str` (the archive
/// gives back what the log held), reusing the id's string.
fn set_principal(slot: &mut Principal, text: &str) -> Result<(), String> {
    let mut id = match std::mem::replace(slot, Principal::Anonymous) {
        Principal::Customer(id) | Principal::Service(id) | Principal::Admin(id) => id,
        Principal::Anonymous => String::new(),
    };
    if text == "anonymous" {
        return Ok(());
    }
    let (prefix, value) = text
        .split_once(':')
        .ok_or_else(|| format!("not a principal: {text:?}"))?;
    id.clear();
    id.push_str(value);
    *slot = match prefix {
        "customer" => Principal::Customer(id),
        "service" => Principal::Service(id),
        "admin" => Principal::Admin(id),
        _ => return Err(format!("not a principal: {text:?}")),
    };
    Ok(())
}

fn set_fields(slot: &mut Vec<String>, array: Option<&ListArray>, row: usize) -> Result<(), String> {
    let Some(list) = array else {
        slot.clear();
        return Ok(());
    };
    let values = list.value(row);
    let values = values
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or("fields is not a list of strings")?;
    slot.truncate(values.len());
    for index in 0..values.len() {
        let value = values.value(index);
        match slot.get_mut(index) {
            Some(text) => {
                text.clear();
                text.push_str(value);
            }
            None => slot.push(value.to_owned()),
        }
    }
    Ok(())
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
    fn a_principal_is_refilled_in_place_and_anonymous_clears_it() {
        let mut principal = Principal::Service("shipping".into());
        set_principal(&mut principal, "customer:c_1").unwrap();
        assert_eq!(principal, Principal::Customer("c_1".into()));
        set_principal(&mut principal, "anonymous").unwrap();
        assert_eq!(principal, Principal::Anonymous);
        set_principal(&mut principal, "admin:root").unwrap();
        assert_eq!(principal, Principal::Admin("root".into()));
        assert!(set_principal(&mut principal, "robot:r2").is_err());
        assert!(set_principal(&mut principal, "nobody").is_err());
    }

    #[test]
    fn text_cells_overwrite_and_clear() {
        let mut slot = Some("a much longer previous value".to_string());
        overwrite(&mut slot, "short");
        assert_eq!(slot.as_deref(), Some("short"));
        set_text(&mut slot, None, 0);
        assert_eq!(slot, None);
    }
}
