//! The vault's bulk reads for leak matching: many candidates and records at once, the
//! blind-index snapshot with its record handles, and the pass over every record by handle.

use std::sync::Arc;

use haechi_vault::{IdentifyingRecord, IndexEntry, RecordRef};

use crate::Store;
use crate::vault::{email, phone, record};

crate::conformance!(
    many_candidates_and_records_agree_with_one_at_a_time,
    snapshots_agree_with_lookups_and_handles_fetch_their_records,
    the_span_of_handles_reads_every_record_in_handle_order,
    an_empty_vault_has_no_span_and_an_empty_snapshot,
);

/// c-a and c-b share an e-mail value (truncated indexes collide); c-c's phone value equals
/// their e-mail value under the other kind.
async fn three_customers<S: Store>(store: &S) {
    let customers = [
        ("c-a", vec![email(7), phone(-3)]),
        ("c-b", vec![email(7), phone(11)]),
        ("c-c", vec![email(i64::MAX), phone(7)]),
    ];
    for (id, indexes) in &customers {
        store.insert_record(&record(id, 1), indexes).await.unwrap();
    }
}

fn probes() -> [IndexEntry; 7] {
    [
        email(7),
        phone(7),
        phone(-3),
        email(i64::MAX),
        phone(12),
        email(i64::MIN),
        email(7),
    ]
}

async fn many_candidates_and_records_agree_with_one_at_a_time<S: Store>(store: Arc<S>) {
    three_customers(&*store).await;
    let many = store.candidates_of_many(&probes()).await.unwrap();
    assert_eq!(many.len(), probes().len());
    for (probe, found) in probes().iter().zip(&many) {
        assert_eq!(*found, store.candidates(*probe).await.unwrap(), "{probe:?}");
    }
    assert_eq!(many[0], ["c-a", "c-b"]);
    assert!(store.candidates_of_many(&[]).await.unwrap().is_empty());

    let ids = ["c-c", "c-none", "c-a"].map(String::from);
    let mut bulk = store.records_in_bulk(&ids).await.unwrap();
    bulk.sort_by(|x, y| x.customer_id.cmp(&y.customer_id));
    assert_eq!(bulk, vec![record("c-a", 1), record("c-c", 1)]);
    assert!(store.records_in_bulk(&[]).await.unwrap().is_empty());
}

/// The snapshot answers every entry as the per-entry lookup does, its handles fetch the
/// records they name, and a record shredded after the snapshot was read is skipped.
async fn snapshots_agree_with_lookups_and_handles_fetch_their_records<S: Store>(store: Arc<S>) {
    three_customers(&*store).await;
    let snapshot = store.blind_index_snapshot().await.unwrap().unwrap();
    assert_eq!(snapshot.len(), 6);
    for probe in probes() {
        let handles: Vec<RecordRef> = snapshot.candidates(probe).collect();
        let mut ids: Vec<String> = store
            .records_by_ref(&handles)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, record)| record.customer_id)
            .collect();
        ids.sort();
        assert_eq!(ids, store.candidates(probe).await.unwrap(), "{probe:?}");
    }
    let handles: Vec<RecordRef> = snapshot.candidates(email(7)).collect();
    let fetched = store.records_by_ref(&handles).await.unwrap();
    assert_eq!(fetched.len(), 2);
    for (handle, fetched) in &fetched {
        assert!(handles.contains(handle));
        assert_eq!(*fetched, record(&fetched.customer_id, 1));
    }
    assert!(store.shred("c-a").await.unwrap());
    let after: Vec<String> = store
        .records_by_ref(&handles)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, record)| record.customer_id)
        .collect();
    assert_eq!(after, ["c-b"]);
    assert!(store.records_by_ref(&[]).await.unwrap().is_empty());
    assert!(
        store
            .records_by_ref(&[RecordRef(i64::MAX), RecordRef(-1)])
            .await
            .unwrap()
            .is_empty()
    );
}

fn identifying(id: &str) -> IdentifyingRecord {
    let full = record(id, 1);
    IdentifyingRecord {
        customer_id: full.customer_id,
        wrapped_data_key: full.wrapped_data_key,
        key_version: full.key_version,
        name: full.fields["name"].clone(),
        email: full.fields["email"].clone(),
        phone: Vec::new(),
    }
}

async fn the_span_of_handles_reads_every_record_in_handle_order<S: Store>(store: Arc<S>) {
    let ids: Vec<String> = (0..50).map(|n| format!("c-{n:02}")).collect();
    for id in &ids {
        store.insert_record(&record(id, 1), &[]).await.unwrap();
    }
    let (first, last) = store.record_span().await.unwrap().unwrap();
    assert!(first < last);
    let all = store
        .identifying_records_between(first, last)
        .await
        .unwrap();
    let read: Vec<&str> = all.iter().map(|r| r.customer_id.as_str()).collect();
    // Inserted one by one, so handle order is insertion order.
    assert_eq!(read, ids.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(all[0], identifying("c-00"));

    // Ranges split anywhere read each record once; a shredded record is skipped.
    assert!(store.shred("c-10").await.unwrap());
    let middle = RecordRef(first.0 + (last.0 - first.0) / 2);
    let mut halves = store
        .identifying_records_between(first, middle)
        .await
        .unwrap();
    halves.extend(
        store
            .identifying_records_between(RecordRef(middle.0 + 1), last)
            .await
            .unwrap(),
    );
    assert_eq!(halves.len(), 49);
    assert!(halves.iter().all(|r| r.customer_id != "c-10"));
    assert!(
        store
            .identifying_records_between(RecordRef(last.0 + 1), RecordRef(last.0 + 100))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn an_empty_vault_has_no_span_and_an_empty_snapshot<S: Store>(store: Arc<S>) {
    assert_eq!(store.record_span().await.unwrap(), None);
    let snapshot = store.blind_index_snapshot().await.unwrap().unwrap();
    assert!(snapshot.is_empty());
    assert_eq!(store.count().await.unwrap(), 0);
}
