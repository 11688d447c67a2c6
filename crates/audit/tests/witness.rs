//! The witness: every signed checkpoint kept outside the log directory, and `verify` with it.

use std::path::Path;
use std::time::Duration;

use haechi_audit::{AuditLogConfig, Problem, VerifySources, open_witness, verify};

use crate::util::*;

/// Drops the log's own checkpoint entries that sign a seq above `last_seq`: what someone
/// covering a cut does.
fn cut_checkpoints_after(dir: &Path, last_seq: u64) {
    let path = dir.join("checkpoints");
    let bytes = std::fs::read(&path).unwrap();
    let kept: Vec<u8> = bytes
        .chunks_exact(128)
        .filter(|entry| u64::from_be_bytes(entry[4..12].try_into().unwrap()) <= last_seq)
        .flatten()
        .copied()
        .collect();
    std::fs::write(&path, kept).unwrap();
}

#[test]
fn the_default_checkpoint_interval_is_a_second() {
    assert_eq!(
        AuditLogConfig::new("/nonexistent").checkpoint_interval,
        Duration::from_secs(1)
    );
}

#[tokio::test]
async fn a_tail_cut_with_its_checkpoints_is_caught_only_with_the_witness() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let address = format!("file://{}", outside.path().join("witness.jsonl").display());
    let mut settings = config(dir.path());
    settings.checkpoint_every_records = 5;
    settings.witness = Some(open_witness(&address).unwrap());
    let (log, _) = open(settings);
    write(&log, 1..=12).await;
    log.shutdown().await.unwrap();
    let status = log.witness_status().unwrap();
    assert_eq!((status.delivered_seq, status.signed_seq), (12, 12));
    assert_eq!(status.failures, 0);

    let witnessed = open_witness(&address).unwrap().read_back().await.unwrap();
    let seqs: Vec<u64> = witnessed
        .entries
        .iter()
        .map(|(_, entry)| entry.as_ref().unwrap().seq)
        .collect();
    assert_eq!(seqs, [5, 10, 12]);
    let key = audit_key().verifying_key();
    let with_witness = VerifySources {
        witness: Some(witnessed),
        ..VerifySources::log(dir.path())
    };
    let report = verify(&with_witness, &key).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.witnessed, Some((3, 12)));

    // Cut seq 11 and 12 at a frame boundary, and the checkpoint that signed them.
    // One segment, seqs from 1: the eleventh frame holds seq 11.
    let cut = frames(dir.path()).into_iter().nth(10).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&cut.segment)
        .unwrap();
    file.set_len(cut.offset).unwrap();
    drop(file);
    cut_checkpoints_after(dir.path(), 10);

    let plain = verify(&VerifySources::log(dir.path()), &key).unwrap();
    assert!(
        plain.is_intact(),
        "the limitation without a witness: {plain}"
    );
    let report = verify(&with_witness, &key).unwrap();
    assert!(!report.is_intact());
    match report.problems.as_slice() {
        [Problem::WitnessAhead { seq, last_seq, .. }] => assert_eq!((*seq, *last_seq), (12, 10)),
        other => panic!("{other:?}"),
    }
    let text = report.to_string();
    assert!(
        text.contains("holds a signed head at seq 12") && text.contains("the log ends at seq 10"),
        "{text}"
    );
}

#[tokio::test]
async fn a_rewritten_chain_disagrees_with_the_witness() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let address = format!("file://{}", outside.path().join("witness.jsonl").display());
    let mut settings = config(dir.path());
    settings.witness = Some(open_witness(&address).unwrap());
    let (log, _) = open(settings);
    write(&log, 1..=3).await;
    log.shutdown().await.unwrap();
    let witnessed = open_witness(&address).unwrap().read_back().await.unwrap();
    // The whole log rewritten (new records, re-hashed, re-signed with the same key) — the
    // log verifies on its own but not against what the witness saw.
    std::fs::remove_dir_all(dir.path()).unwrap();
    let (log, _) = open(config(dir.path()));
    write(&log, 101..=103).await;
    log.shutdown().await.unwrap();
    let key = audit_key().verifying_key();
    assert!(
        verify(&VerifySources::log(dir.path()), &key)
            .unwrap()
            .is_intact()
    );
    let report = verify(
        &VerifySources {
            witness: Some(witnessed),
            ..VerifySources::log(dir.path())
        },
        &key,
    )
    .unwrap();
    assert!(
        matches!(
            report.problems.as_slice(),
            [Problem::WitnessMismatch { seq: 3, .. }]
        ),
        "{report}"
    );
}

#[tokio::test]
async fn witness_entries_signed_by_another_key_or_garbled_are_findings() {
    let outside = tempfile::tempdir().unwrap();
    let path = outside.path().join("witness.jsonl");
    let forged = haechi_audit::witness::checkpoint_json(&haechi_audit::Checkpoint::sign(
        1,
        [0; 32],
        haechi_events::Timestamp::from_secs(1),
        &other_key(),
    ));
    std::fs::write(
        &path,
        format!(
            "{}\nnot json\n{{\"torn",
            serde_json::to_string(&forged).unwrap()
        ),
    )
    .unwrap();
    let witnessed = open_witness(&format!("file://{}", path.display()))
        .unwrap()
        .read_back()
        .await
        .unwrap();
    // The torn last line (no newline) is not an entry yet.
    assert_eq!(witnessed.entries.len(), 2);
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(config(dir.path()));
    write(&log, 1..=1).await;
    log.shutdown().await.unwrap();
    let report = verify(
        &VerifySources {
            witness: Some(witnessed),
            ..VerifySources::log(dir.path())
        },
        &audit_key().verifying_key(),
    )
    .unwrap();
    assert!(
        matches!(
            report.problems.as_slice(),
            [
                Problem::CheckpointWrongKey { .. },
                Problem::CorruptCheckpoint { .. }
            ]
        ),
        "{report}"
    );
}

#[test]
fn witness_addresses_are_checked() {
    for bad in [
        "witness.jsonl",
        "file://relative/path",
        "file:///dir/",
        "nats://bus/subject",
        "http://user:pass@host/x",
        "https://host/x",
    ] {
        assert!(open_witness(bad).is_err(), "{bad}");
    }
    for good in ["file:///var/lib/w.jsonl", "http://witness.internal:8080/cp"] {
        assert!(open_witness(good).is_ok(), "{good}");
    }
}
