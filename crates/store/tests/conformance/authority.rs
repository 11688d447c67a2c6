//! `AuthorityStore`: keys, secrets, sessions, the ledger, refresh tokens, accounts, clients.

use std::sync::Arc;

use haechi_custody::{KeyOrigin, KeyRecord, KeyState, SigningAlgorithm};
use haechi_events::{Principal, StoreError, Timestamp};
use haechi_token::{
    AccountRecord, ClientRecord, LedgerEntry, RefreshRecord, SessionRecord, StoredKey,
};

use crate::Store;

crate::conformance!(
    keys_insert_conflict_update_and_read_back,
    secrets_are_kept_once_and_rewrapped_together,
    racing_secret_inserts_agree_on_one_secret,
    sessions_revoke_once_and_list_the_live_ones,
    the_ledger_records_looks_up_revokes_and_prunes,
    refresh_tokens_are_spent_once,
    racing_refresh_spends_have_exactly_one_winner,
    accounts_refuse_taken_login_identifiers_whole,
    clients_insert_once_and_list_in_id_order,
);

fn t(seconds: i64) -> Timestamp {
    Timestamp::from_secs(seconds)
}

fn hash(byte: u8) -> [u8; 32] {
    [byte; 32]
}

fn key(kid: &str, created: i64) -> StoredKey {
    StoredKey {
        record: KeyRecord {
            kid: kid.into(),
            algorithm: SigningAlgorithm::EdDsa,
            state: KeyState::Pending,
            origin: KeyOrigin::Generated,
            public_jwk: serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": kid}),
            created_at: t(created),
            activated_at: None,
            retiring_at: None,
            verify_until: None,
            ended_at: None,
        },
        wrapped_private_key: vec![created as u8, 0, 255, 7],
    }
}

