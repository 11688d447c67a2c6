//! `IncidentStore`: incidents written as the book changes them, read back whole; alerts move
//! with a merge; customers are tied once and paged by id.

use std::collections::BTreeMap;
use std::sync::Arc;

use haechi_detect::{Alert, AlertId, Severity, builtin_rules};
use haechi_events::Timestamp;
use haechi_incident::{
    AffectedCustomer, BookLimits, IncidentBook, IncidentFilter, IncidentId, IncidentState,
    IncidentWrite,
};

use crate::Store;

crate::conformance!(
    incidents_round_trip_and_merges_move_alerts,
    customers_are_tied_once_and_paged,
);

const FORGED: &str = "haechi.session.read_without_login";
const NETWORK: &str = "haechi.read.network_customers_10m";

fn alert(rule: &str, seq: u64, ip: &str, kid: Option<&str>, customer: Option<&str>) -> Alert {
    let mut context = BTreeMap::from([("ip".to_string(), ip.to_string())]);
    if let Some(kid) = kid {
        context.insert("kid".into(), kid.into());
    }
    if let Some(customer) = customer {
        context.insert("principal".into(), format!("customer:{customer}"));
    }
    Alert {
        id: AlertId::new(rule, seq),
        rule_id: rule.into(),
        title: rule.into(),
        severity: Severity::High,
        first_time: Timestamp::from_secs(1000 + seq as i64),
        last_time: Timestamp::from_secs(1000 + seq as i64),
        group_key: ip.into(),
        group_by: vec!["ip".into()],
        evidence_seqs: vec![seq],
        count: 1,
        window_count: 1,
        context,
        actions: vec![],
    }
}

async fn incidents_round_trip_and_merges_move_alerts<S: Store>(store: Arc<S>) {
    let rules = builtin_rules().rules;
    let mut book = IncidentBook::new(&rules, BookLimits::default());
    let mut changes = book.observe(&alert(NETWORK, 1, "198.51.100.1", None, None));
    changes.extend(book.observe(&alert(NETWORK, 2, "203.0.113.1", None, None)));
    let writes: Vec<IncidentWrite> = book.writes(changes).into_iter().map(|(_, w)| w).collect();
    assert_eq!(writes.len(), 2);
    store.write_incidents(&writes).await.unwrap();
    let listed = store
        .list_incidents(&IncidentFilter {
            state: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed[0].id, writes[1].incident.id,
        "most recently active first"
    );
    let older = writes[0].incident.id.clone();
    let younger = writes[1].incident.id.clone();
    assert_eq!(
        store.incident(&older).await.unwrap().as_ref(),
        Some(&writes[0].incident)
    );

    // A forged session from both addresses ties them: the younger merges into the older.
    let changes = book.observe(&alert(FORGED, 3, "198.51.100.1", Some("k"), Some("a")));
    store
        .write_incidents(
            &book
                .writes(changes)
                .into_iter()
                .map(|(_, w)| w)
                .collect::<Vec<_>>(),
        )
        .await
        .unwrap();
    let changes = book.observe(&alert(FORGED, 4, "203.0.113.1", Some("k"), Some("b")));
    let writes: Vec<IncidentWrite> = book.writes(changes).into_iter().map(|(_, w)| w).collect();
    store.write_incidents(&writes).await.unwrap();
    let merged = store.incident(&younger).await.unwrap().unwrap();
    assert_eq!(merged.state, IncidentState::Closed);
    let survivor = store.incident(&older).await.unwrap().unwrap();
    assert_eq!(survivor.alert_count, 4);
    assert_eq!(survivor.customers, 2);
    let alerts = store.incident_alert_ids(&older).await.unwrap();
    assert_eq!(alerts.len(), 4, "{alerts:?}");
    assert!(store.incident_alert_ids(&younger).await.unwrap().is_empty());
    let open = store
        .list_incidents(&IncidentFilter {
            state: Some(IncidentState::Open),
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(open.iter().map(|i| &i.id).collect::<Vec<_>>(), vec![&older]);
    assert!(
        store
            .incident(&IncidentId::derive("nothing"))
            .await
            .unwrap()
            .is_none()
    );

    // Closed is final: a later write of the open incident (a node that had not heard of the
    // closing) does not reopen it.
    let mut closed = survivor.clone();
    closed.close(haechi_incident::Closure {
        at: Timestamp::from_secs(9_000),
        by: "admin:root".into(),
        note: "done".into(),
        merged_into: None,
    });
    let write = |incident| IncidentWrite {
        incident,
        alert_ids: vec![],
        customers: vec![],
    };
    store.write_incidents(&[write(closed)]).await.unwrap();
    store.write_incidents(&[write(survivor)]).await.unwrap();
    let kept = store.incident(&older).await.unwrap().unwrap();
    assert_eq!(kept.state, IncidentState::Closed);
}

async fn customers_are_tied_once_and_paged<S: Store>(store: Arc<S>) {
    let rules = builtin_rules().rules;
    let mut book = IncidentBook::new(&rules, BookLimits::default());
    let changes = book.observe(&alert(NETWORK, 1, "198.51.100.1", None, None));
    let (_, mut write) = book.writes(changes).into_iter().next().unwrap();
    let id = write.incident.id.clone();
    write.customers = (0..250)
        .map(|n| AffectedCustomer {
            customer_id: format!("c{n:04}"),
            fields: vec!["name".into(), "phone".into()],
            first_seen: Some(Timestamp::from_secs(5)),
            last_seen: Some(Timestamp::from_secs(9)),
            reads: 2,
        })
        .collect();
    store
        .write_incidents(std::slice::from_ref(&write))
        .await
        .unwrap();
    // Tied again with less known: the first record stays.
    write.customers = vec![AffectedCustomer::named("c0000", None)];
    store.write_incidents(&[write]).await.unwrap();
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .incident_customers(&id, after.as_deref(), 100)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        after = page.last().map(|c| c.customer_id.clone());
        seen.extend(page);
    }
    assert_eq!(seen.len(), 250);
    assert_eq!(seen[0].customer_id, "c0000");
    assert_eq!(seen[0].fields, ["name", "phone"]);
    assert_eq!(seen[0].reads, 2);
    assert_eq!(seen[0].first_seen, Some(Timestamp::from_secs(5)));
}
