//! Test harness: events, keys, opening logs, and an independent reader of the segment format.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use haechi_audit::{AuditLog, AuditLogConfig, AuditRecord, RecoveryReport};
use haechi_events::{Decision, EventKind, Principal, SecurityEvent, SimulatedClock, Timestamp};

/// 2025-06-24T00:00:00Z, the start of simulated time in these tests.
pub const START: i64 = 1_750_723_200_000_000;

/// The audit key used by the tests.
pub fn audit_key() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

/// Another key, for wrong-key cases.
pub fn other_key() -> SigningKey {
    SigningKey::from_bytes(&[7; 32])
}

/// A varied event number `n`, `n` seconds after [`START`] plus `day_offset` days.
pub fn event(n: u64) -> SecurityEvent {
    event_at(n, Timestamp::from_micros(START + (n as i64) * 1_000_000))
}

/// A varied event at `time`.
pub fn event_at(n: u64, time: Timestamp) -> SecurityEvent {
    let kind = [
        EventKind::PiiRead,
        EventKind::LoginOk,
        EventKind::TokenIssued,
        EventKind::PiiWrite,
    ][(n % 4) as usize];
    let principal = match n % 3 {
        0 => Principal::Service("shipping".into()),
        1 => Principal::Customer(format!("c_{}", n % 10)),
        _ => Principal::Admin("kim".into()),
    };
    let mut event = SecurityEvent::new(time, kind, principal)
        .customer(format!("c_{}", n % 10))
        .sid(format!("s_{}", n % 7))
        .jti(format!("j_{n}"))
        .kid("k_2025")
        .ip(Some(if n.is_multiple_of(5) {
            "2001:db8::7".parse().unwrap()
        } else {
            format!("203.0.113.{}", n % 250).parse().unwrap()
        }))
        .user_agent(Some("Mozilla/5.0 (test)"))
        .fields(["phone", "address"])
        .request_id(Some(&format!("req-{n}")));
    if n.is_multiple_of(2) {
        event = event.purpose("delivery").detail("note", format!("n={n}"));
    }
    if n.is_multiple_of(11) {
        event = event.outcome(Decision::Deny, 403).reason("quota");
    }
    event
}

/// A config for `dir` with small limits that tests can tune.
pub fn config(dir: &Path) -> AuditLogConfig {
    let mut config = AuditLogConfig::new(dir);
    config.checkpoint_interval = Duration::from_secs(3600);
    config
}

/// A simulated clock at [`START`].
pub fn clock() -> Arc<SimulatedClock> {
    Arc::new(SimulatedClock::new(Timestamp::from_micros(START)))
}

/// Opens a log with the test key.
pub fn open(config: AuditLogConfig) -> (AuditLog, RecoveryReport) {
    AuditLog::open(config, audit_key(), clock()).expect("open audit log")
}

/// Writes events `range` one after another and returns their seqs.
pub async fn write(log: &AuditLog, range: std::ops::RangeInclusive<u64>) -> Vec<u64> {
    let mut seqs = Vec::new();
    for n in range {
        seqs.push(log.append(event(n)).await.expect("append"));
    }
    seqs
}

/// One frame as found by this harness's own reading of the documented format.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The segment.
    pub segment: PathBuf,
    /// Byte offset of the frame.
    pub offset: u64,
    /// Whole frame length (8 + payload).
    pub len: usize,
    /// The record, with the stored hash.
    pub record: AuditRecord,
}

/// Segment files of `dir`, oldest first.
pub fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("seg-") && name.ends_with(".log")
        })
        .collect();
    files.sort();
    files
}

/// Every frame of every segment, read independently of the crate's reader: header 56 bytes,
/// then `u32 len, u32 crc, payload` with payload = canonical record ‖ 32-byte hash.
pub fn frames(dir: &Path) -> Vec<Frame> {
    let mut frames = Vec::new();
    for segment in segments(dir) {
        let bytes = std::fs::read(&segment).unwrap();
        assert_eq!(&bytes[..8], b"HAECHIAL");
        let mut at = 56;
        while at < bytes.len() {
            let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
            let crc = u32::from_be_bytes(bytes[at + 4..at + 8].try_into().unwrap());
            let payload = &bytes[at + 8..at + 8 + len];
            assert_eq!(crc32fast::hash(payload), crc);
            let (canonical, hash) = payload.split_at(len - 32);
            let mut record = AuditRecord::from_canonical(canonical).unwrap();
            record.hash = hash.try_into().unwrap();
            frames.push(Frame {
                segment: segment.clone(),
                offset: at as u64,
                len: 8 + len,
                record,
            });
            at += 8 + len;
        }
    }
    frames
}

/// The frame bytes for `record` with `stored_hash`, framed as the log frames it.
pub fn frame_bytes(record: &AuditRecord, stored_hash: [u8; 32]) -> Vec<u8> {
    let mut payload = record.canonical_bytes();
    payload.extend_from_slice(&stored_hash);
    let mut bytes = Vec::new();
    bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    bytes.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
    bytes.extend_from_slice(&payload);
    bytes
}

/// Replaces bytes `offset..offset + len` of `path` with `replacement`.
pub fn splice(path: &Path, offset: u64, len: usize, replacement: &[u8]) {
    let mut bytes = std::fs::read(path).unwrap();
    let offset = offset as usize;
    bytes.splice(offset..offset + len, replacement.iter().copied());
    std::fs::write(path, bytes).unwrap();
}

/// Copies a directory tree (tests tamper with copies of one pristine log).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
