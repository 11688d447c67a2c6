//! A portal node (`haechi serve --role portal`) of a cluster: it serves the public's part —
//! the portal's pages, the anonymous check's answers, the statements — from the shared store,
//! a customer signs in there and sees their own exposures, and the operators' and services'
//! routes are not there at all (a surge on portal nodes never queues them).

use serde_json::json;

use super::Cluster;
use crate::portal::{PASSWORD, import_incident, page_client, sign_in};

#[tokio::test]
async fn a_portal_node_serves_the_public_and_nothing_of_the_operators() {
    let Some(cluster) = Cluster::new().await else {
        return;
    };
    let customer = cluster
        .ops
        .create_customer("jiwoo@example.com", "010-4567-8901", PASSWORD);
    let row = json!({"customer_id": customer, "fields": ["name", "phone"],
                     "first": "2025-06-11T01:00:00Z", "last": "2025-06-11T05:57:37Z", "reads": 1});
    import_incident(&cluster.ops, &[row], "Session key leak");
    let admin = cluster.ops.create_admin("root");
    let api = cluster.start_node(&cluster.node_instance("api-1"), "api");
    let portal = cluster.start_node(&cluster.node_instance("portal-1"), "portal");
    let client = page_client();

    let home = client.get(portal.url("/portal/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let statements = client
        .get(portal.url("/v1/portal/statements"))
        .send()
        .await
        .unwrap();
    assert_eq!(statements.status(), 200);
    // The customer signs in on the portal node and sees what the incident exposed.
    let cookie = sign_in(&client, &portal, "jiwoo@example.com").await;
    let me = client
        .get(portal.url("/portal/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    let page = me.text().await.unwrap();
    let (exposed, _) = page.split_once("<h2 id=\"safe-title\">").unwrap();
    assert!(exposed.contains("data-field=\"phone\""), "{page}");

    // The operators' and services' routes are on the API nodes only.
    let token = api.client_token(&admin).await;
    for (method, path) in [
        ("GET", "/v1/admin/incidents"),
        ("POST", "/v1/oauth/token"),
        ("GET", "/v1/customers/me"),
        ("GET", "/console/"),
    ] {
        let response = client
            .request(method.parse().unwrap(), portal.url(path))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            body["message"].as_str().unwrap().contains("--role portal"),
            "{body}"
        );
    }
    let (status, _) = api.get_with("/v1/admin/incidents", &token).await;
    assert_eq!(status, 200);
    let health = client.get(portal.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}
