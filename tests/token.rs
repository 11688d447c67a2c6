//! The token authority over real HTTP: forgery, rotation, compromise, interop, custody.

use std::time::Duration;

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use serde_json::{Value, json};

use crate::util::{Instance, contains, files_under, jwt_parts, sign_ed25519, status_and_json};

const PASSWORD: &str = "correct horse battery";

/// A key the test holds, as a migrating company's old identity-provider key would be held
/// by whoever copied it.
fn attacker_key() -> ed25519_dalek::SigningKey {
    ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng)
}

async fn import(
    server: &crate::util::Server,
    admin: &str,
    key: &ed25519_dalek::SigningKey,
) -> String {
    let pem = key.to_pkcs8_pem(Default::default()).unwrap();
    let (status, body) = server
        .post_with("/v1/admin/keys", admin, json!({ "key": pem.as_str() }))
        .await;
    assert_eq!(status, 201, "import failed: {body}");
    assert_eq!(body["state"], "active");
    assert_eq!(body["origin"], "imported");
    body["kid"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn forged_tokens_signed_with_a_stolen_key_are_refused_and_raised() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let victim = instance.create_customer("victim@example.com", "010-2345-6789", PASSWORD);
    let other = instance.create_customer("other@example.com", "010-3456-7890", PASSWORD);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let stolen = attacker_key();
    let kid = import(&server, &admin_token, &stolen).await;

    // Haechi issues real tokens with the imported key.
    let pair = server.login("victim@example.com", PASSWORD).await;
    let genuine = pair["access_token"].as_str().unwrap();
    let (header, claims) = jwt_parts(genuine);
    assert_eq!(header["kid"], kid.as_str());
    assert_eq!(header["alg"], "EdDSA");

    // The attacker signs tokens of their own with the same key: a copy of a real token with
    // one claim changed, a real jti reused for another customer, and fresh tokens for real
    // customer ids. Every signature is valid.
    let now = claims["iat"].as_i64().unwrap();
    let mut forgeries = Vec::new();
    let mut extended = claims.clone();
    extended["exp"] = json!(now + 86_400);
    forgeries.push(sign_ed25519(&stolen, &header, &extended));
    let mut other_customer = claims.clone();
    other_customer["sub"] = json!(format!("customer:{other}"));
    forgeries.push(sign_ed25519(&stolen, &header, &other_customer));
    for (index, customer) in [&victim, &other].into_iter().enumerate() {
        forgeries.push(sign_ed25519(
            &stolen,
            &header,
            &json!({
                "iss": claims["iss"], "aud": claims["aud"],
                "sub": format!("customer:{customer}"),
                "sid": claims["sid"], "jti": format!("forged{index:030}"),
                "iat": now, "exp": now + 600,
            }),
        ));
    }
    for forged in &forgeries {
        let event = server.refused_token_event("/v1/auth/session", forged).await;
        assert_eq!(event["kind"], "token.forged", "{event:#}");
        assert_eq!(event["reason"], "forged", "{event:#}");
    }
    let events = server.wait_for_events(|events| {
        events
            .iter()
            .filter(|e| e["kind"] == "token.forged")
            .count()
            >= forgeries.len()
    });
    let forged_events: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "token.forged")
        .collect();
    assert_eq!(forged_events.len(), forgeries.len());
    for event in &forged_events {
        assert_eq!(event["kid"], kid.as_str());
        assert_eq!(event["decision"], "deny");
        assert_eq!(event["status"], 401);
        assert!(event["jti"].is_string());
        assert!(event["ip"].as_str().unwrap().starts_with("127."));
        assert!(
            event["detail"]["claimed_sub"]
                .as_str()
                .unwrap()
                .starts_with("customer:")
        );
    }
    // The claimed subject is attacker-chosen: kept as a labelled detail, never as the
    // record's customer (issue 13, item 5).
    assert!(
        forged_events
            .iter()
            .any(|e| e["detail"]["claimed_sub"] == format!("customer:{other}"))
    );
    assert!(forged_events.iter().all(|e| e["customer_id"].is_null()));

    // Haechi's own token keeps working throughout.
    let (status, body) = server.get_with("/v1/auth/session", genuine).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["principal"], format!("customer:{victim}"));
}

