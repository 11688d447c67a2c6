//! Tamper table: each way of changing the log is caught, at the right record and place.

use std::path::{Path, PathBuf};

use haechi_audit::{AuditRecord, Location, Notice, Problem, VerifyReport, VerifySources, verify};

use crate::util::{
    Frame, audit_key, config, copy_dir, event, frame_bytes, frames, open, other_key, splice, write,
};

/// The seq the tampering targets: inside a segment (not its first or last record), and not
/// at a checkpoint, so each finding has one clear position.
const TARGET: u64 = 12;
const RECORDS: u64 = 40;

/// A problem reduced to (what, seq, where) for comparison.
type Finding = (&'static str, u64, Location);

fn finding(problem: &Problem) -> Finding {
    match problem {
        Problem::CorruptFrame {
            location,
            probable_seq,
            ..
        } => ("damaged", probable_seq.unwrap_or(0), location.clone()),
        Problem::RecordAltered { seq, location } => ("altered", *seq, location.clone()),
        Problem::ChainBroken { seq, location } => ("chain broken", *seq, location.clone()),
        Problem::Removed {
            first, location, ..
        } => ("removed", *first, location.clone()),
        Problem::Reordered { seq, location, .. } => ("reordered", *seq, location.clone()),
        Problem::Duplicate { seq, location } => ("inserted", *seq, location.clone()),
        Problem::SegmentBoundary { location, .. } => ("segment boundary", 0, location.clone()),
        Problem::CheckpointWrongKey { seq, location, .. } => ("wrong key", *seq, location.clone()),
        Problem::CheckpointForged { seq, location } => {
            ("forged checkpoint", *seq, location.clone())
        }
        Problem::CheckpointMismatch { seq, record, .. } => ("rewritten", *seq, record.clone()),
        Problem::CheckpointBeyondEnd { seq, location, .. } => ("cut off", *seq, location.clone()),
        other => panic!("unexpected problem kind: {other}"),
    }
}

fn at(frame: &Frame) -> Location {
    Location::Segment {
        path: frame.segment.clone(),
        offset: frame.offset,
    }
}

fn shifted(frame: &Frame, by: usize) -> Location {
    Location::Segment {
        path: frame.segment.clone(),
        offset: frame.offset + by as u64,
    }
}

/// Seqs of the checkpoints in `dir`, in file order (entry layout: "HCP1", u64 seq, …, 128 bytes).
fn checkpoint_seqs(dir: &Path) -> Vec<u64> {
    std::fs::read(dir.join("checkpoints"))
        .unwrap()
        .chunks_exact(128)
        .map(|entry| u64::from_be_bytes(entry[4..12].try_into().unwrap()))
        .collect()
}

fn checkpoint_at(dir: &Path, index: usize) -> Location {
    Location::Checkpoint {
        path: dir.join("checkpoints"),
        index,
    }
}

fn frame(frames: &[Frame], seq: u64) -> &Frame {
    frames.iter().find(|frame| frame.record.seq == seq).unwrap()
}

/// The record with a changed status (same encoded length), keeping its stored hash.
fn altered(record: &AuditRecord) -> AuditRecord {
    let mut record = record.clone();
    record.event.status = 599;
    record
}

/// Rewrites every segment from `records`, recomputing headers, as an attacker with write
/// access would after changing history.
fn rewrite_segments(frames: &[Frame], records: &[AuditRecord]) {
    let mut by_segment: Vec<(PathBuf, Vec<&AuditRecord>)> = Vec::new();
    for (frame, record) in frames.iter().zip(records) {
        match by_segment.last_mut() {
            Some((path, list)) if *path == frame.segment => list.push(record),
            _ => by_segment.push((frame.segment.clone(), vec![record])),
        }
    }
    for (path, list) in by_segment {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(b"HAECHIAL");
        bytes.extend_from_slice(&1u32.to_be_bytes());
        bytes.extend_from_slice(&list[0].seq.to_be_bytes());
        bytes.extend_from_slice(&list[0].prev_hash);
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_be_bytes());
        for record in list {
            bytes.extend_from_slice(&frame_bytes(record, record.hash));
        }
        std::fs::write(path, bytes).unwrap();
    }
}

