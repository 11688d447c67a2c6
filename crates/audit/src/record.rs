//! The audit record and its canonical encoding.
//!
//! The hash chain is only as trustworthy as the bytes it hashes. JSON would make the hash
//! depend on map order, number formatting and escaping choices of a library version; so every
//! record has exactly one byte string, written field by field by hand, and that is what is
//! hashed, framed on disk and compared by the verifier.
//!
//! Canonical encoding, version 1 (all integers big-endian):
//!
//! ```text
//! u8   version = 1
//! u64  seq
//! [32] prev_hash
//! i64  time (µs since the Unix epoch, UTC)
//! str  kind              (the dotted name, e.g. "pii.read": stable if the enum is reordered)
//! u8   principal tag     (0 anonymous, 1 customer, 2 service, 3 admin), then str id unless anonymous
//! opt  sid, jti, kid
//! ip   ip                (u8 0 none | 4 + 4 bytes | 6 + 16 bytes)
//! opt  user_agent, customer_id
//! u32  count, then str × count   fields (in the event's order)
//! opt  purpose
//! u8   decision          (0 allow, 1 mask, 2 deny)
//! u16  status
//! opt  request_id, reason
//! u32  count, then (str key, str value) × count   detail, keys strictly increasing
//! ```
//!
//! `str` is a `u32` byte length then UTF-8; `opt` is `u8 0` (none) or `u8 1` then `str`.
//! Decoding is strict (no trailing bytes, no unknown tags, detail keys sorted and unique), so
//! a decoded record re-encodes to exactly the bytes it came from.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use haechi_events::{Decision, EventKind, Principal, SecurityEvent, Timestamp};
use sha2::{Digest, Sha256};

use crate::Error;

/// The version byte that starts every canonical record this crate writes.
pub const RECORD_FORMAT_VERSION: u8 = 1;

/// The `prev_hash` of the first record (seq 1): 32 zero bytes.
pub const GENESIS_HASH: [u8; 32] = [0; 32];

/// Prefixed to the canonical bytes before hashing, so a record hash can never collide with a
/// SHA-256 of the same bytes used for another purpose (a checkpoint, a key id).
const RECORD_HASH_DOMAIN: &[u8] = b"haechi.audit.record.v1\0";

/// One entry of the audit log: the event, its position, and its link in the hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Position in the log, dense from 1.
    pub seq: u64,
    /// The security event recorded.
    pub event: SecurityEvent,
    /// `hash` of the record at `seq - 1` ([`GENESIS_HASH`] for seq 1).
    pub prev_hash: [u8; 32],
    /// SHA-256 over a domain tag and this record's canonical bytes.
    pub hash: [u8; 32],
}

impl AuditRecord {
    /// The record at `seq` holding `event`, chained to `prev_hash`, with its hash computed.
    pub fn chained(seq: u64, event: SecurityEvent, prev_hash: [u8; 32]) -> Self {
        let mut canonical = Vec::with_capacity(256);
        encode_canonical(seq, &event, &prev_hash, &mut canonical);
        let hash = record_hash(&canonical);
        AuditRecord {
            seq,
            event,
            prev_hash,
            hash,
        }
    }

    /// This record's canonical bytes (everything but `hash`, which is computed from them).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        encode_canonical(self.seq, &self.event, &self.prev_hash, &mut out);
        out
    }

    /// The hash this record's content implies. Differs from `hash` when the record was
    /// altered after it was written.
    pub fn computed_hash(&self) -> [u8; 32] {
        record_hash(&self.canonical_bytes())
    }

    /// Decodes canonical bytes into a record whose `hash` is computed from those bytes.
    pub fn from_canonical(bytes: &[u8]) -> Result<Self, Error> {
        let (seq, prev_hash, event) = decode_canonical(bytes)?;
        Ok(AuditRecord {
            seq,
            event,
            prev_hash,
            hash: record_hash(bytes),
        })
    }
}

