//! Abuse of the HTTP layer itself (issue 13): spoofed client addresses, request-id floods,
//! refusal floods, metrics reconnaissance, alert streams that outlive their credential.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::util::{Instance, Server};

/// A failed login from the test's own connection, with `headers`; returns the address its
/// audit record names.
async fn recorded_address(server: &Server, forwarded: Option<&str>, marker: &str) -> String {
    let mut request = server
        .client
        .post(server.url("/v1/auth/login"))
        .header("x-request-id", marker)
        .json(&json!({"email": "nobody@example.com", "password": "wrong password"}));
    if let Some(forwarded) = forwarded {
        request = request.header("x-forwarded-for", forwarded);
    }
    assert_eq!(request.send().await.unwrap().status().as_u16(), 401);
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["request_id"] == marker && event["kind"] == "auth.login_failed")
    });
    events
        .iter()
        .find(|event| event["request_id"] == marker)
        .and_then(|event| event["ip"].as_str())
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn issue_13_a_client_cannot_choose_its_own_address() {
    // Default: no proxy is trusted, X-Forwarded-For is ignored.
    let instance = Instance::new();
    let server = instance.serve();
    let ip = recorded_address(&server, Some("9.9.9.9"), "spoof-1").await;
    assert_eq!(ip, "127.0.0.1");
    drop(server);

    // Behind a trusted proxy the client is the rightmost untrusted entry; what the client put
    // in front of it is ignored.
    let instance = Instance::new().with_env("HAECHI_SERVER__TRUSTED_PROXIES", r#"["127.0.0.0/8"]"#);
    let server = instance.serve();
    let ip = recorded_address(&server, Some("9.9.9.9, 203.0.113.7"), "spoof-2").await;
    assert_eq!(ip, "203.0.113.7");
    let ip = recorded_address(&server, Some("9.9.9.9, 203.0.113.7, 127.0.0.5"), "spoof-3").await;
    assert_eq!(ip, "203.0.113.7");
}

#[tokio::test]
async fn issue_13_bad_trusted_proxy_entries_stop_the_server_with_a_clear_message() {
    let instance = Instance::new().with_env("HAECHI_SERVER__TRUSTED_PROXIES", r#"["10.0.0.0/33"]"#);
    let (code, _stdout, stderr) = instance.run(&["config", "show"], None);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("server.trusted_proxies") && stderr.contains("10.0.0.0/33"),
        "{stderr}"
    );
}

#[tokio::test]
async fn issue_13_request_ids_are_kept_only_when_short_and_plain() {
    let instance = Instance::new();
    let server = instance.serve();
    let echo = |id: String| {
        let server = &server;
        async move {
            let response = server
                .client
                .get(server.url("/v1/auth/session"))
                .header("x-request-id", id)
                .send()
                .await
                .unwrap();
            response.headers()["x-request-id"]
                .to_str()
                .unwrap()
                .to_string()
        }
    };
    assert_eq!(echo("trace-7f3a_01".into()).await, "trace-7f3a_01");
    let long = "a".repeat(4000);
    let replaced = echo(long.clone()).await;
    assert_ne!(replaced, long);
    assert!(replaced.len() <= 128);
    let replaced = echo("{\"injected\": true}".into()).await;
    assert!(!replaced.contains('{'));
    // The refusals those requests caused name the replacement, never the client's text.
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .filter(|event| event["kind"] == "token.rejected")
            .count()
            >= 3
    });
    for event in &events {
        let id = event["request_id"].as_str().unwrap_or_default();
        assert!(id.len() <= 128 && !id.contains('{'), "{event}");
    }
}

#[tokio::test]
async fn issue_13_a_flood_of_refusals_is_recorded_per_source_not_per_request() {
    let instance = Instance::new().with_env("HAECHI_SERVER__REFUSAL_RECORDS_PER_SOURCE", "5");
    let server = instance.serve();
    const SENT: usize = 300;
    let started = Instant::now();
    for n in 0..SENT {
        let (status, body) = server
            .get_with("/v1/auth/session", &format!("garbage.token.{n}"))
            .await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_token");
    }
    let elapsed_secs = started.elapsed().as_secs() + 2;
    // Every refusal is accounted for: recorded one by one, or counted in a summary.
    let events = server.wait_for_events(|events| {
        let recorded = events
            .iter()
            .filter(|event| event["kind"] == "token.rejected")
            .count();
        let summarised = crate::util::suppressed_in_summaries(events);
        recorded + summarised == SENT
    });
    let recorded = events
        .iter()
        .filter(|event| event["kind"] == "token.rejected")
        .count();
    let summaries: Vec<&Value> = events
        .iter()
        .filter(|event| event["kind"] == "request.refusals_summarized")
        .collect();
    // At most the budget per second the flood lasted, plus one summary per such second.
    assert!(
        recorded as u64 <= 5 * elapsed_secs,
        "{recorded} records over about {elapsed_secs} s"
    );
    assert!(!summaries.is_empty());
    assert!(summaries.len() as u64 <= elapsed_secs);
    for summary in summaries {
        assert_eq!(summary["ip"], "127.0.0.1");
        assert!(!summary["detail"]["reasons"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn issue_13_an_alert_stream_ends_when_its_administrator_is_suspended() {
    let instance = Instance::new();
    let watcher = instance.create_admin("watcher");
    let lead = instance.create_admin("lead");
    let server = instance.serve();
    let watcher_token = server.client_token(&watcher).await;
    let lead_token = server.client_token(&lead).await;
    let mut stream = server
        .client
        .get(server.url("/v1/admin/alerts/stream"))
        .bearer_auth(&watcher_token)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let (status, body) = server
        .post_with(
            "/v1/admin/suspensions",
            &lead_token,
            json!({"principal": "admin:watcher", "reason": "laptop stolen"}),
        )
        .await;
    assert!(status == 201 || status == 200, "{body}");
    // The stream closes by itself (a guard against hanging, not a latency bound: the check
    // runs every second).
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stream.chunk().await {
                Ok(Some(_keep_alive_or_notice)) => continue,
                Ok(None) | Err(_) => return,
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the alert stream outlived the suspension");
}
