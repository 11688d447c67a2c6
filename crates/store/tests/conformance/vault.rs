//! `VaultStore`: records with their index entries, replacement with login identifiers,
//! shredding, key rewrapping and bulk import.

use std::sync::Arc;

use haechi_events::{StoreError, Timestamp};
use haechi_token::AccountRecord;
use haechi_vault::{BlindIndexKind, EncryptedRecord, ImportItem, IndexEntry};

use crate::Store;

crate::conformance!(
    records_insert_once_and_read_back_with_their_index,
    a_replaced_record_takes_new_fields_and_index_entries,
    changed_logins_move_with_the_record_or_nothing_changes,
    shredding_removes_record_and_index_and_erasure_the_account,
    wrapped_keys_page_in_byte_order_and_rewrap,
    imports_commit_whole_batches_and_resume_after_them,
);

pub fn record(id: &str, version: u32) -> EncryptedRecord {
    EncryptedRecord {
        customer_id: id.into(),
        wrapped_data_key: format!("key-of-{id}").into_bytes(),
        key_version: version,
        fields: [
            ("name".to_string(), format!("sealed-name-{id}").into_bytes()),
            ("email".to_string(), vec![0, 1, 2, 255]),
            ("addresses".to_string(), vec![7; 3000]),
        ]
        .into(),
        created_at: Timestamp::from_micros(1_700_000_000_123_456),
        updated_at: Timestamp::from_micros(1_700_000_000_654_321),
    }
}

pub fn email(value: i64) -> IndexEntry {
    IndexEntry {
        kind: BlindIndexKind::Email,
        value,
    }
}

pub fn phone(value: i64) -> IndexEntry {
    IndexEntry {
        kind: BlindIndexKind::Phone,
        value,
    }
}

fn hash(byte: u8) -> [u8; 32] {
    [byte; 32]
}

fn account(id: &str, hashes: &[u8]) -> AccountRecord {
    AccountRecord {
        customer_id: id.into(),
        login_hashes: hashes.iter().map(|byte| hash(*byte)).collect(),
        password_hash: None,
        created_at: Timestamp::from_secs(2),
    }
}