/// JSON view of a record, as the search API and `haechi audit search` print it: `seq`, the
/// event's fields (the spec's audit-event names, as in the Parquet archive), and `prev_hash`
/// and `hash` in lowercase hex. For reading only: the canonical encoding, not this, is hashed.
impl serde::Serialize for AuditRecord {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct View<'a> {
            seq: u64,
            #[serde(flatten)]
            event: &'a SecurityEvent,
            prev_hash: String,
            hash: String,
        }
        View {
            seq: self.seq,
            event: &self.event,
            prev_hash: hex::encode(self.prev_hash),
            hash: hex::encode(self.hash),
        }
        .serialize(serializer)
    }
}

/// SHA-256 over the record domain tag and `canonical` bytes: the record's `hash`.
pub fn record_hash(canonical: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(RECORD_HASH_DOMAIN);
    hasher.update(canonical);
    hasher.finalize().into()
}

/// Bytes of the record's stored hash at the end of a stored record.
const STORED_HASH_LEN: usize = 32;

/// Appends `record` as it is stored: its canonical bytes followed by its 32-byte `hash`. This is
/// the payload of a segment frame and of a message in the cluster's stream, so a reader of
/// either decodes it with [`decode_stored`] and checks the stored hash against the content.
pub fn encode_stored(record: &AuditRecord, out: &mut Vec<u8>) {
    encode_canonical(record.seq, &record.event, &record.prev_hash, out);
    out.extend_from_slice(&record.hash);
}

/// Decodes a stored record ([`encode_stored`]): the record with the hash that was *stored*
/// (in `hash`), and the hash its content implies. The two differ when the record was altered
/// after it was written.
pub fn decode_stored(bytes: &[u8]) -> Result<(AuditRecord, [u8; 32]), Error> {
    let split = bytes
        .len()
        .checked_sub(STORED_HASH_LEN)
        .ok_or_else(|| Error::malformed("stored record shorter than a hash"))?;
    let (canonical, stored_hash) = bytes.split_at(split);
    let mut record = AuditRecord::from_canonical(canonical)?;
    let computed_hash = record.hash;
    record.hash.copy_from_slice(stored_hash);
    Ok((record, computed_hash))
}

/// Appends the canonical encoding of (`seq`, `event`, `prev_hash`) to `out`.
pub fn encode_canonical(seq: u64, event: &SecurityEvent, prev_hash: &[u8; 32], out: &mut Vec<u8>) {
    out.push(RECORD_FORMAT_VERSION);
    out.extend_from_slice(&seq.to_be_bytes());
    out.extend_from_slice(prev_hash);
    out.extend_from_slice(&event.time.as_micros().to_be_bytes());
    put_str(out, event.kind.as_str());
    match &event.principal {
        Principal::Anonymous => out.push(0),
        Principal::Customer(id) => {
            out.push(1);
            put_str(out, id);
        }
        Principal::Service(name) => {
            out.push(2);
            put_str(out, name);
        }
        Principal::Admin(name) => {
            out.push(3);
            put_str(out, name);
        }
    }
    put_opt(out, event.sid.as_deref());
    put_opt(out, event.jti.as_deref());
    put_opt(out, event.kid.as_deref());
    match event.ip {
        None => out.push(0),
        Some(IpAddr::V4(v4)) => {
            out.push(4);
            out.extend_from_slice(&v4.octets());
        }
        Some(IpAddr::V6(v6)) => {
            out.push(6);
            out.extend_from_slice(&v6.octets());
        }
    }
    put_opt(out, event.user_agent.as_deref());
    put_opt(out, event.customer_id.as_deref());
    put_len(out, event.fields.len());
    for field in &event.fields {
        put_str(out, field);
    }
    put_opt(out, event.purpose.as_deref());
    out.push(match event.decision {
        Decision::Allow => 0,
        Decision::Mask => 1,
        Decision::Deny => 2,
    });
    out.extend_from_slice(&event.status.to_be_bytes());
    put_opt(out, event.request_id.as_deref());
    put_opt(out, event.reason.as_deref());
    put_len(out, event.detail.len());
    // BTreeMap iterates in key order, which is what makes the encoding independent of the
    // order the details were added in.
    for (key, value) in &event.detail {
        put_str(out, key);
        put_str(out, value);
    }
}

