//! Abuse of the token authority over real HTTP (issue 13, items 2, 3, 5, 6 and 11): a customer
//! re-encoding their own token, anyone writing a dead key's `kid` on garbage, concurrent wrong
//! passwords. Containment is enforced and the loopback address is blockable here, so a refusal
//! that wrongly counted as an attack would revoke the key or block the test's own address.

use base64::Engine as _;
use serde_json::{Value, json};

use crate::util::{Instance, Server, jwt_parts, status_and_json};

const PASSWORD: &str = "correct horse battery";

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// Enforced containment, nothing exempt from blocks (the harness's server runs on 127.0.0.1,
/// normally never blocked), and a canary rule that alerts on every logout: once its alert is
/// in the record, detection has evaluated everything before that logout.
fn enforcing_instance() -> Instance {
    let instance = Instance::new()
        .with_env("HAECHI_DETECT__RESPONSE", "enforce")
        .with_env("HAECHI_DETECT__NEVER_BLOCK", "[]");
    let rules = instance.data_dir().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("canary.yaml"),
        "id: test.canary\n\
         title: Canary\n\
         description: A logout, so the test knows detection has read this far.\n\
         false_positives: none\n\
         severity: low\n\
         fields: [principal]\n\
         detection:\n  \
           logout:\n    \
             kind: auth.logout\n  \
           condition: logout\n",
    )
    .unwrap();
    instance
}

/// Logs out with `token` and waits until detection has raised the canary for it; returns
/// every event recorded by then.
async fn settle_detection(server: &Server, token: &str) -> Vec<Value> {
    let (status, body) = server.post_with("/v1/auth/logout", token, json!({})).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "alert.raised" && event["reason"] == "test.canary")
    })
}

/// Asserts that detection raised nothing but the canary and took no action.
fn assert_nothing_contained(events: &[Value]) {
    let alerts: Vec<&Value> = events
        .iter()
        .filter(|event| event["kind"] == "alert.raised" && event["reason"] != "test.canary")
        .collect();
    assert!(alerts.is_empty(), "alerts raised: {alerts:#?}");
    let actions: Vec<&Value> = events
        .iter()
        .filter(|event| event["kind"] == "response.action")
        .collect();
    assert!(actions.is_empty(), "containment acted: {actions:#?}");
    assert!(
        events.iter().all(|event| event["kind"] != "token.forged"),
        "a forgery was recorded"
    );
}

/// `(r, s)` → `(r, n − s)`: the other ECDSA signature of the same message, computed with
/// p256's own scalar arithmetic.
fn flip_s(signature: &[u8]) -> Vec<u8> {
    let parsed = p256::ecdsa::Signature::from_slice(signature).unwrap();
    let (r, s) = parsed.split_scalars();
    p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes())
        .unwrap()
        .to_bytes()
        .to_vec()
}

