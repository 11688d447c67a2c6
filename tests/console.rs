//! The responder console against the binary.
//!
//! - In Chromium (Debian's, driven by `playwright-core`: `tests/browser/console.mjs`): an
//!   administrator signs in; a forged token sent while the alert list is open appears in it
//!   without a reload; "who was exposed" for a stolen service credential's alert lists exactly
//!   the customers it read, and its export says the same; a block added from the console
//!   refuses the next request from that network, and lifted lets it through — both acts in the
//!   audit trail under the administrator's name, with their reasons. Screenshots land in a
//!   temporary directory, or in `docs/screenshots/` with `UPDATE_SCREENSHOTS=1`.
//! - Over plain HTTP: the session is a cookie only the console reads (a bearer token does not
//!   open the console, the console's cookie does not open the API), and every act needs the
//!   console's own page and the session's CSRF token.

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use serde_json::json;

use crate::leak::vault_with_customers;
use crate::util::{Instance, Server, jwt_parts, sign_ed25519, status_and_json};

const PASSWORD: &str = "correct horse battery";
/// The forger's address, and the network blocked from the console.
const FORGER: &str = "203.0.113.66";
const BLOCKED_NETWORK: &str = "198.51.100.0/24";
const BLOCKED_ADDRESS: &str = "198.51.100.9";

/// An instance that enforces containment, trusts `X-Forwarded-For` from the harness (so the
/// test's requests come from other networks than the browser's), and takes a new service at
/// four customers a minute (`haechi.service.new_velocity`), so a stolen credential's alert
/// comes after four reads.
fn console_instance() -> (Instance, Vec<String>) {
    let (instance, ids) = vault_with_customers();
    let instance = instance
        .with_env("HAECHI_DETECT__RESPONSE", "enforce")
        .with_env("HAECHI_DETECT__NEW_SERVICE_CUSTOMERS_PER_MINUTE", "4")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        );
    std::fs::write(
        instance.data_dir().join("policy.toml"),
        "[[grant]]\nservice = \"export\"\npurposes = [\"support\"]\nfields = [\"*\"]\naccess = \"masked\"\n",
    )
    .unwrap();
    (instance, ids)
}