async fn keys_insert_conflict_update_and_read_back<S: Store>(store: Arc<S>) {
    assert!(store.keys().await.unwrap().is_empty());
    let later = key("kid-b", 20);
    let earlier = key("kid-a", 10);
    store.insert_key(&later).await.unwrap();
    store.insert_key(&earlier).await.unwrap();
    let mut clash = key("kid-b", 30);
    clash.wrapped_private_key = vec![9];
    assert!(matches!(
        store.insert_key(&clash).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.keys().await.unwrap(), vec![earlier.clone(), later]);

    let mut record = earlier.record.clone();
    record.state = KeyState::Retiring;
    record.activated_at = Some(t(11));
    record.retiring_at = Some(t(12));
    record.verify_until = Some(Timestamp::from_micros(13_000_001));
    record.ended_at = Some(t(14));
    // Two records in one write (a revocation and its successor's promotion): both land.
    let mut successor = store.keys().await.unwrap()[1].record.clone();
    assert_eq!(successor.kid, "kid-b");
    successor.state = KeyState::Active;
    successor.activated_at = Some(t(12));
    store
        .update_keys(&[record.clone(), successor.clone()])
        .await
        .unwrap();
    let mut imported = key("kid-c", 5);
    imported.record.algorithm = SigningAlgorithm::Es256;
    imported.record.origin = KeyOrigin::Imported;
    imported.record.state = KeyState::Active;
    store.insert_key(&imported).await.unwrap();
    let keys = store.keys().await.unwrap();
    assert_eq!(keys.len(), 3);
    assert_eq!(keys[0], imported);
    assert_eq!(keys[1].record, record);
    assert_eq!(keys[1].wrapped_private_key, earlier.wrapped_private_key);
    assert_eq!(keys[2].record, successor);
}

async fn secrets_are_kept_once_and_rewrapped_together<S: Store>(store: Arc<S>) {
    assert_eq!(store.secret("blind-index").await.unwrap(), None);
    let first = store
        .insert_secret_if_absent("blind-index", &[1, 2, 3])
        .await
        .unwrap();
    assert_eq!(first, vec![1, 2, 3]);
    let again = store
        .insert_secret_if_absent("blind-index", &[9, 9])
        .await
        .unwrap();
    assert_eq!(again, vec![1, 2, 3], "an existing secret wins");
    store
        .insert_secret_if_absent("audit-key", &[0, 0xff])
        .await
        .unwrap();
    assert_eq!(
        store.secrets().await.unwrap(),
        vec![
            ("audit-key".to_string(), vec![0, 0xff]),
            ("blind-index".to_string(), vec![1, 2, 3]),
        ]
    );
    store.insert_key(&key("kid-a", 1)).await.unwrap();
    store
        .rewrap_authority_secrets(
            &[
                ("blind-index".into(), vec![4, 5]),
                ("never-stored".into(), vec![6]),
            ],
            &[("kid-a".into(), vec![7, 7, 7])],
        )
        .await
        .unwrap();
    assert_eq!(store.secret("blind-index").await.unwrap(), Some(vec![4, 5]));
    assert_eq!(
        store.secret("audit-key").await.unwrap(),
        Some(vec![0, 0xff])
    );
    assert_eq!(store.secret("never-stored").await.unwrap(), None);
    assert_eq!(
        store.keys().await.unwrap()[0].wrapped_private_key,
        vec![7, 7, 7]
    );
    store.rewrap_authority_secrets(&[], &[]).await.unwrap();
}

async fn racing_secret_inserts_agree_on_one_secret<S: Store>(store: Arc<S>) {
    for round in 0..5u8 {
        let name = format!("secret-{round}");
        let tasks: Vec<_> = (0..8u8)
            .map(|contender| {
                let store = store.clone();
                let name = name.clone();
                tokio::spawn(async move {
                    store
                        .insert_secret_if_absent(&name, &[round, contender])
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        let stored = store.secret(&name).await.unwrap().unwrap();
        assert!(
            answers.iter().all(|answer| *answer == stored),
            "{answers:?}"
        );
    }
}

fn session(sid: &str, principal: Principal, expires: i64) -> SessionRecord {
    SessionRecord {
        sid: sid.into(),
        principal,
        created_at: t(1),
        expires_at: t(expires),
        revoked_at: None,
        revoke_reason: None,
    }
}

async fn sessions_revoke_once_and_list_the_live_ones<S: Store>(store: Arc<S>) {
    let alice = Principal::Customer("c-alice".into());
    let shipping = Principal::Service("shipping".into());
    let a = session("s-a", alice.clone(), 100);
    let b = session("s-b", alice.clone(), 100);
    let c = session("s-c", shipping.clone(), 100);
    let old = session("s-old", alice.clone(), 10);
    for s in [&a, &b, &c, &old] {
        store.insert_session(s).await.unwrap();
    }
    assert!(matches!(
        store.insert_session(&a).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.session("s-a").await.unwrap(), Some(a.clone()));
    assert_eq!(store.session("s-none").await.unwrap(), None);

    store.revoke_session("s-b", t(20), "logout").await.unwrap();
    store.revoke_session("s-b", t(30), "again").await.unwrap();
    store
        .revoke_session("s-none", t(30), "nothing")
        .await
        .unwrap();
    let revoked = store.session("s-b").await.unwrap().unwrap();
    assert_eq!(
        revoked.revoked_at,
        Some(t(20)),
        "the first revocation stays"
    );
    assert_eq!(revoked.revoke_reason.as_deref(), Some("logout"));

    let sorted = |mut sessions: Vec<SessionRecord>| {
        sessions.sort_by(|x, y| x.sid.cmp(&y.sid));
        sessions
    };
    assert_eq!(
        sorted(store.live_sessions(t(50)).await.unwrap()),
        vec![a.clone(), c.clone()]
    );
    assert_eq!(
        sorted(store.live_sessions(t(5)).await.unwrap()),
        vec![a.clone(), c.clone(), old.clone()]
    );
    assert!(store.live_sessions(t(100)).await.unwrap().is_empty());
    assert_eq!(
        store.live_sessions_of(&alice, t(50)).await.unwrap(),
        vec![a]
    );
    assert_eq!(
        store.live_sessions_of(&shipping, t(50)).await.unwrap(),
        vec![c]
    );
    assert!(
        store
            .live_sessions_of(&Principal::Admin("root".into()), t(50))
            .await
            .unwrap()
            .is_empty()
    );
}

fn entry(byte: u8, jti: &str, sid: &str, kid: &str, expires: i64) -> LedgerEntry {
    LedgerEntry {
        token_hash: hash(byte),
        jti: jti.into(),
        sid: sid.into(),
        kid: kid.into(),
        principal: Principal::Customer("c-alice".into()),
        scope: "profile:read orders".into(),
        issued_at: Timestamp::from_micros(1_000_123),
        expires_at: t(expires),
        revoked_at: None,
    }
}

fn refresh(byte: u8, sid: &str, expires: i64) -> RefreshRecord {
    RefreshRecord {
        token_hash: hash(byte),
        sid: sid.into(),
        issued_at: t(1),
        expires_at: t(expires),
        spent_at: None,
    }
}

async fn the_ledger_records_looks_up_revokes_and_prunes<S: Store>(store: Arc<S>) {
    let one = entry(1, "jti-1", "s-b", "kid-a", 100);
    let respelled = entry(2, "jti-1", "s-b", "kid-a", 100);
    let other_key = entry(3, "jti-3", "s-a", "kid-b", 100);
    let same_session = entry(4, "jti-4", "s-b", "kid-a", 100);
    let expired = entry(5, "jti-5", "s-z", "kid-a", 10);
    for e in [&one, &respelled, &other_key, &same_session, &expired] {
        store.record_issued(e).await.unwrap();
    }
    assert!(matches!(
        store.record_issued(&one).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.issued(&hash(1)).await.unwrap(), Some(one.clone()));
    assert_eq!(store.issued(&hash(99)).await.unwrap(), None);
    let mut by_jti = store.issued_by_jti("jti-1").await.unwrap();
    by_jti.sort_by_key(|e| e.token_hash);
    assert_eq!(by_jti, vec![one.clone(), respelled.clone()]);
    assert!(store.issued_by_jti("jti-none").await.unwrap().is_empty());

    store.revoke_issued(&hash(1), t(40)).await.unwrap();
    store.revoke_issued(&hash(1), t(41)).await.unwrap();
    store.revoke_issued(&hash(99), t(41)).await.unwrap();
    assert_eq!(
        store.issued(&hash(1)).await.unwrap().unwrap().revoked_at,
        Some(t(40))
    );

    let mut unexpired = store.unexpired_issued(t(50)).await.unwrap();
    unexpired.sort_by_key(|e| e.token_hash);
    let hashes: Vec<[u8; 32]> = unexpired.iter().map(|e| e.token_hash).collect();
    assert_eq!(hashes, vec![hash(1), hash(2), hash(3), hash(4)]);
    assert_eq!(
        store.sessions_signed_by("kid-a", t(5)).await.unwrap(),
        vec!["s-b".to_string(), "s-z".to_string()]
    );
    assert_eq!(
        store.sessions_signed_by("kid-a", t(50)).await.unwrap(),
        vec!["s-b".to_string()]
    );
    assert!(
        store
            .sessions_signed_by("kid-x", t(5))
            .await
            .unwrap()
            .is_empty()
    );

    store.insert_refresh(&refresh(10, "s-b", 10)).await.unwrap();
    store
        .insert_refresh(&refresh(11, "s-b", 100))
        .await
        .unwrap();
    // Strictly before: what expires at `before` itself stays.
    assert_eq!(store.prune_expired(t(10)).await.unwrap(), 0);
    assert_eq!(store.prune_expired(t(11)).await.unwrap(), 2);
    assert_eq!(store.issued(&hash(5)).await.unwrap(), None);
    assert_eq!(store.refresh(&hash(10)).await.unwrap(), None);
    assert!(store.refresh(&hash(11)).await.unwrap().is_some());
    assert_eq!(store.unexpired_issued(t(0)).await.unwrap().len(), 4);
}

async fn refresh_tokens_are_spent_once<S: Store>(store: Arc<S>) {
    let token = refresh(7, "s-a", 100);
    store.insert_refresh(&token).await.unwrap();
    assert!(matches!(
        store.insert_refresh(&token).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.refresh(&hash(7)).await.unwrap(), Some(token.clone()));
    assert_eq!(store.refresh(&hash(8)).await.unwrap(), None);
    assert!(store.spend_refresh(&hash(7), t(20)).await.unwrap());
    assert!(!store.spend_refresh(&hash(7), t(21)).await.unwrap());
    assert!(!store.spend_refresh(&hash(8), t(21)).await.unwrap());
    assert_eq!(
        store.refresh(&hash(7)).await.unwrap().unwrap().spent_at,
        Some(t(20))
    );
}

async fn racing_refresh_spends_have_exactly_one_winner<S: Store>(store: Arc<S>) {
    for round in 0..10u8 {
        store
            .insert_refresh(&refresh(round, "s-a", 100))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..8)
            .map(|contender| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .spend_refresh(&hash(round), t(10 + contender))
                        .await
                        .unwrap()
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            winners += usize::from(task.await.unwrap());
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

fn account(id: &str, hashes: &[u8], password: Option<&str>) -> AccountRecord {
    AccountRecord {
        customer_id: id.into(),
        login_hashes: hashes.iter().map(|byte| hash(*byte)).collect(),
        password_hash: password.map(str::to_string),
        created_at: Timestamp::from_micros(5_000_007),
    }
}

async fn accounts_refuse_taken_login_identifiers_whole<S: Store>(store: Arc<S>) {
    let alice = account(
        "c-alice",
        &[1, 2],
        Some("$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA"),
    );
    store.insert_account(&alice).await.unwrap();
    let sorted = |mut record: AccountRecord| {
        record.login_hashes.sort();
        record
    };
    for login in [1, 2] {
        assert_eq!(
            store
                .account_by_login(&hash(login))
                .await
                .unwrap()
                .map(sorted),
            Some(alice.clone())
        );
    }
    assert_eq!(store.account_by_login(&hash(3)).await.unwrap(), None);

    // Bob's phone is new but his e-mail is Alice's: nothing of Bob is written.
    let bob = account("c-bob", &[3, 2], None);
    assert!(matches!(
        store.insert_account(&bob).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.account_by_login(&hash(3)).await.unwrap(), None);
    let bob = account("c-bob", &[3], None);
    store.insert_account(&bob).await.unwrap();
    assert_eq!(store.account_by_login(&hash(3)).await.unwrap(), Some(bob));
    // The same customer id twice is refused too.
    assert!(matches!(
        store.insert_account(&account("c-alice", &[9], None)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.account_by_login(&hash(9)).await.unwrap(), None);
}

fn client(id: &str, principal: Principal, scopes: &[&str]) -> ClientRecord {
    ClientRecord {
        client_id: id.into(),
        principal,
        secret_hash: hash(id.len() as u8),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        created_at: t(3),
        suspended_at: None,
    }
}

async fn clients_insert_once_and_list_in_id_order<S: Store>(store: Arc<S>) {
    assert!(store.clients().await.unwrap().is_empty());
    let shipping = client(
        "service.shipping",
        Principal::Service("shipping".into()),
        &["orders", "profile:read"],
    );
    let root = client("admin.root", Principal::Admin("root".into()), &["admin"]);
    let mut upper = client("Service.Upper", Principal::Service("Upper".into()), &[]);
    upper.suspended_at = Some(t(9));
    for c in [&shipping, &root, &upper] {
        store.insert_client(c).await.unwrap();
    }
    assert!(matches!(
        store.insert_client(&shipping).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.client("service.shipping").await.unwrap(),
        Some(shipping.clone())
    );
    assert_eq!(store.client("service.none").await.unwrap(), None);
    // Byte order, as SQLite compares text: upper case before lower case.
    assert_eq!(store.clients().await.unwrap(), vec![upper, root, shipping]);
}
