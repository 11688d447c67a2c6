//! Reading records back by seq (an alert's evidence, for the console): every seq the live log
//! holds is returned once, in order, in one forward pass; pruned and future seqs are left out,
//! not an error.

use haechi_audit::{ActiveSegment, ExportOptions, prune_log};
use haechi_events::Timestamp;

use crate::util::{START, config, event_at, open};

#[tokio::test]
async fn spread_seqs_come_back_in_order_and_pruned_ones_are_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let archive = tempfile::tempdir().unwrap();
    let mut settings = config(dir.path());
    // Small segments: the seqs fall in many of them, the first ones pruned below.
    settings.segment_max_bytes = 4096;
    let (log, _) = open(settings);
    for n in 1..=300u64 {
        let time = Timestamp::from_micros(START + n as i64 * 7_200_000_000);
        log.append(event_at(n, time)).await.unwrap();
    }
    let wanted = vec![299, 3, 150, 151, 17, 17, 260, 9_999];
    let seqs: Vec<u64> = log
        .records_at(wanted.clone())
        .await
        .unwrap()
        .iter()
        .map(|record| record.seq)
        .collect();
    assert_eq!(
        seqs,
        vec![3, 17, 150, 151, 260, 299],
        "sorted, once each, none beyond the log"
    );

    log.export(
        archive.path(),
        ActiveSegment::Leave,
        ExportOptions::default(),
    )
    .await
    .unwrap();
    log.shutdown().await.unwrap();
    let pruned = prune_log(dir.path(), u64::MAX).unwrap();
    assert!(!pruned.deleted.is_empty(), "some segments are pruned");
    let (log, _) = open(config(dir.path()));
    let seqs: Vec<u64> = log
        .records_at(wanted)
        .await
        .unwrap()
        .iter()
        .map(|record| record.seq)
        .collect();
    assert!(!seqs.contains(&3) && seqs.contains(&299), "{seqs:?}");
    log.shutdown().await.unwrap();
}