/// A client that shows redirects instead of following them.
pub(crate) fn browserless() -> reqwest::Client {
    haechi_outbound::plain_builder()
        .unwrap()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_console_works_in_chromium() {
    let (instance, ids) = console_instance();
    let admin = instance.create_admin("oncall");
    let thief = instance.create_service("export", "support");
    instance.create_customer("victim@example.com", "010-7777-1212", PASSWORD);
    let server = instance.serve();
    let admin_token = server.client_token(&admin).await;

    // A stolen service credential reads four customers from one network: the new-service
    // budget raises an alert (and suspends the service).
    let stolen_service = server.client_token(&thief).await;
    let exposed = &ids[..4];
    for id in exposed {
        let (status, body) = status_and_json(
            server
                .client
                .get(server.url(&format!("/v1/customers/{id}?purpose=support")))
                .header("x-forwarded-for", "192.0.2.44")
                .bearer_auth(&stolen_service)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let velocity = server
        .wait_for_alert(&admin_token, "haechi.service.new_velocity")
        .await;

    // A key the forger holds, in custody (as a leaked key would be: published, here waiting
    // as the next key, so the console's own session is not signed by it and does not end
    // when detection revokes it), and a forged token.
    let stolen_key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = stolen_key.to_pkcs8_pem(Default::default()).unwrap();
    let (status, body) = server
        .post_with(
            "/v1/admin/keys",
            &admin_token,
            json!({ "key": pem.as_str(), "activate": false }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let stolen_kid = body["kid"].clone();
    let customer = server.login("victim@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let (mut header, mut claims) = jwt_parts(&customer);
    header["kid"] = stolen_kid;
    claims["jti"] = json!("forged-jti-never-issued");
    let forged = sign_ed25519(&stolen_key, &header, &claims);

    let update = std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1");
    let temporary = tempfile::tempdir().unwrap();
    let shots = if update {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        temporary.path().to_path_buf()
    };
    std::fs::create_dir_all(&shots).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console.mjs");
    let arguments = json!({
        "base": server.url(""),
        "shots": shots,
        "client_id": admin.0,
        "client_secret": admin.1,
        "forged": forged,
        "forger": FORGER,
        "customer_token": customer,
        "scope_alert": velocity["id"],
        "exposed": exposed,
        "network": BLOCKED_NETWORK,
        "blocked_address": BLOCKED_ADDRESS,
    });
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg(arguments.to_string())
        .output()
        .expect("node must be installed (scripts/test installs playwright-core)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    // Both acts are on the record, by the administrator, with their reasons.
    let events = server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["kind"] == "response.lifted" && event["detail"]["network"] == BLOCKED_NETWORK
        })
    });
    let block = events
        .iter()
        .find(|event| {
            event["kind"] == "response.action" && event["detail"]["network"] == BLOCKED_NETWORK
        })
        .expect("the block is recorded");
    assert_eq!(block["principal"], "admin:oncall", "{block}");
    assert_eq!(block["detail"]["note"], "INC-7: scraping from this network");
    assert_eq!(
        block["detail"]["origin"], "admin",
        "an administrator's act, not detection's: {block}"
    );
    let lift = events
        .iter()
        .find(|event| event["kind"] == "response.lifted")
        .unwrap();
    assert_eq!(lift["principal"], "admin:oncall");
    assert_eq!(lift["detail"]["note"], "false alarm: the partner's office");
    // Reading the alert's evidence is itself on the record, with the customers it showed.
    assert!(
        events.iter().any(|event| {
            event["kind"] == "admin.audit_read"
                && event["detail"]["what"] == "alert evidence"
                && event["detail"]["alert_id"] == velocity["id"]
                && event["detail"]["customers"]
                    .as_str()
                    .is_some_and(|customers| customers.split(',').count() == 4)
        }),
        "the evidence read is recorded"
    );
    // The scope was read with its reason, as the monthly review lists trail reads.
    assert!(events.iter().any(|event| {
        event["kind"] == "admin.audit_read"
            && event["detail"]["scope.alert"] == velocity["id"]
            && event["reason"]
                .as_str()
                .is_some_and(|reason| reason.starts_with("who was exposed"))
    }));
    for shot in [
        "console-alerts.png",
        "console-alert.png",
        "console-scope.png",
        "console-containment.png",
        "console-keys.png",
    ] {
        let bytes = std::fs::read(shots.join(shot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot}");
    }
}

/// After the coupang drill played its stolen-key attack against a live server, the console
/// lists the forged-token alert, shows its evidence and says nobody was exposed.
#[test]
fn the_console_shows_what_a_drill_did() {
    let instance = Instance::new()
        .with_env("HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK", "true")
        .with_env("HAECHI_DRILL__START", "2025-06-24T00:00:00Z")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        );
    let (id, secret) = instance.create_admin("drill");
    let server = instance.serve();
    let out = instance.dir.path().join("reports");
    let drill = std::process::Command::new(crate::util::haechi_binary())
        .args([
            "drill",
            "coupang",
            "--customers",
            "50",
            "--quiet",
            "--target",
        ])
        .arg(&server.base)
        .arg("--admin")
        .arg(format!("{id}:{secret}"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        drill.status.success(),
        "{}",
        String::from_utf8_lossy(&drill.stderr)
    );
    let update = std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1");
    let temporary = tempfile::tempdir().unwrap();
    let shots = if update {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        temporary.path().to_path_buf()
    };
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/console_drill.mjs");
    let arguments = json!({
        "base": server.url(""),
        "shots": shots,
        "client_id": id,
        "client_secret": secret,
    });
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg(arguments.to_string())
        .output()
        .expect("node must be installed (scripts/test installs playwright-core)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let bytes = std::fs::read(shots.join("console-after-drill.png")).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"));
}

/// The session cookie from a sign-in's `Set-Cookie`, and the whole header.
pub(crate) async fn sign_in(
    server: &Server,
    client: &reqwest::Client,
    admin: &(String, String),
) -> (String, String) {
    let response = client
        .post(server.url("/console/login"))
        .header("sec-fetch-site", "same-origin")
        .form(&[("client_id", &admin.0), ("client_secret", &admin.1)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/console/");
    let header = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    let cookie = header.split(';').next().unwrap().to_string();
    (cookie, header)
}

/// The CSRF token the console's page prints into its forms.
async fn csrf_of(server: &Server, client: &reqwest::Client, cookie: &str) -> String {
    let page = client
        .get(server.url("/console/containment"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let text = page.text().await.unwrap();
    let (_, rest) = text.split_once("name=\"csrf\" value=\"").unwrap();
    rest.split('"').next().unwrap().to_string()
}

#[tokio::test]
async fn console_sessions_are_cookies_only_the_console_reads_and_acts_need_its_page_and_token() {
    let (instance, _) = console_instance();
    let admin = instance.create_admin("oncall");
    let service = instance.create_service("export", "support");
    let adminish = instance.create_service("adminish", "admin,support");
    let server = instance.serve();
    let client = browserless();
    let bearer = server.client_token(&admin).await;

    // The session cookie: __Host-, HttpOnly, Secure, SameSite=Strict, the whole site.
    let (cookie, header) = sign_in(&server, &client, &admin).await;
    assert!(cookie.starts_with("__Host-haechi-console="), "{header}");
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(header.contains(attribute), "{attribute}: {header}");
    }
    // A service's client does not sign in, not even one holding a scope named `admin`, and is
    // not told apart from a wrong secret.
    for (client_id, secret) in [&service, &adminish, &(admin.0.clone(), "wrong".to_string())] {
        let refused = client
            .post(server.url("/console/login"))
            .header("sec-fetch-site", "same-origin")
            .form(&[("client_id", client_id), ("client_secret", secret)])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401, "{client_id}");
        assert!(refused.headers().get("set-cookie").is_none(), "{client_id}");
    }
    // A sign-in posted by another site's page is refused.
    let cross = client
        .post(server.url("/console/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("client_id", &admin.0), ("client_secret", &admin.1)])
        .send()
        .await
        .unwrap();
    assert_eq!(cross.status(), 403);
    assert!(cross.headers().get("set-cookie").is_none());

    // The bearer token does not open the console, not even put in the cookie; the cookie does
    // not open the API, not even sent as a bearer token (it is sealed for the console).
    let page = client
        .get(server.url("/console/containment"))
        .bearer_auth(&bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        303,
        "a bearer token is not a console session"
    );
    let page = client
        .get(server.url("/console/containment"))
        .header("cookie", format!("__Host-haechi-console={bearer}"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        page.status(),
        303,
        "a bearer token in the cookie is no session"
    );
    let api = client
        .get(server.url("/v1/admin/blocks"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401, "the API reads no cookie");
    let sealed = cookie.split_once('=').unwrap().1;
    let api = client
        .get(server.url("/v1/admin/blocks"))
        .bearer_auth(sealed)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 401, "the cookie's value is no bearer token");
    // A page another site's page asks for (a sibling subdomain's: SameSite lets the cookie
    // through) is refused, navigation or not.
    for site in ["same-site", "cross-site"] {
        let page = client
            .get(server.url("/console/containment"))
            .header("cookie", &cookie)
            .header("sec-fetch-site", site)
            .header("sec-fetch-mode", "navigate")
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 403, "{site}");
    }
    // Every console page carries its policy and is never cached.
    let page = client
        .get(server.url("/console/"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        policy.contains("script-src 'self'") && !policy.contains("unsafe"),
        "{policy}"
    );
    assert_eq!(page.headers()["cache-control"], "private, no-store");
    assert_eq!(page.headers()["x-frame-options"], "DENY");

    // An act: without the token, with another session's, from another site — each refused,
    // and nothing blocked; with the page's token from the page, done.
    let csrf = csrf_of(&server, &client, &cookie).await;
    let (other_cookie, _) = sign_in(&server, &client, &admin).await;
    let other_csrf = csrf_of(&server, &client, &other_cookie).await;
    assert_ne!(csrf, other_csrf, "each session has its own token");
    let block = |token: &str| {
        vec![
            ("csrf", token.to_string()),
            ("network", BLOCKED_NETWORK.to_string()),
            ("ttl_secs", "3600".to_string()),
            ("reason", "INC-7: scraping".to_string()),
        ]
    };
    /// What is wrong with the post, its form, and the header that makes it so.
    type Attempt<'a> = (&'a str, Vec<(&'a str, String)>, Option<(&'a str, &'a str)>);
    let attempts: [Attempt<'_>; 6] = [
        (
            "no token",
            block("")[1..].to_vec(),
            Some(("sec-fetch-site", "same-origin")),
        ),
        (
            "another session's token",
            block(&other_csrf),
            Some(("sec-fetch-site", "same-origin")),
        ),
        (
            "posted by another site",
            block(&csrf),
            Some(("sec-fetch-site", "cross-site")),
        ),
        (
            "from another origin",
            block(&csrf),
            Some(("origin", "https://evil.example")),
        ),
        ("saying nothing of where it comes from", block(&csrf), None),
        (
            "typed, not posted by a page",
            block(&csrf),
            Some(("sec-fetch-site", "none")),
        ),
    ];
    for (what, form, extra) in attempts {
        let mut request = client
            .post(server.url("/console/blocks"))
            .header("cookie", &cookie)
            .form(&form);
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        assert!(matches!(status, 400 | 403), "{what}: {status}");
        let (_, blocks) = server.get_with("/v1/admin/blocks", &bearer).await;
        assert_eq!(blocks["blocks"], json!([]), "{what}: nothing blocked");
    }
    let done = client
        .post(server.url("/console/blocks"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&block(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    let location = done.headers()["location"].to_str().unwrap().to_string();
    assert!(
        location.starts_with("/console/containment?done=block_added."),
        "{location}"
    );
    // The page says it was done for this session's mark only: a link cannot make it say so.
    for (path, shown) in [
        (location.as_str(), true),
        ("/console/containment?done=block_added", false),
        (
            "/console/containment?done=block_added.0000000000000000",
            false,
        ),
    ] {
        let page = client
            .get(server.url(path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let text = page.text().await.unwrap();
        assert_eq!(text.contains("Block in force"), shown, "{path}");
    }
    let (_, blocks) = server.get_with("/v1/admin/blocks", &bearer).await;
    assert_eq!(blocks["blocks"][0]["network"], BLOCKED_NETWORK);
    assert_eq!(blocks["blocks"][0]["created_by"], "admin:oncall");

    // A reason is required to lift; a bad network is refused on the page, saying why.
    let id = blocks["blocks"][0]["id"].to_string();
    let no_reason = client
        .post(server.url("/console/blocks/lift"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str()), ("id", &id), ("reason", " ")])
        .send()
        .await
        .unwrap();
    assert_eq!(no_reason.status(), 422);
    assert!(
        no_reason
            .text()
            .await
            .unwrap()
            .contains("reason for lifting")
    );
    let bad = client
        .post(server.url("/console/blocks"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .form(
            &block(&csrf)
                .into_iter()
                .map(|(name, value)| {
                    (
                        name,
                        if name == "network" {
                            "<script>x</script>".to_string()
                        } else {
                            value
                        },
                    )
                })
                .collect::<Vec<_>>(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    let text = bad.text().await.unwrap();
    assert!(text.contains("give an address or a CIDR network"), "{text}");
    assert!(
        !text.contains("<script>x"),
        "the value shown again is escaped"
    );

    // Signing out ends the session: the cookie opens nothing any more.
    let out = client
        .post(server.url("/console/logout"))
        .header("cookie", &cookie)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let after = client
        .get(server.url("/console/containment"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303, "the session ended with the sign-out");
}