struct Case {
    name: &'static str,
    /// Changes the log copy in the directory.
    tamper: fn(&Path, &[Frame]),
    /// Verify with the wrong public key.
    wrong_key: bool,
    /// The findings expected, given the directory and the pristine frames.
    expect: fn(&Path, &[Frame]) -> Vec<Finding>,
    /// The unsigned tail expected, if any.
    unsigned_tail: Option<(u64, u64)>,
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "flip a byte",
            tamper: |_, frames| {
                let target = frame(frames, TARGET);
                let mut bytes = std::fs::read(&target.segment).unwrap();
                bytes[target.offset as usize + 60] ^= 0x01;
                std::fs::write(&target.segment, bytes).unwrap();
            },
            wrong_key: false,
            expect: |_, frames| vec![("damaged", TARGET, at(frame(frames, TARGET)))],
            unsigned_tail: None,
        },
        Case {
            name: "edit a record and fix its checksum",
            tamper: |_, frames| {
                let target = frame(frames, TARGET);
                let bytes = frame_bytes(&altered(&target.record), target.record.hash);
                splice(&target.segment, target.offset, target.len, &bytes);
            },
            wrong_key: false,
            expect: |_, frames| vec![("altered", TARGET, at(frame(frames, TARGET)))],
            unsigned_tail: None,
        },
        Case {
            name: "edit a record and re-hash it",
            tamper: |_, frames| {
                let target = frame(frames, TARGET);
                let record = altered(&target.record);
                let bytes = frame_bytes(&record, record.computed_hash());
                splice(&target.segment, target.offset, target.len, &bytes);
            },
            wrong_key: false,
            expect: |_, frames| vec![("chain broken", TARGET + 1, at(frame(frames, TARGET + 1)))],
            unsigned_tail: None,
        },
        Case {
            name: "edit a record and re-hash the whole chain after it",
            tamper: |_, frames| {
                let mut records: Vec<AuditRecord> =
                    frames.iter().map(|frame| frame.record.clone()).collect();
                let mut prev_hash = records[(TARGET - 2) as usize].hash;
                for record in records.iter_mut().skip((TARGET - 1) as usize) {
                    if record.seq == TARGET {
                        record.event.status = 599;
                    }
                    record.prev_hash = prev_hash;
                    record.hash = record.computed_hash();
                    prev_hash = record.hash;
                }
                rewrite_segments(frames, &records);
            },
            wrong_key: false,
            // Only the signatures can tell: every checkpoint from the target on disagrees.
            expect: |dir, frames| {
                checkpoint_seqs(dir)
                    .into_iter()
                    .filter(|seq| *seq >= TARGET)
                    .map(|seq| ("rewritten", seq, at(frame(frames, seq))))
                    .collect()
            },
            // Only the seal of the first segment (seq 8) still vouches for anything.
            unsigned_tail: Some((9, RECORDS)),
        },
        Case {
            name: "delete a record",
            tamper: |_, frames| {
                let target = frame(frames, TARGET);
                splice(&target.segment, target.offset, target.len, &[]);
            },
            wrong_key: false,
            expect: |_, frames| vec![("removed", TARGET, at(frame(frames, TARGET)))],
            unsigned_tail: None,
        },
        Case {
            name: "swap two records",
            tamper: |_, frames| {
                let first = frame(frames, TARGET);
                let second = frame(frames, TARGET + 1);
                let mut swapped = frame_bytes(&second.record, second.record.hash);
                swapped.extend_from_slice(&frame_bytes(&first.record, first.record.hash));
                splice(
                    &first.segment,
                    first.offset,
                    first.len + second.len,
                    &swapped,
                );
            },
            wrong_key: false,
            expect: |_, frames| {
                let first = frame(frames, TARGET);
                let second = frame(frames, TARGET + 1);
                vec![("reordered", TARGET, shifted(first, second.len))]
            },
            unsigned_tail: None,
        },
        Case {
            name: "insert a copy of a record",
            tamper: |_, frames| {
                let target = frame(frames, TARGET);
                let copy = frame_bytes(&target.record, target.record.hash);
                splice(&target.segment, target.offset + target.len as u64, 0, &copy);
            },
            wrong_key: false,
            expect: |_, frames| {
                let target = frame(frames, TARGET);
                vec![("inserted", TARGET, shifted(target, target.len))]
            },
            unsigned_tail: None,
        },
        Case {
            name: "insert a forged record into the chain",
            tamper: |_, frames| {
                let target = frame(frames, TARGET);
                let forged = AuditRecord::chained(TARGET + 1, event(1000), target.record.hash);
                let bytes = frame_bytes(&forged, forged.hash);
                splice(
                    &target.segment,
                    target.offset + target.len as u64,
                    0,
                    &bytes,
                );
            },
            wrong_key: false,
            expect: |_, frames| {
                let target = frame(frames, TARGET);
                let forged = AuditRecord::chained(TARGET + 1, event(1000), target.record.hash);
                let forged_len = frame_bytes(&forged, forged.hash).len();
                vec![
                    (
                        "inserted",
                        TARGET + 1,
                        shifted(frame(frames, TARGET + 1), forged_len),
                    ),
                    (
                        "chain broken",
                        TARGET + 2,
                        shifted(frame(frames, TARGET + 2), forged_len),
                    ),
                ]
            },
            unsigned_tail: None,
        },
        Case {
            name: "append a forged record at the end",
            tamper: |_, frames| {
                let last = frames.last().unwrap();
                let forged =
                    AuditRecord::chained(last.record.seq + 1, event(1000), last.record.hash);
                let mut bytes = std::fs::read(&last.segment).unwrap();
                bytes.extend_from_slice(&frame_bytes(&forged, forged.hash));
                std::fs::write(&last.segment, bytes).unwrap();
            },
            wrong_key: false,
            // The chain holds; the forged record is only visible as unsigned.
            expect: |_, _| vec![],
            unsigned_tail: Some((RECORDS + 1, RECORDS + 1)),
        },
        Case {
            name: "cut records off the end",
            tamper: |_, frames| {
                let last = frames.last().unwrap();
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&last.segment)
                    .unwrap();
                file.set_len(last.offset).unwrap();
            },
            wrong_key: false,
            expect: |dir, _| {
                let seqs = checkpoint_seqs(dir);
                seqs.iter()
                    .enumerate()
                    .filter(|(_, seq)| **seq == RECORDS)
                    .map(|(index, seq)| ("cut off", *seq, checkpoint_at(dir, index)))
                    .collect()
            },
            // What remains after the seal at seq 32 is no longer signed.
            unsigned_tail: Some((33, RECORDS - 1)),
        },
        Case {
            name: "delete a whole sealed segment",
            tamper: |_, frames| {
                let second = &frames
                    .iter()
                    .find(|frame| frame.segment != frames[0].segment)
                    .unwrap()
                    .segment;
                std::fs::remove_file(second).unwrap();
            },
            wrong_key: false,
            expect: |_, frames| {
                let second = &frames
                    .iter()
                    .find(|frame| frame.segment != frames[0].segment)
                    .unwrap()
                    .segment;
                let removed_first = frames
                    .iter()
                    .find(|frame| &frame.segment == second)
                    .unwrap();
                let third = frames
                    .iter()
                    .find(|frame| frame.segment != frames[0].segment && &frame.segment != second)
                    .unwrap();
                vec![
                    (
                        "segment boundary",
                        0,
                        Location::Segment {
                            path: third.segment.clone(),
                            offset: 0,
                        },
                    ),
                    ("removed", removed_first.record.seq, at(third)),
                ]
            },
            unsigned_tail: None,
        },
        Case {
            name: "verify with the wrong audit key",
            tamper: |_, _| {},
            wrong_key: true,
            expect: |dir, _| {
                checkpoint_seqs(dir)
                    .into_iter()
                    .enumerate()
                    .map(|(index, seq)| ("wrong key", seq, checkpoint_at(dir, index)))
                    .collect()
            },
            unsigned_tail: Some((1, RECORDS)),
        },
        Case {
            name: "edit a checkpoint and fix its checksum",
            tamper: |dir, _| {
                let path = dir.join("checkpoints");
                let mut bytes = std::fs::read(&path).unwrap();
                bytes[20] ^= 0xff; // inside the hash
                let crc = crc32fast::hash(&bytes[0..124]);
                bytes[124..128].copy_from_slice(&crc.to_be_bytes());
                std::fs::write(&path, bytes).unwrap();
            },
            wrong_key: false,
            expect: |dir, _| {
                vec![(
                    "forged checkpoint",
                    checkpoint_seqs(dir)[0],
                    checkpoint_at(dir, 0),
                )]
            },
            unsigned_tail: None,
        },
    ]
}