#[tokio::test]
async fn rotation_keeps_old_tokens_until_the_window_closes_and_new_ones_use_the_new_key() {
    // Short lifetimes so the retiring window closes within the test.
    let instance = Instance::new()
        .with_env("HAECHI_TOKEN__ACCESS_TTL", "2s")
        .with_env("HAECHI_KEYS__VERIFY_WINDOW", "3s")
        .with_env("HAECHI_KEYS__ROTATION_INTERVAL", "1h");
    let admin = instance.create_admin("root");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;

    let before = server.login("kim@example.com", PASSWORD).await;
    let old_token = before["access_token"].as_str().unwrap().to_string();
    let old_kid = jwt_parts(&old_token).0["kid"].as_str().unwrap().to_string();
    let jwks_before: Value = server
        .client
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The next key is published before it signs.
    let published: Vec<&str> = jwks_before["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap())
        .collect();
    assert_eq!(published.len(), 2, "active + pending: {jwks_before}");

    let (status, body) = server
        .post_with("/v1/admin/keys/rotate", &admin_token, json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let new_kid = body["active"]["kid"].as_str().unwrap().to_string();
    assert_ne!(new_kid, old_kid);
    assert!(
        published.contains(&new_kid.as_str()),
        "the new key was published beforehand"
    );

    // Old token still verifies (its key is retiring); new logins use the new key.
    assert_eq!(server.get_with("/v1/auth/session", &old_token).await.0, 200);
    let after = server.login("kim@example.com", PASSWORD).await;
    let new_token = after["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(new_token).0["kid"], new_kid.as_str());

    // Once the window closes the old key verifies nothing and leaves the JWKS.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let event = server
        .refused_token_event("/v1/auth/session", &old_token)
        .await;
    assert!(
        event["reason"] == "retired_key" || event["reason"] == "expired",
        "{event:#}"
    );
    let jwks_after: Value = server
        .client
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        !jwks_after.to_string().contains(&old_kid),
        "a retired key is still published"
    );
}

#[tokio::test]
async fn revoking_a_compromised_key_kills_its_tokens_at_once() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let pair = server.login("kim@example.com", PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();
    let kid = jwt_parts(token).0["kid"].as_str().unwrap().to_string();
    assert_eq!(server.get_with("/v1/auth/session", token).await.0, 200);

    let (status, body) = server
        .post_with(
            &format!("/v1/admin/keys/{kid}/revoke"),
            &admin_token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sessions: Vec<&str> = body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|sid| sid.as_str().unwrap())
        .collect();
    assert!(sessions.contains(&pair["session_id"].as_str().unwrap()));
    let replacement = body["replaced_by"].as_str().unwrap().to_string();

    let event = server.refused_token_event("/v1/auth/session", token).await;
    assert_eq!(event["reason"], "revoked_key", "{event:#}");
    assert_eq!(event["detail"]["ledger"], "issued", "{event:#}");
    // The admin token was signed by the same key: it died too.
    assert_eq!(
        server.get_with("/v1/auth/session", &admin_token).await.0,
        401
    );

    let fresh = server.login("kim@example.com", PASSWORD).await;
    let fresh_token = fresh["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(fresh_token).0["kid"], replacement.as_str());
    assert_eq!(
        server.get_with("/v1/auth/session", fresh_token).await.0,
        200
    );
    let jwks = crate::util::http_get(server.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!jwks.contains(&kid), "a revoked key is still published");
    let events = server.wait_for_events(|events| events.iter().any(|e| e["kind"] == "key.revoked"));
    let revoked = events.iter().find(|e| e["kind"] == "key.revoked").unwrap();
    assert_eq!(revoked["kid"], kid.as_str());
    assert!(
        revoked["detail"]["sessions"]
            .as_str()
            .unwrap()
            .contains(pair["session_id"].as_str().unwrap())
    );
}

#[tokio::test]
async fn refresh_tokens_are_single_use_and_reuse_revokes_the_session() {
    let instance = Instance::new();
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let first = server.login("kim@example.com", PASSWORD).await;
    let refresh = first["refresh_token"].as_str().unwrap();
    let (status, second) = server
        .post_json("/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(second["session_id"], first["session_id"]);
    let second_access = second["access_token"].as_str().unwrap();
    assert_eq!(
        server.get_with("/v1/auth/session", second_access).await.0,
        200
    );

    // Replaying the spent refresh token: refused, and the whole session dies.
    let (status, body) = server
        .post_json("/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, 401);
    assert_eq!(body["error"], "invalid_grant");
    let event = server
        .refused_token_event("/v1/auth/session", second_access)
        .await;
    assert_eq!(event["reason"], "session_revoked", "{event:#}");
    let (status, _) = server
        .post_json(
            "/v1/auth/refresh",
            json!({ "refresh_token": second["refresh_token"] }),
        )
        .await;
    assert_eq!(
        status, 401,
        "the newest refresh token of a revoked session must fail too"
    );
    server.wait_for_events(|events| events.iter().any(|e| e["kind"] == "auth.refresh_reused"));
}

#[tokio::test]
async fn logout_ends_the_session_at_once() {
    let instance = Instance::new();
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let pair = server.login("kim@example.com", PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();
    let (status, _) = server.post_with("/v1/auth/logout", token, json!({})).await;
    assert_eq!(status, 204);
    assert_eq!(server.get_with("/v1/auth/session", token).await.0, 401);
}

#[tokio::test]
async fn introspection_and_revocation_follow_rfc_7662_and_7009() {
    let instance = Instance::new();
    let service = instance.create_service("shipping", "shipping,support");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let pair = server.login("kim@example.com", PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();

    // HTTP Basic client authentication, form body: what Authlib sends.
    let introspect = |token: String| {
        let request = server
            .client
            .post(server.url("/v1/oauth/introspect"))
            .basic_auth(&service.0, Some(&service.1))
            .form(&[("token", token)]);
        async move { crate::util::status_and_json(request.send().await.unwrap()).await }
    };
    let (status, body) = introspect(token.to_string()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["active"], true);
    assert_eq!(body["sid"], pair["session_id"]);
    let (_, body) = introspect("garbage".into()).await;
    assert_eq!(body, json!({ "active": false }));

    // The customer revokes their own token (bearer-authenticated).
    let response = server
        .client
        .post(server.url("/v1/oauth/revoke"))
        .bearer_auth(token)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (_, body) = introspect(token.to_string()).await;
    assert_eq!(body["active"], false);

    // A customer cannot introspect.
    let other = server.login("kim@example.com", PASSWORD).await;
    let customer_token = other["access_token"].as_str().unwrap();
    let response = server
        .client
        .post(server.url("/v1/oauth/introspect"))
        .bearer_auth(customer_token)
        .form(&[("token", customer_token)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);

    // Service token: scopes are the purposes.
    let service_token = server.client_token(&service).await;
    let (status, body) = server.get_with("/v1/auth/session", &service_token).await;
    assert_eq!(status, 200);
    assert_eq!(body["principal"], "service:shipping");
    assert_eq!(body["scope"], "shipping support");
}

#[tokio::test]
async fn an_independent_jwt_library_verifies_haechi_tokens_from_the_jwks() {
    let instance = Instance::new();
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let pair = server.login("kim@example.com", PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/verify_jwt.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .arg(server.url("/.well-known/jwks.json"))
        .arg(token)
        .arg(server.base.as_str())
        .output()
        .expect("python3 must be installed (.ci/run installs PyJWT)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "PyJWT refused the token: {stdout}{stderr}"
    );
    let verified: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(verified["sid"], pair["session_id"]);
}

#[tokio::test]
async fn no_private_key_or_password_is_ever_written_in_plaintext() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let passwords = ["first password 1", "두번째 비밀번호 2"];
    instance.create_customer("kim@example.com", "010-2345-6789", passwords[0]);
    instance.create_customer("lee@example.com", "010-3456-7890", passwords[1]);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let key = attacker_key();
    import(&server, &admin_token, &key).await;
    server.login("kim@example.com", passwords[0]).await;
    server.login("lee@example.com", passwords[1]).await;
    // Wrong passwords are not written anywhere either.
    server
        .post_json(
            "/v1/auth/login",
            json!({"email": "kim@example.com", "password": "wrong password 3"}),
        )
        .await;
    let log = server.log().join("\n");
    drop(server);

    use base64::Engine as _;
    let seed = key.to_bytes();
    let der = key.to_pkcs8_der().unwrap();
    let pem = key.to_pkcs8_pem(Default::default()).unwrap();
    let mut needles: Vec<Vec<u8>> = vec![
        seed.to_vec(),
        der.as_bytes().to_vec(),
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(seed)
            .into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(seed)
            .into_bytes(),
        hex::encode(seed).into_bytes(),
        pem.as_bytes().to_vec(),
        admin.1.clone().into_bytes(),
        b"wrong password 3".to_vec(),
        b"kim@example.com".to_vec(),
        b"01023456789".to_vec(),
    ];
    needles.extend(passwords.iter().map(|p| p.as_bytes().to_vec()));
    for file in files_under(&instance.data_dir()) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in &needles {
            assert!(
                !contains(&bytes, needle),
                "{} contains a secret ({} bytes)",
                file.display(),
                needle.len()
            );
        }
    }
    for needle in &needles {
        assert!(
            !contains(log.as_bytes(), needle),
            "the server log contains a secret"
        );
    }
}

#[test]
fn a_token_lifetime_beyond_the_key_verification_window_is_refused_at_start() {
    let instance = Instance::new()
        .with_env("HAECHI_TOKEN__ACCESS_TTL", "2h")
        .with_env("HAECHI_KEYS__VERIFY_WINDOW", "1h");
    let (code, _, stderr) = instance.run(&["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(code, 2);
    assert!(stderr.contains("access_ttl"), "{stderr}");
}

#[test]
fn config_show_redacts_the_master_key() {
    let instance = Instance::new().with_env("HAECHI_MASTER_KEY", &"ab".repeat(32));
    let mut command = instance.command(&["config", "show"]);
    command.env("HAECHI_MASTER_KEY", "ab".repeat(32));
    let output = command.output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(stdout.contains("<redacted>"), "{stdout}");
    assert!(!stdout.contains(&"ab".repeat(32)));
    assert!(stdout.contains("listen = \"127.0.0.1:8730\""));
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully_and_key_commands_wait_for_the_server() {
    let instance = Instance::new();
    let server = instance.serve();
    let (code, _, stderr) = instance.run(&["keys", "rotate"], None);
    assert_eq!(
        code, 2,
        "key changes behind a running server must be refused"
    );
    assert!(stderr.contains("admin API"), "{stderr}");
    assert_eq!(server.terminate(), Some(0));
    let (code, stdout, stderr) = instance.run(&["keys", "list"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("active") && stdout.contains("pending"),
        "{stdout}"
    );
}

#[tokio::test]
async fn es256_keys_are_selectable() {
    let instance = Instance::new().with_env("HAECHI_KEYS__ALGORITHM", "ES256");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let pair = server.login("kim@example.com", PASSWORD).await;
    let token = pair["access_token"].as_str().unwrap();
    assert_eq!(jwt_parts(token).0["alg"], "ES256");
    assert_eq!(server.get_with("/v1/auth/session", token).await.0, 200);
}

#[tokio::test]
async fn metrics_and_health_endpoints_answer() {
    let instance = Instance::new();
    let admin = instance.create_admin("ops");
    let server = instance.serve();
    for path in ["/healthz", "/readyz"] {
        let response = crate::util::http_get(server.url(path)).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        assert!(response.headers().contains_key("x-request-id"));
    }
    crate::util::http_get(server.url("/healthz")).await.unwrap();
    // /metrics on the API's address is for administrators only (issue 13, item 11).
    let (status, body) =
        status_and_json(crate::util::http_get(server.url("/metrics")).await.unwrap()).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "missing_token");
    let admin_token = server.client_token(&admin).await;
    let text = server.get_text("/metrics", &admin_token).await;
    assert!(text.contains("haechi_http_requests_total"), "{text}");
    let metadata: Value =
        crate::util::http_get(server.url("/.well-known/oauth-authorization-server"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(metadata["issuer"], server.base.as_str());
    assert!(
        metadata["jwks_uri"]
            .as_str()
            .unwrap()
            .ends_with("/.well-known/jwks.json")
    );
}

#[tokio::test]
async fn a_stolen_key_revoked_or_rotated_out_still_tells_forgeries_from_stale_tokens() {
    let instance = Instance::new();
    let admin = instance.create_admin("root");
    let victim = instance.create_customer("victim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;
    let stolen = attacker_key();
    let kid = import(&server, &admin_token, &stolen).await;
    let pair = server.login("victim@example.com", PASSWORD).await;
    let genuine = pair["access_token"].as_str().unwrap().to_string();
    let (header, claims) = jwt_parts(&genuine);

    let (status, body) = server
        .post_with(
            &format!("/v1/admin/keys/{kid}/revoke"),
            &admin_token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // The genuine token is stale: refused for its key.
    let event = server
        .refused_token_event("/v1/customers/me", &genuine)
        .await;
    assert_eq!(event["reason"], "revoked_key", "{event:#}");

    // A token the thief mints with its copy after the revocation is a forgery, and raised so.
    let mut minted = claims.clone();
    minted["jti"] = json!("t_minted_after_revocation");
    minted["sid"] = json!("s_minted_after_revocation");
    minted["sub"] = json!(format!("customer:{victim}"));
    let forged = sign_ed25519(&stolen, &header, &minted);
    let event = server
        .refused_token_event("/v1/customers/me", &forged)
        .await;
    assert_eq!(event["kind"], "token.forged", "{event:#}");
    let events = server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["kind"] == "token.forged" && event["jti"] == "t_minted_after_revocation"
        })
    });
    let raised = events
        .iter()
        .find(|event| {
            event["kind"] == "token.forged" && event["jti"] == "t_minted_after_revocation"
        })
        .unwrap();
    assert_eq!(raised["kid"], kid.as_str());
    assert!(raised["customer_id"].is_null(), "{raised:#}");
    assert_eq!(
        raised["detail"]["claimed_sub"],
        format!("customer:{victim}").as_str()
    );

    // A bad signature under the dead key is neither a forgery nor a use of the key: anyone
    // can write the kid (issue 13, item 3).
    let (input, signature) = forged.rsplit_once('.').unwrap();
    let mut signature = signature.as_bytes().to_vec();
    signature[10] = if signature[10] == b'A' { b'B' } else { b'A' };
    let tampered = format!("{input}.{}", String::from_utf8(signature).unwrap());
    let event = server
        .refused_token_event("/v1/customers/me", &tampered)
        .await;
    assert_eq!(event["reason"], "bad_signature", "{event:#}");
}

#[tokio::test]
async fn metrics_get_a_listener_of_their_own_and_customers_cannot_read_them() {
    let instance = Instance::new().with_env("HAECHI_SERVER__METRICS_LISTEN", "127.0.0.1:0");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let pair = server.login("kim@example.com", PASSWORD).await;
    let customer = pair["access_token"].as_str().unwrap();
    let (status, body) = server.get_with("/metrics", customer).await;
    assert_eq!(status, 403, "{body}");
    let metrics_url = server
        .log()
        .iter()
        .find_map(|line| line.strip_prefix("haechi metrics on ").map(str::to_string))
        .expect("the metrics listener announces itself");
    let response = crate::util::http_get(&metrics_url).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.text().await.unwrap().contains("haechi_"));
    // Only /metrics is served there.
    let other = crate::util::http_get(metrics_url.replace("/metrics", "/v1/auth/session"))
        .await
        .unwrap();
    assert_eq!(other.status().as_u16(), 404);
}