/// Decodes canonical bytes into (seq, prev_hash, event), rejecting anything that would not
/// re-encode to the same bytes.
pub fn decode_canonical(bytes: &[u8]) -> Result<(u64, [u8; 32], SecurityEvent), Error> {
    let mut input = Input { bytes, at: 0 };
    let version = input.u8()?;
    if version != RECORD_FORMAT_VERSION {
        return Err(Error::malformed(format!(
            "record format version {version}, this build reads version {RECORD_FORMAT_VERSION}"
        )));
    }
    let seq = input.u64()?;
    let prev_hash = input.array::<32>()?;
    let time = Timestamp::from_micros(i64::from_be_bytes(input.array::<8>()?));
    let kind_name = input.str()?;
    let kind: EventKind = kind_name
        .parse()
        .map_err(|_| Error::malformed(format!("unknown event kind {kind_name:?}")))?;
    let principal = match input.u8()? {
        0 => Principal::Anonymous,
        1 => Principal::Customer(input.string()?),
        2 => Principal::Service(input.string()?),
        3 => Principal::Admin(input.string()?),
        tag => return Err(Error::malformed(format!("unknown principal tag {tag}"))),
    };
    let sid = input.opt()?;
    let jti = input.opt()?;
    let kid = input.opt()?;
    let ip = match input.u8()? {
        0 => None,
        4 => Some(IpAddr::V4(Ipv4Addr::from(input.array::<4>()?))),
        6 => Some(IpAddr::V6(Ipv6Addr::from(input.array::<16>()?))),
        tag => return Err(Error::malformed(format!("unknown address tag {tag}"))),
    };
    let user_agent = input.opt()?;
    let customer_id = input.opt()?;
    let field_count = input.u32()?;
    let mut fields = Vec::new();
    for _ in 0..field_count {
        fields.push(input.string()?);
    }
    let purpose = input.opt()?;
    let decision = match input.u8()? {
        0 => Decision::Allow,
        1 => Decision::Mask,
        2 => Decision::Deny,
        tag => return Err(Error::malformed(format!("unknown decision tag {tag}"))),
    };
    let status = u16::from_be_bytes(input.array::<2>()?);
    let request_id = input.opt()?;
    let reason = input.opt()?;
    let detail_count = input.u32()?;
    let mut detail = BTreeMap::new();
    let mut previous_key: Option<String> = None;
    for _ in 0..detail_count {
        let key = input.string()?;
        let value = input.string()?;
        // Sorted, unique keys are the only encoding of a map; anything else would decode to
        // a record whose re-encoding differs from the bytes that were hashed.
        if previous_key
            .as_ref()
            .is_some_and(|previous| *previous >= key)
        {
            return Err(Error::malformed("detail keys are not strictly increasing"));
        }
        previous_key = Some(key.clone());
        detail.insert(key, value);
    }
    if input.at != bytes.len() {
        return Err(Error::malformed(format!(
            "{} trailing bytes after the record",
            bytes.len() - input.at
        )));
    }
    let event = SecurityEvent {
        time,
        kind,
        principal,
        sid,
        jti,
        kid,
        ip,
        user_agent,
        customer_id,
        fields,
        purpose,
        decision,
        status,
        request_id,
        reason,
        detail,
    };
    Ok((seq, prev_hash, event))
}

fn put_len(out: &mut Vec<u8>, len: usize) {
    // Lengths above u32 cannot occur for an event (the whole frame is limited far below
    // that); saturating keeps the function total without a panic path.
    let len = u32::try_from(len).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, text: &str) {
    put_len(out, text.len());
    out.extend_from_slice(text.as_bytes());
}

fn put_opt(out: &mut Vec<u8>, text: Option<&str>) {
    match text {
        None => out.push(0),
        Some(text) => {
            out.push(1);
            put_str(out, text);
        }
    }
}