fn check(case: &Case, pristine: &Path, pristine_frames: &[Frame]) {
    let copy = tempfile::tempdir().unwrap();
    let dir = copy.path().join("audit");
    copy_dir(pristine, &dir);
    // Frame paths of the copy.
    let frames: Vec<Frame> = pristine_frames
        .iter()
        .map(|frame| Frame {
            segment: dir.join(frame.segment.file_name().unwrap()),
            ..frame.clone()
        })
        .collect();
    (case.tamper)(&dir, &frames);
    let key = if case.wrong_key {
        other_key()
    } else {
        audit_key()
    };
    let report: VerifyReport = verify(&VerifySources::log(&dir), &key.verifying_key()).unwrap();
    let found: Vec<Finding> = report.problems.iter().map(finding).collect();
    assert_eq!(
        found,
        (case.expect)(&dir, &frames),
        "{}:\n{report}",
        case.name
    );
    assert_eq!(report.is_intact(), found.is_empty(), "{}", case.name);
    let tail = report.notices.iter().find_map(|notice| match notice {
        Notice::UnsignedTail { first, last } => Some((*first, *last)),
        _ => None,
    });
    assert_eq!(tail, case.unsigned_tail, "{}:\n{report}", case.name);
}

#[tokio::test]
async fn every_kind_of_tampering_is_caught_at_the_right_place() {
    let pristine = tempfile::tempdir().unwrap();
    let mut settings = config(pristine.path());
    settings.segment_max_bytes = 2048;
    settings.checkpoint_every_records = 10;
    let (log, _) = open(settings);
    write(&log, 1..=RECORDS).await;
    log.shutdown().await.unwrap();

    let frames = frames(pristine.path());
    assert_eq!(frames.len() as u64, RECORDS);
    // The target and its neighbours share a segment, and no checkpoint sits on them.
    let target = frame(&frames, TARGET);
    for seq in [TARGET - 1, TARGET + 1, TARGET + 2] {
        assert_eq!(frame(&frames, seq).segment, target.segment, "adjust TARGET");
    }
    let checkpoints = checkpoint_seqs(pristine.path());
    assert!(
        !checkpoints
            .iter()
            .any(|seq| (TARGET - 1..=TARGET + 2).contains(seq)),
        "{checkpoints:?}"
    );
    assert!(checkpoints.contains(&RECORDS));

    let untouched = verify(
        &VerifySources::log(pristine.path()),
        &audit_key().verifying_key(),
    )
    .unwrap();
    assert!(untouched.is_intact(), "{untouched}");
    assert_eq!(untouched.records, RECORDS);

    for case in cases() {
        check(&case, pristine.path(), &frames);
    }
}
