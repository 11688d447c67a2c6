//! Hostile input to the token authority: each gets a clear 4xx JSON error and an event,
//! never a 500.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::util::{Instance, jwt_parts};

const PASSWORD: &str = "correct horse battery";

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn malicious_tokens_are_refused_with_the_right_reason() {
    let instance = Instance::new()
        .with_env("HAECHI_TOKEN__ACCESS_TTL", "1s")
        .with_env("HAECHI_KEYS__VERIFY_WINDOW", "1h");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let pair = server.login("kim@example.com", PASSWORD).await;
    let genuine = pair["access_token"].as_str().unwrap().to_string();
    let (header, claims) = jwt_parts(&genuine);
    let kid = header["kid"].as_str().unwrap();
    let jwks: Value = crate::util::http_get(server.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let public_x = jwks["keys"][0]["x"].as_str().unwrap().to_string();
    let claims_b64 = b64(claims.to_string().as_bytes());
    let signature = genuine.rsplit('.').next().unwrap();

    // alg none, HS256 keyed with the public key (algorithm confusion), unknown kid,
    // garbage, a flipped signature bit.
    let none = format!("{}.{claims_b64}.", b64(br#"{"alg":"none","typ":"JWT"}"#));
    let hs_header = b64(json!({"alg": "HS256", "kid": kid}).to_string().as_bytes());
    let hs_input = format!("{hs_header}.{claims_b64}");
    let hs_signature = {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(public_x.as_bytes()).unwrap();
        mac.update(hs_input.as_bytes());
        b64(&mac.finalize().into_bytes())
    };
    let confused = format!("{hs_input}.{hs_signature}");
    let unknown_kid = format!(
        "{}.{claims_b64}.{signature}",
        b64(json!({"alg": "EdDSA", "kid": "no-such-key"})
            .to_string()
            .as_bytes())
    );
    let mut flipped = genuine.clone().into_bytes();
    let last = flipped.len() - 3;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (none, "unsupported_alg"),
        (confused, "unsupported_alg"),
        (unknown_kid, "unknown_kid"),
        ("not-a-jwt".into(), "malformed"),
        ("a.b.c".into(), "malformed"),
        (
            format!("{}.{claims_b64}.{signature}", b64(b"{not json")),
            "malformed",
        ),
        (flipped, "bad_signature"),
        ("x".repeat(5000), "malformed"),
    ];
    // The caller hears only `invalid_token`; the precise reason is in the audit record.
    for (token, reason) in &cases {
        let event = server.refused_token_event("/v1/auth/session", token).await;
        assert_eq!(event["kind"], "token.rejected", "{reason}: {event:#}");
        assert_eq!(event["reason"], *reason, "{event:#}");
    }
    // No token at all.
    let response = crate::util::http_get(server.url("/v1/auth/session"))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert!(response.headers().contains_key("www-authenticate"));

    // Expired.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let event = server
        .refused_token_event("/v1/auth/session", &genuine)
        .await;
    assert_eq!(event["reason"], "expired", "{event:#}");

    let events = server.wait_for_events(|events| {
        events
            .iter()
            .filter(|e| e["kind"] == "token.rejected")
            .count()
            >= cases.len() + 2
    });
    let reasons: Vec<&str> = events
        .iter()
        .filter(|e| e["kind"] == "token.rejected")
        .filter_map(|e| e["reason"].as_str())
        .collect();
    for (_, reason) in &cases {
        assert!(
            reasons.contains(reason),
            "no event with reason {reason}: {reasons:?}"
        );
    }
    assert!(reasons.contains(&"missing") && reasons.contains(&"expired"));
    assert!(
        events.iter().all(|e| e["kind"] != "token.forged"),
        "none of these is a forgery"
    );
}

#[tokio::test]
async fn logins_answer_the_same_for_unknown_accounts_and_are_rate_limited() {
    let instance = Instance::new().with_env("HAECHI_LOGIN__FAILURES_PER_ACCOUNT", "3");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let wrong = server
        .post_json(
            "/v1/auth/login",
            json!({"email": "kim@example.com", "password": "wrong password"}),
        )
        .await;
    let unknown = server
        .post_json(
            "/v1/auth/login",
            json!({"email": "nobody@example.com", "password": "wrong password"}),
        )
        .await;
    assert_eq!(
        wrong, unknown,
        "unknown account and wrong password must look identical"
    );
    assert_eq!(wrong.0, 401);

    // The phone login of the same account counts against the same... separate identifier;
    // the e-mail identifier is now locked after 3 failures.
    for _ in 0..2 {
        server
            .post_json(
                "/v1/auth/login",
                json!({"email": "kim@example.com", "password": "wrong password"}),
            )
            .await;
    }
    let (status, body) = server
        .post_json(
            "/v1/auth/login",
            json!({"email": "KIM@example.com ", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"], "rate_limited");
    // Phone spellings normalise: the phone identifier still logs in.
    let (status, body) = server
        .post_json(
            "/v1/auth/login",
            json!({"phone": "+82 10-2345-6789", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .any(|e| e["kind"] == "auth.login_failed" && e["reason"] == "rate_limited")
    });
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "auth.login_failed" && e["status"] == 401)
    );
}

#[tokio::test]
async fn bad_bodies_headers_and_paths_get_json_errors() {
    let instance = Instance::new();
    let service = instance.create_service("shipping", "shipping");
    let server = instance.serve();
    let client = &server.client;
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            client
                .post(server.url("/v1/auth/login"))
                .header("content-type", "application/json")
                .body("{\"email\": "),
            400,
            "malformed_json",
        ),
        (
            client
                .post(server.url("/v1/auth/login"))
                .json(&json!({"email": "a@b.kr", "password": "x", "admin": true})),
            422,
            "invalid_field",
        ),
        (
            client
                .post(server.url("/v1/auth/login"))
                .json(&json!({"email": "a@b.kr", "phone": "01012345678", "password": "x"})),
            422,
            "invalid_field",
        ),
        (
            client
                .post(server.url("/v1/auth/login"))
                .header("content-type", "text/plain")
                .body("hello"),
            415,
            "unsupported_media_type",
        ),
        (
            client
                .post(server.url("/v1/auth/login"))
                .header("content-type", "application/json")
                .body(format!("{{\"email\":\"{}\"}}", "a".repeat(70_000))),
            413,
            "body_too_large",
        ),
        (
            client
                .post(server.url("/v1/auth/login"))
                .header("content-type", "application/json")
                .body("[".repeat(10_000)),
            422,
            "invalid_field",
        ),
        (
            client
                .get(server.url("/v1/auth/session"))
                .header("x-padding", "p".repeat(20_000)),
            431,
            "headers_too_large",
        ),
        (client.get(server.url("/v1/nothing-here")), 404, "not_found"),
        (
            client.get(server.url("/v1/auth/login")),
            405,
            "method_not_allowed",
        ),
        (
            client
                .post(server.url("/v1/oauth/token"))
                .form(&[("grant_type", "password")]),
            400,
            "unsupported_grant_type",
        ),
        (
            client
                .post(server.url("/v1/oauth/token"))
                .form(&[("grant_type", "client_credentials")]),
            401,
            "invalid_client",
        ),
        (
            client
                .post(server.url("/v1/oauth/token"))
                .basic_auth(&service.0, Some("hcs_wrong"))
                .form(&[("grant_type", "client_credentials")]),
            401,
            "invalid_client",
        ),
        (
            client
                .post(server.url("/v1/oauth/token"))
                .basic_auth(&service.0, Some(&service.1))
                .form(&[("grant_type", "client_credentials"), ("scope", "marketing")]),
            400,
            "invalid_scope",
        ),
        (
            client
                .post(server.url("/v1/auth/refresh"))
                .json(&json!({"refresh_token": "hrt_forged"})),
            401,
            "invalid_grant",
        ),
        (
            client
                .get(server.url("/v1/admin/keys"))
                .bearer_auth("garbage"),
            401,
            "invalid_token",
        ),
    ];
    for (request, status, code) in cases {
        let response = request.send().await.unwrap();
        assert!(response.headers().contains_key("x-request-id"));
        let (got_status, body) = crate::util::status_and_json(response).await;
        assert_eq!(got_status, status, "{code}: {body}");
        assert_eq!(body["error"], code, "{body}");
        assert!(body["message"].is_string());
    }
    // A service (not an admin) is refused the admin API.
    let token = server.client_token(&service).await;
    let (status, body) = server.get_with("/v1/admin/keys", &token).await;
    assert_eq!(status, 403, "{body}");
}