/// A cursor over bytes being decoded; every read checks the remaining length first, so
/// hostile input yields an error, never a panic or a huge allocation.
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    fn take(&mut self, count: usize) -> Result<&'a [u8], Error> {
        let end = self
            .at
            .checked_add(count)
            .filter(|end| *end <= self.bytes.len())
            .ok_or_else(|| Error::malformed("record ends early"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N)?);
        Ok(array)
    }

    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array::<4>()?))
    }

    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array::<8>()?))
    }

    fn str(&mut self) -> Result<&'a str, Error> {
        let len = usize::try_from(self.u32()?).map_err(|_| Error::malformed("length overflow"))?;
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| Error::malformed("text is not UTF-8"))
    }

    fn string(&mut self) -> Result<String, Error> {
        self.str().map(str::to_string)
    }

    fn opt(&mut self) -> Result<Option<String>, Error> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.string().map(Some),
            tag => Err(Error::malformed(format!("unknown option tag {tag}"))),
        }
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
    use proptest::prelude::*;

    fn arbitrary_event() -> impl Strategy<Value = SecurityEvent> {
        let principal = prop_oneof![
            Just(Principal::Anonymous),
            ".{0,12}".prop_map(Principal::Customer),
            ".{0,12}".prop_map(Principal::Service),
            ".{0,12}".prop_map(Principal::Admin),
        ];
        let ip = prop_oneof![
            Just(None),
            any::<[u8; 4]>().prop_map(|octets| Some(IpAddr::from(octets))),
            any::<[u8; 16]>().prop_map(|octets| Some(IpAddr::from(octets))),
        ];
        let decision = prop_oneof![
            Just(Decision::Allow),
            Just(Decision::Mask),
            Just(Decision::Deny)
        ];
        let text = || proptest::option::of(".{0,16}");
        (
            (
                any::<i64>(),
                proptest::sample::select(EventKind::ALL),
                principal,
                text(),
                text(),
                text(),
                ip,
                text(),
            ),
            (
                text(),
                proptest::collection::vec(".{0,8}", 0..4),
                text(),
                decision,
                any::<u16>(),
                text(),
                text(),
                proptest::collection::btree_map(".{0,8}", ".{0,8}", 0..4),
            ),
        )
            .prop_map(
                |(
                    (time, kind, principal, sid, jti, kid, ip, user_agent),
                    (customer_id, fields, purpose, decision, status, request_id, reason, detail),
                )| SecurityEvent {
                    time: Timestamp::from_micros(time),
                    kind,
                    principal,
                    sid,
                    jti,
                    kid,
                    ip,
                    user_agent,
                    customer_id,
                    fields,
                    purpose,
                    decision,
                    status,
                    request_id,
                    reason,
                    detail,
                },
            )
    }

    proptest! {
        #[test]
        fn decode_of_encode_is_identity(
            seq in any::<u64>(),
            prev in any::<[u8; 32]>(),
            event in arbitrary_event(),
        ) {
            let record = AuditRecord::chained(seq, event, prev);
            let bytes = record.canonical_bytes();
            let decoded = AuditRecord::from_canonical(&bytes).unwrap();
            prop_assert_eq!(&decoded, &record);
            // Stable: the decoded record re-encodes to the very same bytes and hash.
            prop_assert_eq!(decoded.canonical_bytes(), bytes);
            prop_assert_eq!(decoded.computed_hash(), record.hash);
        }

        #[test]
        fn encoding_ignores_the_order_details_were_added_in(
            entries in proptest::collection::vec((".{0,6}", ".{0,6}"), 0..6),
        ) {
            let base = SecurityEvent::new(Timestamp::EPOCH, EventKind::PiiRead, Principal::Anonymous);
            let forwards = entries.iter().fold(base.clone(), |event, (key, value)| {
                event.detail(key.clone(), value.clone())
            });
            // Same final map built in the opposite insertion order (later duplicates win in
            // both, so skip duplicate keys to compare like with like).
            let mut unique = BTreeMap::new();
            for (key, value) in &entries { unique.insert(key.clone(), value.clone()); }
            let backwards = unique.iter().rev().fold(base, |event, (key, value)| {
                event.detail(key.clone(), value.clone())
            });
            prop_assert_eq!(
                AuditRecord::chained(7, forwards, GENESIS_HASH).hash,
                AuditRecord::chained(7, backwards, GENESIS_HASH).hash
            );
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode_canonical(&bytes);
        }
    }

    /// A fixed record and the hash it must always have. If this test fails the canonical
    /// encoding changed, and every existing log would stop verifying: bump the version instead.
    #[test]
    fn known_record_has_a_fixed_hash() {
        let event = SecurityEvent::new(
            Timestamp::from_micros(1_750_734_765_123_456),
            EventKind::PiiRead,
            Principal::Service("shipping".into()),
        )
        .customer("c_01")
        .fields(["phone", "address"])
        .ip(Some(IpAddr::from([203, 0, 113, 7])))
        .purpose("delivery")
        .detail("b", "2")
        .detail("a", "1");
        let record = AuditRecord::chained(1, event, GENESIS_HASH);
        assert_eq!(
            hex::encode(record.hash),
            "882b580b3b1b26ef627d097b6286722d1ac618d0be81e647f3b8a252bf129779"
        );
        // The documented layout, checked by hand for the first fields.
        let bytes = record.canonical_bytes();
        let mut prefix = vec![1u8];
        prefix.extend_from_slice(&1u64.to_be_bytes());
        prefix.extend_from_slice(&[0; 32]);
        prefix.extend_from_slice(&1_750_734_765_123_456i64.to_be_bytes());
        prefix.extend_from_slice(&8u32.to_be_bytes());
        prefix.extend_from_slice(b"pii.read");
        prefix.push(2);
        prefix.extend_from_slice(&8u32.to_be_bytes());
        prefix.extend_from_slice(b"shipping");
        assert_eq!(&bytes[..prefix.len()], &prefix[..]);
    }

    #[test]
    fn stored_records_round_trip_and_show_alteration() {
        let event = SecurityEvent::new(Timestamp::EPOCH, EventKind::LoginOk, Principal::Anonymous);
        let record = AuditRecord::chained(3, event, [9; 32]);
        let mut bytes = Vec::new();
        encode_stored(&record, &mut bytes);
        let (decoded, computed) = decode_stored(&bytes).unwrap();
        assert_eq!(decoded, record);
        assert_eq!(computed, record.hash);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let (altered, computed) = decode_stored(&bytes).unwrap();
        assert_ne!(altered.hash, computed);
        assert!(decode_stored(&bytes[..10]).is_err());
    }

    #[test]
    fn hostile_lengths_are_rejected() {
        let event = SecurityEvent::new(Timestamp::EPOCH, EventKind::LoginOk, Principal::Anonymous);
        let mut bytes = AuditRecord::chained(1, event, GENESIS_HASH).canonical_bytes();
        // The kind's length prefix sits right after version, seq, prev_hash and time.
        let at = 1 + 8 + 32 + 8;
        bytes[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            decode_canonical(&bytes),
            Err(Error::MalformedRecord { .. })
        ));
        bytes.truncate(3);
        assert!(decode_canonical(&bytes).is_err());
    }

    #[test]
    fn trailing_bytes_and_unsorted_details_are_rejected() {
        let event = SecurityEvent::new(Timestamp::EPOCH, EventKind::LoginOk, Principal::Anonymous)
            .detail("a", "x")
            .detail("b", "y");
        let mut bytes = AuditRecord::chained(1, event, GENESIS_HASH).canonical_bytes();
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(decode_canonical(&trailing).is_err());
        // Swap the two one-byte keys "a" and "b" in place: same length, wrong order.
        let len = bytes.len();
        let first_key = len - 2 * (4 + 1 + 4 + 1) + 4;
        let second_key = len - (4 + 1 + 4 + 1) + 4;
        bytes.swap(first_key, second_key);
        assert!(decode_canonical(&bytes).is_err());
    }
}
