//! `NoticeStore`: the outbox. Queuing is idempotent (a rerun for the same incident adds
//! nothing), claims never hand one notice to two workers, a lease that ended makes a notice
//! due again, a seal needs the claim, and sealed notices are found by code and by customer.

use std::collections::HashSet;
use std::sync::Arc;

use haechi_events::Timestamp;
use haechi_incident::IncidentId;
use haechi_notice::{
    Channel, Delivery, Notice, NoticeBatch, NoticeFacts, NoticeKey, NoticeState, Seal, Sender,
    TemplateSet,
};

use crate::Store;

crate::conformance!(
    queuing_is_idempotent_and_batches_are_kept_once,
    concurrent_claims_never_share_a_notice,
    a_notice_goes_from_queued_to_sealed_to_sent_or_failed,
);

fn incident() -> IncidentId {
    IncidentId::derive("notices")
}

fn notices(customers: usize, at: i64) -> Vec<Notice> {
    (0..customers)
        .flat_map(|n| {
            [Channel::Lms, Channel::Email].map(|channel| {
                Notice::queued(
                    "NB-0000000000000001",
                    &incident(),
                    &format!("cust-{n:05}"),
                    channel,
                    NoticeFacts {
                        fields: vec!["name".into(), "phone".into()],
                        first_seen: Timestamp::from_secs(10),
                        last_seen: Timestamp::from_secs(20),
                    },
                    Timestamp::from_secs(at),
                )
            })
        })
        .collect()
}

async fn queuing_is_idempotent_and_batches_are_kept_once<S: Store>(store: Arc<S>) {
    let batch = NoticeBatch {
        id: "NB-0000000000000001".into(),
        incident_id: incident(),
        templates: TemplateSet::builtin(),
        sender: Sender {
            company: "해치몰".into(),
            portal_origin: "https://portal.example.co.kr".into(),
            contact_numbers: vec!["1588-1234".into()],
            cause: "원인".into(),
            measures: "조치".into(),
        },
        created_at: Timestamp::from_secs(1),
        created_by: "operator".into(),
    };
    store.save_batch(&batch).await.unwrap();
    let mut again = batch.clone();
    again.created_by = "someone else".into();
    store.save_batch(&again).await.unwrap();
    assert_eq!(store.batch(&batch.id).await.unwrap(), Some(batch));
    assert_eq!(store.batch("NB-ffffffffffffffff").await.unwrap(), None);

    assert_eq!(store.enqueue_notices(&notices(100, 5)).await.unwrap(), 200);
    assert_eq!(store.enqueue_notices(&notices(150, 6)).await.unwrap(), 100);
    assert_eq!(store.enqueue_notices(&[]).await.unwrap(), 0);
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(counts.in_state(NoticeState::Queued), 300);
    assert_eq!(counts.rows.len(), 2, "{counts:?}");
}

async fn concurrent_claims_never_share_a_notice<S: Store>(store: Arc<S>) {
    store.enqueue_notices(&notices(500, 0)).await.unwrap();
    let mut workers = Vec::new();
    for _ in 0..4 {
        let store = store.clone();
        workers.push(tokio::spawn(async move {
            let mut taken = Vec::new();
            loop {
                let claimed = store
                    .claim_notices(Timestamp::from_secs(10), Timestamp::from_secs(100), 37)
                    .await
                    .unwrap();
                if claimed.is_empty() {
                    return taken;
                }
                taken.extend(claimed.into_iter().map(|notice| notice.id));
            }
        }));
    }
    let mut seen = HashSet::new();
    for worker in workers {
        for id in worker.await.unwrap() {
            assert!(seen.insert(id.clone()), "{id} claimed twice");
        }
    }
    assert_eq!(seen.len(), 1000);
    // The lease holds until 100 s; at 100 s the notices are due again (their workers died).
    let early = store
        .claim_notices(Timestamp::from_secs(99), Timestamp::from_secs(200), 10)
        .await
        .unwrap();
    assert!(early.is_empty());
    let late = store
        .claim_notices(Timestamp::from_secs(100), Timestamp::from_secs(200), 10)
        .await
        .unwrap();
    assert_eq!(late.len(), 10);
    assert!(
        late.iter()
            .all(|notice| notice.state == NoticeState::Sending)
    );
}

