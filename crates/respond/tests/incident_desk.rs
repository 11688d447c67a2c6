//! The incident desk over a real SQLite store: what one desk wrote, a desk opened after a
//! restart puts back in memory, so a later alert of the same attack joins the same incident
//! instead of opening a second.

use std::collections::BTreeMap;
use std::sync::Arc;

use haechi_detect::{Alert, AlertId, Severity, builtin_rules};
use haechi_events::Timestamp;
use haechi_incident::{IncidentFilter, IncidentStore};
use haechi_respond::IncidentDesk;
use haechi_store::SqliteStore;

fn forged(seq: u64, ip: &str, customer: &str) -> Alert {
    Alert {
        id: AlertId::new("haechi.session.read_without_login", seq),
        rule_id: "haechi.session.read_without_login".into(),
        title: "Data read in a session that never logged in".into(),
        severity: Severity::Critical,
        first_time: Timestamp::from_secs(1_000 + seq as i64),
        last_time: Timestamp::from_secs(1_000 + seq as i64),
        group_key: format!("s{seq}"),
        group_by: vec!["sid".into()],
        evidence_seqs: vec![seq],
        count: 1,
        window_count: 1,
        context: BTreeMap::from([
            ("kid".to_string(), "stolen".to_string()),
            ("ip".to_string(), ip.to_string()),
            ("principal".to_string(), format!("customer:{customer}")),
            ("sid".to_string(), format!("s{seq}")),
        ]),
        actions: vec![],
    }
}

#[tokio::test]
async fn a_restarted_desk_puts_live_incidents_back_so_the_attack_stays_one_incident() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SqliteStore::open(&dir.path().join("haechi.db"))
            .await
            .unwrap(),
    );
    let rules = builtin_rules().rules;

    let before = IncidentDesk::new(store.clone());
    before.load(&rules).await.unwrap();
    let mut stream = before.subscribe();
    before.alert_raised(&forged(1, "198.51.100.1", "a"));
    before.alert_raised(&forged(2, "198.51.100.2", "b"));
    assert_eq!(
        before.flush().await.unwrap(),
        1,
        "two alerts, one incident, one write"
    );
    let notice = stream.try_recv().unwrap();
    assert_eq!(notice.change, "opened");
    assert_eq!(notice.incident.alert_count, 2);
    let id = notice.incident.id.clone();
    drop(before);

    // A restart: a new desk over the same store.
    let after = IncidentDesk::new(store.clone());
    assert_eq!(after.load(&rules).await.unwrap(), 1);
    // Alerts the restarted engine raises again (already tied) change nothing.
    after.alert_raised(&forged(2, "198.51.100.2", "b"));
    assert_eq!(after.flush().await.unwrap(), 0);
    // A new address, the same key: the same incident.
    after.alert_raised(&forged(3, "203.0.113.9", "c"));
    after.flush().await.unwrap();
    let incidents = store
        .list_incidents(&IncidentFilter {
            state: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(incidents.len(), 1, "{incidents:#?}");
    assert_eq!(incidents[0].id, id);
    assert_eq!(incidents[0].alert_count, 3);
    assert_eq!(incidents[0].customers, 3);
    assert_eq!(incidents[0].indicators.networks.count(), 3);
    assert_eq!(store.incident_alert_ids(&id).await.unwrap().len(), 3);

    // Closed, then a restart whose engine raises the same alerts again from history: the
    // incident stays closed and no second one opens.
    let grant_free_close = store
        .incident(&id)
        .await
        .unwrap()
        .map(|mut incident| {
            incident.close(haechi_incident::Closure {
                at: Timestamp::from_secs(5_000),
                by: "admin:root".into(),
                note: "contained".into(),
                merged_into: None,
            });
            incident
        })
        .unwrap();
    store
        .write_incidents(&[haechi_incident::IncidentWrite {
            incident: grant_free_close,
            alert_ids: vec![],
            customers: vec![],
        }])
        .await
        .unwrap();
    let again = IncidentDesk::new(store.clone());
    assert_eq!(again.load(&rules).await.unwrap(), 0);
    again.alert_raised(&forged(1, "198.51.100.1", "a"));
    again.alert_raised(&forged(3, "203.0.113.9", "c"));
    assert_eq!(
        again.flush().await.unwrap(),
        0,
        "nothing reopened, nothing new"
    );
    let kept = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(kept.state, haechi_incident::IncidentState::Closed);
    store.close().await;
}

#[tokio::test]
async fn changes_a_failed_write_held_back_are_written_by_the_next_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("haechi.db");
    let store = Arc::new(SqliteStore::open(&path).await.unwrap());
    let desk = IncidentDesk::new(store.clone());
    desk.load(&builtin_rules().rules).await.unwrap();
    // The store fails: its incidents table is away.
    let other = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("ALTER TABLE incidents RENAME TO incidents_away")
        .execute(&other)
        .await
        .unwrap();
    desk.alert_raised(&forged(1, "198.51.100.1", "a"));
    assert!(desk.flush().await.is_err());
    // More of the attack while the store is down; then it is back.
    desk.alert_raised(&forged(2, "198.51.100.2", "b"));
    sqlx::query("ALTER TABLE incidents_away RENAME TO incidents")
        .execute(&other)
        .await
        .unwrap();
    let mut stream = desk.subscribe();
    assert_eq!(desk.flush().await.unwrap(), 1);
    let notice = stream.try_recv().unwrap();
    assert_eq!(notice.change, "opened", "still announced as opened");
    let written = store.incident(&notice.incident.id).await.unwrap().unwrap();
    assert_eq!(written.alert_count, 2, "written as it is now");
    assert_eq!(written.customers, 2);
    assert_eq!(
        store.incident_alert_ids(&written.id).await.unwrap().len(),
        2,
        "the first alert's tie was kept for the retry"
    );
    other.close().await;
    store.close().await;
}