#[tokio::test]
async fn a_malleated_es256_token_is_malformed_and_revokes_nothing() {
    let instance = enforcing_instance().with_env("HAECHI_KEYS__ALGORITHM", "ES256");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let pair = server.login("kim@example.com", PASSWORD).await;
    let genuine = pair["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_parts(&genuine).0["alg"], "ES256");
    let customer = jwt_parts(&genuine).1["sub"].as_str().unwrap().to_string();
    let (input, signature) = genuine.rsplit_once('.').unwrap();
    let signature = b64().decode(signature).unwrap();

    // Haechi signs low-S only: its signature is its own normal form.
    let parsed = p256::ecdsa::Signature::from_slice(&signature).unwrap();
    assert!(
        parsed.normalize_s().is_none(),
        "Haechi issued a high-S signature"
    );

    // Every way the holder can re-spell the token without the key.
    let encoded = b64().encode(&signature);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = alphabet
        .iter()
        .position(|&c| c == *encoded.as_bytes().last().unwrap())
        .unwrap();
    let respellings = [
        // (r, n − s): mathematically valid, so before the fix it verified and was `forged`.
        format!("{input}.{}", b64().encode(flip_s(&signature))),
        // Stray bits in the last character (64 bytes leave four unused).
        format!(
            "{input}.{}{}",
            &encoded[..encoded.len() - 1],
            alphabet[last | 1] as char
        ),
        // Padding.
        format!("{input}.{encoded}=="),
    ];
    for respelled in &respellings {
        assert_ne!(respelled, &genuine);
        let event = server
            .refused_token_event("/v1/auth/session", respelled)
            .await;
        assert_eq!(event["kind"], "token.rejected", "{event:#}");
        assert_eq!(event["reason"], "malformed", "{event:#}");
        // The claimed subject is a labelled detail, never the record's customer.
        assert!(event["customer_id"].is_null(), "{event:#}");
        assert_eq!(event["principal"], "anonymous", "{event:#}");
        assert_eq!(event["detail"]["claimed_sub"], customer.as_str());
    }

    let events = settle_detection(&server, &genuine).await;
    assert_nothing_contained(&events);
    assert!(events.iter().all(|event| event["kind"] != "key.revoked"));
    // The signing key survived: a fresh login's token works, from the same address.
    let again = server.login("kim@example.com", PASSWORD).await;
    let (status, body) = server
        .get_with("/v1/auth/session", again["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn a_dead_kid_on_a_garbage_signature_is_a_bad_signature_and_blocks_nobody() {
    let instance = enforcing_instance();
    let admin = instance.create_admin("root");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let pair = server.login("kim@example.com", PASSWORD).await;
    let genuine = pair["access_token"].as_str().unwrap().to_string();
    let (header, claims) = jwt_parts(&genuine);
    let kid = header["kid"].as_str().unwrap().to_string();
    let (status, body) = server
        .post_with(
            &format!("/v1/admin/keys/{kid}/revoke"),
            &admin_token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Anyone who read the old kid (it was published) writes it on garbage.
    let mut unissued = claims.clone();
    unissued["jti"] = json!("never-issued-0001");
    let claims_b64 = b64().encode(unissued.to_string());
    let garbage = b64().encode([0x5a_u8; 64]);
    let forged_header = b64().encode(json!({"alg": "EdDSA", "typ": "JWT", "kid": kid}).to_string());
    let confused_header =
        b64().encode(json!({"alg": "ES256", "typ": "JWT", "kid": kid}).to_string());
    let cases = [
        (
            format!("{forged_header}.{claims_b64}.{garbage}"),
            "bad_signature",
        ),
        // Algorithm confusion on a dead kid: nothing was verified either.
        (
            format!("{confused_header}.{claims_b64}.{garbage}"),
            "unsupported_alg",
        ),
    ];
    for (token, reason) in &cases {
        let event = server.refused_token_event("/v1/auth/session", token).await;
        assert_eq!(event["reason"], *reason, "{event:#}");
        assert_eq!(event["kid"], kid.as_str());
        assert!(event["customer_id"].is_null(), "{event:#}");
    }
    // The genuine token its key really signed is still a dead-key use, recorded as issued.
    let event = server
        .refused_token_event("/v1/auth/session", &genuine)
        .await;
    assert_eq!(event["reason"], "revoked_key", "{event:#}");
    assert_eq!(event["detail"]["ledger"], "issued", "{event:#}");

    // RFC 6750 challenges: invalid_token for a refused token, bare for none.
    let response = server
        .client
        .get(server.url("/v1/auth/session"))
        .bearer_auth(&cases[0].0)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="haechi", error="invalid_token""#
    );
    let response = server
        .client
        .get(server.url("/v1/auth/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="haechi""#
    );

    let fresh = server.login("kim@example.com", PASSWORD).await;
    let fresh = fresh["access_token"].as_str().unwrap();
    let events = settle_detection(&server, fresh).await;
    assert_nothing_contained(&events);
    // The sender was not blocked: it still logs in and is served.
    let again = server.login("kim@example.com", PASSWORD).await;
    let (status, body) = server
        .get_with("/v1/auth/session", again["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn concurrent_wrong_passwords_get_no_more_hashes_than_the_account_limit() {
    const LIMIT: usize = 3;
    const ATTEMPTS: usize = 24;
    let instance = Instance::new()
        .with_env("HAECHI_LOGIN__FAILURES_PER_ACCOUNT", "3")
        // Every refusal on the record one by one (the flood gate is tested in abuse_server).
        .with_env("HAECHI_SERVER__REFUSAL_RECORDS_PER_SOURCE", "1000");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let mut attempts = Vec::new();
    for index in 0..ATTEMPTS {
        let client = server.client.clone();
        let url = server.url("/v1/auth/login");
        attempts.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"email": "kim@example.com", "password": format!("wrong {index}")}))
                .send()
                .await
                .unwrap();
            let retry_after = response.headers().get("retry-after").cloned();
            let (status, body) = status_and_json(response).await;
            (status, body, retry_after)
        }));
    }
    let mut refused = 0;
    let mut limited = 0;
    for attempt in attempts {
        let (status, body, retry_after) = attempt.await.unwrap();
        match status {
            401 => {
                assert_eq!(body["error"], "invalid_credentials");
                refused += 1;
            }
            429 => {
                assert_eq!(body["error"], "rate_limited");
                assert!(retry_after.is_some(), "429 without Retry-After");
                limited += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(
        refused <= LIMIT,
        "{refused} wrong passwords were hashed, limit {LIMIT}"
    );
    assert_eq!(refused + limited, ATTEMPTS);
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .filter(|event| event["kind"] == "auth.login_failed")
            .count()
            >= ATTEMPTS
    });
    let hashed = events
        .iter()
        .filter(|event| {
            event["kind"] == "auth.login_failed" && event["reason"] == "invalid_credentials"
        })
        .count();
    assert_eq!(hashed, refused);
    // The right password is refused too while the account is limited.
    let (status, _) = server
        .post_json(
            "/v1/auth/login",
            json!({"email": "kim@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 429);
}

#[tokio::test]
async fn a_resigned_copy_of_an_issued_token_is_malformed_but_a_changed_claim_is_forged() {
    use p256::ecdsa::signature::RandomizedSigner as _;
    use p256::pkcs8::EncodePrivateKey as _;
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    // A P-256 key Haechi imports from an old identity provider, of which the test keeps a copy.
    let key = p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap();
    let pem = key.to_pkcs8_pem(Default::default()).unwrap();
    let (status, body) = server
        .post_with(
            "/v1/admin/keys",
            &admin_token,
            json!({ "key": pem.as_str() }),
        )
        .await;
    assert_eq!(status, 201, "import failed: {body}");
    let pair = server.login("kim@example.com", PASSWORD).await;
    let genuine = pair["access_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_parts(&genuine).0["alg"], "ES256");
    let sign = |input: &str| {
        let signature: p256::ecdsa::Signature =
            key.sign_with_rng(&mut rand::rngs::OsRng, input.as_bytes());
        let signature = signature.normalize_s().unwrap_or(signature);
        format!("{input}.{}", b64().encode(signature.to_bytes()))
    };

    // The same header and claims under a second valid, low-S signature: the issued token,
    // spelled differently. Refused, and not as a forgery (a forgery revokes the key).
    let (input, _) = genuine.rsplit_once('.').unwrap();
    let resigned = sign(input);
    assert_ne!(resigned, genuine);
    let event = server
        .refused_token_event("/v1/auth/session", &resigned)
        .await;
    assert_eq!(event["kind"], "token.rejected", "{event:#}");
    assert_eq!(event["reason"], "malformed", "{event:#}");

    // One claim changed — a later expiry — is a forgery, as before.
    let (header, mut claims) = jwt_parts(&genuine);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 3600);
    let extended = sign(&format!(
        "{}.{}",
        b64().encode(header.to_string()),
        b64().encode(claims.to_string())
    ));
    let event = server
        .refused_token_event("/v1/auth/session", &extended)
        .await;
    assert_eq!(event["kind"], "token.forged", "{event:#}");

    let (status, body) = server.get_with("/v1/auth/session", &genuine).await;
    assert_eq!(status, 200, "{body}");
}