async fn records_insert_once_and_read_back_with_their_index<S: Store>(store: Arc<S>) {
    let a = record("c-a", 1);
    let mut b = record("c-b", u32::MAX);
    b.fields.clear();
    store
        .insert_record(&a, &[email(7), phone(-3)])
        .await
        .unwrap();
    store.insert_record(&b, &[email(7)]).await.unwrap();
    let clash = record("c-a", 2);
    assert!(matches!(
        store.insert_record(&clash, &[email(99)]).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.record("c-a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.record("c-b").await.unwrap(), Some(b.clone()));
    assert_eq!(store.record("c-none").await.unwrap(), None);
    assert!(store.candidates(email(99)).await.unwrap().is_empty());
    assert_eq!(
        store.candidates(email(7)).await.unwrap(),
        vec!["c-a".to_string(), "c-b".to_string()]
    );
    assert_eq!(
        store.candidates(phone(-3)).await.unwrap(),
        vec!["c-a".to_string()]
    );
    assert!(store.candidates(phone(7)).await.unwrap().is_empty());
    // In the order asked, missing ids skipped, an id asked twice answered twice.
    let ids = ["c-b", "c-none", "c-a", "c-b"].map(String::from);
    assert_eq!(
        store.records(&ids).await.unwrap(),
        vec![b.clone(), a.clone(), b.clone()]
    );
    assert!(store.records(&[]).await.unwrap().is_empty());
    assert_eq!(store.count().await.unwrap(), 2);
}

async fn a_replaced_record_takes_new_fields_and_index_entries<S: Store>(store: Arc<S>) {
    store
        .insert_record(&record("c-a", 1), &[email(1), phone(2)])
        .await
        .unwrap();
    let mut changed = record("c-a", 2);
    changed.fields.remove("addresses");
    changed.fields.insert("phone".into(), vec![42]);
    changed.created_at = Timestamp::from_secs(5);
    store
        .replace_record(&changed, &[email(1), phone(3)])
        .await
        .unwrap();
    assert_eq!(store.record("c-a").await.unwrap(), Some(changed));
    assert!(store.candidates(phone(2)).await.unwrap().is_empty());
    assert_eq!(store.candidates(phone(3)).await.unwrap(), ["c-a"]);
    assert_eq!(store.candidates(email(1)).await.unwrap(), ["c-a"]);
    // Replacing a record that does not exist adds it.
    store
        .replace_record(&record("c-new", 1), &[])
        .await
        .unwrap();
    assert_eq!(
        store.record("c-new").await.unwrap(),
        Some(record("c-new", 1))
    );
    assert_eq!(store.count().await.unwrap(), 2);
}

async fn changed_logins_move_with_the_record_or_nothing_changes<S: Store>(store: Arc<S>) {
    store
        .insert_record(&record("c-a", 1), &[email(1)])
        .await
        .unwrap();
    store
        .insert_account(&account("c-a", &[1, 2]))
        .await
        .unwrap();
    store
        .insert_record(&record("c-b", 1), &[email(5)])
        .await
        .unwrap();
    store.insert_account(&account("c-b", &[5])).await.unwrap();

    // Alice keeps her phone (2) and changes her e-mail (1 → 3).
    let changed = record("c-a", 2);
    store
        .replace_record_and_logins(&changed, &[email(3)], &[hash(2), hash(3)])
        .await
        .unwrap();
    assert_eq!(store.record("c-a").await.unwrap(), Some(changed.clone()));
    assert_eq!(store.account_by_login(&hash(1)).await.unwrap(), None);
    for login in [2, 3] {
        let found = store.account_by_login(&hash(login)).await.unwrap().unwrap();
        assert_eq!(found.customer_id, "c-a");
    }

    // Bob's e-mail is taken: neither his record, nor his index, nor his logins change.
    let refused = record("c-a", 3);
    assert!(matches!(
        store
            .replace_record_and_logins(&refused, &[email(9)], &[hash(5)])
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.record("c-a").await.unwrap(), Some(changed));
    assert_eq!(store.candidates(email(3)).await.unwrap(), ["c-a"]);
    assert!(store.candidates(email(9)).await.unwrap().is_empty());
    assert_eq!(
        store
            .account_by_login(&hash(5))
            .await
            .unwrap()
            .unwrap()
            .customer_id,
        "c-b"
    );
    assert_eq!(
        store
            .account_by_login(&hash(3))
            .await
            .unwrap()
            .unwrap()
            .customer_id,
        "c-a"
    );

    // A customer without an account gets the record and no account.
    store
        .insert_record(&record("c-c", 1), &[email(20)])
        .await
        .unwrap();
    store
        .replace_record_and_logins(&record("c-c", 2), &[email(21)], &[hash(21)])
        .await
        .unwrap();
    assert_eq!(store.record("c-c").await.unwrap(), Some(record("c-c", 2)));
    assert_eq!(store.account_by_login(&hash(21)).await.unwrap(), None);
}

async fn shredding_removes_record_and_index_and_erasure_the_account<S: Store>(store: Arc<S>) {
    store
        .insert_record(&record("c-a", 1), &[email(1), phone(2)])
        .await
        .unwrap();
    store.insert_account(&account("c-a", &[1])).await.unwrap();
    store
        .insert_record(&record("c-b", 1), &[email(1)])
        .await
        .unwrap();
    store
        .insert_account(&account("c-only-account", &[8]))
        .await
        .unwrap();

    assert!(store.shred("c-a").await.unwrap());
    assert_eq!(store.record("c-a").await.unwrap(), None);
    assert_eq!(store.candidates(email(1)).await.unwrap(), ["c-b"]);
    assert!(store.candidates(phone(2)).await.unwrap().is_empty());
    assert!(!store.shred("c-a").await.unwrap());
    assert_eq!(store.count().await.unwrap(), 1);
    // The account is the authority's: erasure deletes it there, with its login identifiers.
    assert!(store.account_by_login(&hash(1)).await.unwrap().is_some());
    assert!(store.delete_account("c-a").await.unwrap());
    assert!(!store.delete_account("c-a").await.unwrap());
    assert_eq!(store.account_by_login(&hash(1)).await.unwrap(), None);
    assert!(store.delete_account("c-only-account").await.unwrap());
    assert_eq!(store.account_by_login(&hash(8)).await.unwrap(), None);
    // The login identifier is free again.
    store.insert_account(&account("c-new", &[1])).await.unwrap();
}

async fn wrapped_keys_page_in_byte_order_and_rewrap<S: Store>(store: Arc<S>) {
    // Byte order, not a locale's: "B" < "_" < "a" < "b" < "é".
    let ids = ["b", "é", "a", "B", "_"];
    for id in ids {
        store.insert_record(&record(id, 1), &[]).await.unwrap();
    }
    let first = store.wrapped_keys(None, 2).await.unwrap();
    let names = |page: &[(String, Vec<u8>)]| -> Vec<String> {
        page.iter().map(|(id, _)| id.clone()).collect()
    };
    assert_eq!(names(&first), ["B", "_"]);
    assert_eq!(first[0].1, b"key-of-B".to_vec());
    let second = store.wrapped_keys(Some("_"), 2).await.unwrap();
    assert_eq!(names(&second), ["a", "b"]);
    let last = store.wrapped_keys(Some("b"), 2).await.unwrap();
    assert_eq!(names(&last), ["é"]);
    assert!(store.wrapped_keys(Some("é"), 2).await.unwrap().is_empty());

    store
        .rewrap_keys(&[
            ("a".into(), vec![1, 1]),
            ("é".into(), vec![2, 2]),
            ("missing".into(), vec![3]),
        ])
        .await
        .unwrap();
    let all = store.wrapped_keys(None, 100).await.unwrap();
    assert_eq!(all.len(), 5);
    assert_eq!(
        store.record("a").await.unwrap().unwrap().wrapped_data_key,
        [1, 1]
    );
    assert_eq!(
        store.record("é").await.unwrap().unwrap().wrapped_data_key,
        [2, 2]
    );
    assert_eq!(store.record("missing").await.unwrap(), None);
    store.rewrap_keys(&[]).await.unwrap();
}

/// One import item: a record with an e-mail and a phone entry, and its account.
pub fn item(id: &str, logins: &[u8]) -> ImportItem {
    ImportItem {
        record: record(id, 1),
        indexes: logins.iter().map(|byte| email(i64::from(*byte))).collect(),
        account: account(id, logins),
    }
}

async fn imports_commit_whole_batches_and_resume_after_them<S: Store>(store: Arc<S>) {
    store
        .insert_account(&account("c-existing", &[1]))
        .await
        .unwrap();
    assert_eq!(store.import_progress("dump.csv").await.unwrap(), None);
    let first = [
        item("c-1", &[10, 11]),
        item("c-2", &[1]), // taken by an existing account
        item("c-3", &[12]),
        item("c-4", &[12, 13]), // taken by c-3, earlier in the batch
        item("c-5", &[14]),
    ];
    assert_eq!(
        store.import_batch("dump.csv", 5, &first).await.unwrap(),
        [true, false, true, false, true]
    );
    assert_eq!(store.import_progress("dump.csv").await.unwrap(), Some(5));
    assert_eq!(store.import_progress("other.csv").await.unwrap(), None);
    assert_eq!(store.record("c-1").await.unwrap(), Some(record("c-1", 1)));
    assert_eq!(store.record("c-2").await.unwrap(), None);
    assert_eq!(store.record("c-4").await.unwrap(), None);
    assert_eq!(store.candidates(email(11)).await.unwrap(), ["c-1"]);
    assert_eq!(
        store
            .account_by_login(&hash(12))
            .await
            .unwrap()
            .unwrap()
            .customer_id,
        "c-3"
    );
    assert_eq!(store.account_by_login(&hash(13)).await.unwrap(), None);

    // The same batch again (a resumed import that re-reads it) inserts nothing.
    assert_eq!(
        store.import_batch("dump.csv", 5, &first).await.unwrap(),
        [false; 5]
    );
    // A batch that fails is not half-written, and the progress stays where it was.
    let failing = [item("c-6", &[20]), item("c-1", &[21])];
    assert!(store.import_batch("dump.csv", 7, &failing).await.is_err());
    assert_eq!(store.import_progress("dump.csv").await.unwrap(), Some(5));
    assert_eq!(store.record("c-6").await.unwrap(), None);
    assert_eq!(store.account_by_login(&hash(20)).await.unwrap(), None);

    let rest = [item("c-6", &[20]), item("c-7", &[])];
    assert_eq!(
        store.import_batch("dump.csv", 9, &rest).await.unwrap(),
        [true, true]
    );
    assert_eq!(store.import_progress("dump.csv").await.unwrap(), Some(9));
    // A batch whose customers have no login identifier at all.
    assert_eq!(
        store
            .import_batch("dump.csv", 10, &[item("c-8", &[])])
            .await
            .unwrap(),
        [true]
    );
    assert_eq!(store.record("c-8").await.unwrap(), Some(record("c-8", 1)));
    assert_eq!(store.count().await.unwrap(), 6);
    // An empty batch still records progress.
    assert!(
        store
            .import_batch("dump.csv", 12, &[])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.import_progress("dump.csv").await.unwrap(), Some(12));
}