async fn a_notice_goes_from_queued_to_sealed_to_sent_or_failed<S: Store>(store: Arc<S>) {
    store.enqueue_notices(&notices(3, 0)).await.unwrap();
    let all = notices(3, 0);
    let (first, second, third) = (&all[0], &all[1], &all[2]);
    let key = NoticeKey::from_bytes(&[1; 32]);
    let tag = key.recipient_tag(first.channel, "01012345678");
    let seal = Seal {
        code: key.code(&first.id, &tag, "digest"),
        recipient_tag: tag,
        body_digest: "digest".into(),
        sealed_at: Timestamp::from_secs(11),
    };
    // Not claimed yet: nothing is sealed.
    let lease = Timestamp::from_secs(70);
    let seals = [(first.id.clone(), lease, seal.clone())];
    assert!(store.seal_notices(&seals).await.unwrap().is_empty());
    let claimed = store
        .claim_notices(Timestamp::from_secs(10), lease, 100)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 6);
    assert!(claimed.iter().all(|notice| notice.next_attempt_at == lease));
    // Under another lease (another worker's claim): not sealed.
    let stale = [(first.id.clone(), Timestamp::from_secs(69), seal.clone())];
    assert!(store.seal_notices(&stale).await.unwrap().is_empty());
    assert_eq!(
        store.seal_notices(&seals).await.unwrap(),
        vec![first.id.clone()]
    );
    store
        .finish_notices(&[
            (
                first.id.clone(),
                Delivery::Sent {
                    at: Timestamp::from_secs(12),
                },
            ),
            (
                second.id.clone(),
                Delivery::Retry {
                    next_attempt_at: Timestamp::from_secs(40),
                    error: "gateway answered 503".into(),
                },
            ),
            (
                third.id.clone(),
                Delivery::Failed {
                    error: "no e-mail on record".into(),
                },
            ),
        ])
        .await
        .unwrap();

    let found = store.notices_by_code(&seal.code.digits()).await.unwrap();
    assert_eq!(found.len(), 1);
    let sent = &found[0];
    assert_eq!(sent.id, first.id);
    assert_eq!(sent.state, NoticeState::Sent);
    assert_eq!(sent.attempts, 1);
    assert_eq!(sent.sent_at, Some(Timestamp::from_secs(12)));
    assert_eq!(sent.seal.as_ref(), Some(&seal));
    assert_eq!(sent.facts, first.facts);
    assert!(store.notices_by_code("00000000").await.unwrap().is_empty());
    let inbox = store
        .customer_notices(&first.customer_id, 10)
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1, "only sealed notices are in the inbox");

    // The retry is due at 40 s, not before; it keeps its error and attempt count.
    let due = store
        .claim_notices(Timestamp::from_secs(39), Timestamp::from_secs(100), 100)
        .await
        .unwrap();
    assert!(due.iter().all(|notice| notice.id != second.id));
    let due = store
        .claim_notices(Timestamp::from_secs(70), Timestamp::from_secs(100), 100)
        .await
        .unwrap();
    let retried = due.iter().find(|notice| notice.id == second.id).unwrap();
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.last_error.as_deref(), Some("gateway answered 503"));
    assert!(
        due.iter()
            .all(|notice| notice.id != third.id && notice.id != first.id)
    );
    let counts = store.outbox_counts().await.unwrap();
    assert_eq!(counts.in_state(NoticeState::Sent), 1);
    assert_eq!(counts.in_state(NoticeState::Failed), 1);
}
