//! `StatementStore`, and `IncidentStore::customer_exposures`: what the portal reads. A
//! statement's versions follow one another (a skipped or repeated version is a conflict and
//! keeps nothing); the portal shows the newest of each incident not closed; a customer's
//! exposures come with their incidents.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use haechi_detect::Severity;
use haechi_events::{StoreError, Timestamp};
use haechi_incident::{
    AffectedCustomer, Closure, ImportedIncident, Incident, IncidentStatement, IncidentWrite,
    StatementDraft, StatementText,
};

use crate::Store;

crate::conformance!(
    statement_versions_follow_one_another_and_closed_incidents_drop_out,
    a_customers_exposures_come_with_their_incidents,
);

fn imported(digest: &str, customers: &[(&str, &[&str])]) -> IncidentWrite {
    let mut incident = ImportedIncident::new(
        "affected.jsonl",
        digest,
        "leak",
        Severity::Critical,
        Timestamp::from_secs(100),
    );
    let customers: Vec<AffectedCustomer> = customers
        .iter()
        .map(|(id, fields)| AffectedCustomer {
            customer_id: (*id).into(),
            fields: fields.iter().map(|f| (*f).to_string()).collect(),
            first_seen: Some(Timestamp::from_secs(10)),
            last_seen: Some(Timestamp::from_secs(20)),
            reads: 3,
        })
        .collect();
    for customer in &customers {
        incident.add(customer);
    }
    IncidentWrite {
        incident: incident.incident().clone(),
        alert_ids: vec![],
        customers,
    }
}

fn statement(incident: &Incident, version: u32, title: &str) -> IncidentStatement {
    let draft = StatementDraft {
        ko: StatementText {
            title: title.into(),
            body: "본문".into(),
            faq: vec![],
        },
        en: None,
    };
    let key = SigningKey::from_bytes(&[3; 32]);
    IncidentStatement::publish(
        &incident.id,
        version,
        draft,
        "admin:kim",
        Timestamp::from_secs(1000 + i64::from(version)),
        &key,
    )
    .unwrap()
}

async fn statement_versions_follow_one_another_and_closed_incidents_drop_out<S: Store>(
    store: Arc<S>,
) {
    let first = imported("aa", &[("c1", &["name"])]);
    let second = imported("bb", &[("c2", &["phone"])]);
    store
        .write_incidents(&[first.clone(), second.clone()])
        .await
        .unwrap();
    let (one, two) = (&first.incident, &second.incident);
    assert!(store.current_statements().await.unwrap().is_empty());
    // Version 2 before 1, and 1 twice: conflicts that keep nothing.
    let skipped = store.publish_statement(&statement(one, 2, "v2")).await;
    assert!(
        matches!(skipped, Err(StoreError::Conflict(_))),
        "{skipped:?}"
    );
    store
        .publish_statement(&statement(one, 1, "v1"))
        .await
        .unwrap();
    let again = store
        .publish_statement(&statement(one, 1, "v1 again"))
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    store
        .publish_statement(&statement(one, 2, "v2"))
        .await
        .unwrap();
    store
        .publish_statement(&statement(two, 1, "other"))
        .await
        .unwrap();

    let versions = store.statements(&one.id).await.unwrap();
    let titles: Vec<&str> = versions.iter().map(|s| s.ko.title.as_str()).collect();
    assert_eq!(titles, ["v2", "v1"]);
    let key = SigningKey::from_bytes(&[3; 32]).verifying_key();
    assert!(versions.iter().all(|s| s.verify(&key)), "stored intact");
    let current = store.current_statements().await.unwrap();
    let shown: Vec<(&str, &str)> = current
        .iter()
        .map(|s| (s.incident_id.as_str(), s.ko.title.as_str()))
        .collect();
    // Newest publication first: the second incident's (published at 1001) after v2 (1002).
    assert_eq!(shown, [(one.id.as_str(), "v2"), (two.id.as_str(), "other")]);

    let mut closed = second.clone();
    closed.customers.clear();
    closed.incident.close(Closure {
        at: Timestamp::from_secs(2000),
        by: "admin:kim".into(),
        note: "done".into(),
        merged_into: None,
    });
    store.write_incidents(&[closed]).await.unwrap();
    let current = store.current_statements().await.unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].incident_id, one.id);
    assert!(
        store.statements(&two.id).await.unwrap().len() == 1,
        "kept when closed"
    );
}

async fn a_customers_exposures_come_with_their_incidents<S: Store>(store: Arc<S>) {
    let first = imported("cc", &[("c1", &["name", "phone"]), ("c2", &["email"])]);
    let second = imported("dd", &[("c1", &["address"])]);
    store.write_incidents(&[first, second]).await.unwrap();
    let exposures = store.customer_exposures("c1", 10).await.unwrap();
    assert_eq!(exposures.len(), 2);
    let mut fields: Vec<Vec<String>> = exposures
        .iter()
        .map(|exposure| exposure.customer.fields.clone())
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            vec!["address".to_string()],
            vec!["name".into(), "phone".into()]
        ]
    );
    assert!(exposures.iter().all(|e| e.customer.customer_id == "c1"));
    assert!(exposures.iter().all(|e| e.incident.title == "leak"));
    assert_eq!(store.customer_exposures("c1", 1).await.unwrap().len(), 1);
    assert!(
        store
            .customer_exposures("nobody", 10)
            .await
            .unwrap()
            .is_empty()
    );
}
