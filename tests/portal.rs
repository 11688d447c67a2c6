//! The exposure portal's data, through the binary: a customer's own exposures (which fields
//! each incident exposed and which none did), and the incident statement an administrator
//! publishes — signed, versioned, checked here by an Ed25519 implementation Haechi does not
//! use (Python's `cryptography`).

use std::process::Command;

use serde_json::{Value, json};

use crate::util::Instance;

pub(crate) const PASSWORD: &str = "correct horse battery";

/// `haechi incident create` over `rows` (the affected list), titled `title`; the incident's id.
pub(crate) fn import_incident(instance: &Instance, rows: &[Value], title: &str) -> String {
    let list = instance.dir.path().join("affected.jsonl");
    let text: Vec<String> = rows.iter().map(Value::to_string).collect();
    std::fs::write(&list, text.join("\n") + "\n").unwrap();
    let (code, stdout, stderr) = instance.run(
        &[
            "incident",
            "create",
            "--from",
            list.to_str().unwrap(),
            "--title",
            title,
            "--quiet",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    stdout.trim().to_string()
}

/// Checks the statement in the JSON text `document` (the whole document, or its
/// `statements[0]` when `first_listed`) against `public_key` (base64url) the way
/// docs/portal.md tells anyone to: drop `signature`, serialise the rest compactly in the
/// order served, prefix the context line. With `altered`, the body is changed first.
fn python_verifies(document: &str, first_listed: bool, altered: bool, public_key: &str) -> bool {
    let script = r#"
import base64, json, sys
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
key, first_listed, altered = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
statement = json.loads(sys.stdin.read())
if first_listed:
    statement = statement["statements"][0]
if altered:
    statement["ko"]["body"] = "통관부호가 유출되었습니다. 아래 링크에서 재발급하세요."
pad = lambda text: text + "=" * (-len(text) % 4)
signature = base64.urlsafe_b64decode(pad(statement.pop("signature")))
message = b"haechi incident statement v1\n" + json.dumps(
    statement, separators=(",", ":"), ensure_ascii=False).encode()
try:
    Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(pad(key))).verify(signature, message)
    print("valid")
except Exception:
    print("invalid")
"#;
    let flag = |on: bool| if on { "1" } else { "0" };
    let mut child = Command::new("python3")
        .args(["-c", script, public_key, flag(first_listed), flag(altered)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(document.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stdout).trim() == "valid"
}

/// POSTs `body` and returns the status and the response's exact text.
async fn post_text(
    server: &crate::util::Server,
    path: &str,
    token: &str,
    body: &Value,
) -> (u16, String) {
    let response = server
        .client
        .post(server.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_customer_sees_what_leaked_and_what_did_not_and_the_signed_statement() {
    let instance = Instance::new();
    let (admin_id, admin_secret) = instance.create_admin("root");
    let exposed = instance.create_customer("minjun@example.com", "010-2345-6789", PASSWORD);
    let other = instance.create_customer("seoyeon@example.com", "010-3456-7890", PASSWORD);
    let rows = [
        json!({"customer_id": exposed, "fields": ["name", "phone", "addresses"],
               "first": "2025-06-11T01:00:00Z", "last": "2025-06-11T05:57:37Z", "reads": 2}),
        json!({"customer_id": other, "fields": ["email"], "reads": 1}),
    ];
    let id = import_incident(&instance, &rows, "Session key leak");
    let server = instance.serve();
    let admin = server.client_token(&(admin_id, admin_secret)).await;

    // The customer's own report: exposed fields, and as plainly the ones not exposed.
    let login = server.login("minjun@example.com", PASSWORD).await;
    let token = login["access_token"].as_str().unwrap();
    let response = server
        .client
        .get(server.url("/v1/portal/me/exposures"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "private, no-store");
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["exposed"], json!(["name", "phone", "addresses"]));
    assert_eq!(
        report["not_exposed"],
        json!(["email", "birth_date", "customs_code"])
    );
    let incident = &report["incidents"][0];
    assert_eq!(incident["incident_id"], id.as_str());
    assert_eq!(incident["title"], "Session key leak");
    assert_eq!(incident["reads"], 2);
    assert_eq!(incident["first_seen"], 1_749_603_600_000_000_i64);
    // Recorded as the customer's look at their own record, no field opened.
    let looks = server.wait_for_events(|events| {
        events
            .iter()
            .any(|e| e["kind"] == "pii.read" && e["detail"]["view"] == "exposures")
    });
    let look = looks
        .iter()
        .find(|e| e["detail"]["view"] == "exposures")
        .unwrap();
    assert_eq!(look["customer_id"], exposed.as_str());
    assert_eq!(look["principal"], format!("customer:{exposed}"));
    // Only a customer's own: no token, an administrator's, a forged one.
    let (status, body) = server.get_with("/v1/portal/me/exposures", "nope").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = server.get_with("/v1/portal/me/exposures", &admin).await;
    assert_eq!(status, 403, "{body}");

    // The statement: none yet; bad drafts refused with the member named; then published.
    let path = format!("/v1/admin/incidents/{id}/statement");
    let (status, none) = server.get_with(&path, &admin).await;
    assert_eq!(status, 200, "{none}");
    assert_eq!(none["statements"], json!([]));
    for (draft, expected) in [
        (
            json!({"ko": {"title": " ", "body": "b"}}),
            "ko.title: empty",
        ),
        (
            json!({"ko": {"title": "t", "body": "b\u{202E}"}}),
            "ko.body: holds",
        ),
        (json!({"en": {"title": "t", "body": "b"}}), "ko"),
    ] {
        let (status, body) = server.post_with(&path, &admin, draft).await;
        assert_eq!(status, 422, "{body}");
        assert!(
            body["message"].as_str().unwrap().contains(expected),
            "{body}"
        );
    }
    let (status, body) = server
        .post_with(
            "/v1/admin/incidents/INC-000000000000/statement",
            &admin,
            json!({"ko": {"title": "t", "body": "b"}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    let draft = json!({
        "ko": {
            "title": "개인정보 유출 안내",
            "body": "2025년 6월 11일, 고객님의 이름, 전화번호, 배송지가 유출되었습니다.\n\n통관부호는 유출되지 않았습니다. 재발급할 필요가 없습니다.",
            "faq": [{"question": "통관부호를 재발급해야 하나요?", "answer": "아니요."}]
        },
        "en": {"title": "Notice of a personal data leak", "body": "Your customs code was not exposed."}
    });
    let (status, first_text) = post_text(&server, &path, &admin, &draft).await;
    assert_eq!(status, 201, "{first_text}");
    let first: Value = serde_json::from_str(&first_text).unwrap();
    assert_eq!(first["version"], 1);
    assert_eq!(first["published_by"], "admin:root");
    let mut second_draft = draft.clone();
    second_draft["ko"]["faq"][0]["answer"] = json!("아니요. 통관부호는 유출되지 않았습니다.");
    let (status, second) = server.post_with(&path, &admin, second_draft).await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(second["version"], 2);

    // Anyone reads the current one with the key, and can check it; a changed copy fails.
    let response = server
        .client
        .get(server.url("/v1/portal/statements"))
        .send()
        .await
        .unwrap();
    assert!(response.headers().contains_key("etag"));
    let current_text = response.text().await.unwrap();
    let current: Value = serde_json::from_str(&current_text).unwrap();
    let shown = &current["statements"];
    assert_eq!(shown.as_array().unwrap().len(), 1, "{current:#}");
    assert_eq!(shown[0]["version"], 2);
    let key = current["key"]["public_key"].as_str().unwrap();
    assert!(
        python_verifies(&current_text, true, false, key),
        "{current_text}"
    );
    assert!(
        python_verifies(&first_text, false, false, key),
        "{first_text}"
    );
    assert!(!python_verifies(&current_text, true, true, key));
    let (_, versions) = server.get_with(&path, &admin).await;
    let numbers: Vec<i64> = versions["statements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, [2, 1]);
    // The customer's report now carries the statement's title; the act is on the record.
    let (_, report) = server.get_with("/v1/portal/me/exposures", token).await;
    assert_eq!(report["incidents"][0]["title"], "개인정보 유출 안내");
    let published = server.events_of("admin.config_changed");
    let published: Vec<&Value> = published
        .iter()
        .filter(|e| e["detail"]["change"] == "incident.statement")
        .collect();
    assert_eq!(published.len(), 2);
    assert_eq!(published[1]["detail"]["version"], "2");

    // Closed: the statement leaves the portal and can no longer change.
    let (status, body) = server
        .post_with(
            &format!("/v1/admin/incidents/{id}/close"),
            &admin,
            json!({"note": "notified"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (_, current) = server.get_with("/v1/portal/statements", &admin).await;
    assert_eq!(current["statements"], json!([]));
    let (status, body) = server.post_with(&path, &admin, draft).await;
    assert_eq!(status, 409, "{body}");
}

/// A client that does not follow redirects: the tests look at them.
pub(crate) fn page_client() -> reqwest::Client {
    haechi_outbound::plain_builder()
        .unwrap()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Signs in through the portal's form; the session cookie (`NAME=VALUE`).
pub(crate) async fn sign_in(
    client: &reqwest::Client,
    server: &crate::util::Server,
    identifier: &str,
) -> String {
    let signed_in = client
        .post(server.url("/portal/login"))
        .form(&[("identifier", identifier), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    cookie_of(&signed_in)
}

/// The part of a `Set-Cookie` before the first `;`.
fn cookie_of(response: &reqwest::Response) -> String {
    response.headers()[reqwest::header::SET_COOKIE]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_pages_answer_without_javascript_and_refuse_other_sites() {
    let instance = Instance::new();
    let customer = instance.create_customer("jiwoo@example.com", "010-4567-8901", PASSWORD);
    let row = json!({"customer_id": customer, "fields": ["name", "phone"],
                     "first": "2025-06-11T01:00:00Z", "last": "2025-06-11T05:57:37Z", "reads": 1});
    import_incident(&instance, &[row], "Session key leak");
    let server = instance.serve();
    let client = page_client();

    // The start page: Korean first, the strict policy, cacheable and validated.
    let home = client.get(server.url("/portal/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    let headers = home.headers().clone();
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["cache-control"], "public, max-age=60");
    let page = home.text().await.unwrap().replace("&#x2f;", "/");
    assert!(
        page.contains("<html lang=\"ko\">") && page.contains("로그인"),
        "{page}"
    );
    let again = client
        .get(server.url("/portal/"))
        .header("if-none-match", headers["etag"].clone())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    let english = client
        .get(server.url("/portal/?lang=en"))
        .send()
        .await
        .unwrap();
    assert!(english.text().await.unwrap().contains("<html lang=\"en\">"));
    // Its assets: by content digest, kept forever.
    let script = page
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_string();
    assert!(script.starts_with("/portal/assets/check."), "{script}");
    let asset = client.get(server.url(&script)).send().await.unwrap();
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(
        asset.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let missing = client
        .get(server.url("/portal/assets/check.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);

    // A wrong password: the form again, 401, nothing set.
    let wrong = client
        .post(server.url("/portal/login"))
        .form(&[("identifier", "jiwoo@example.com"), ("password", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(!wrong.headers().contains_key("set-cookie"));
    // Hostile forms: still a page, never a 500.
    for body in ["", "identifier=", "password=x", "%%%", &"a".repeat(5000)] {
        let response = client
            .post(server.url("/portal/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{body:?}");
    }
    // Another site's page posting the form is refused.
    let forged = client
        .post(server.url("/portal/login"))
        .header("origin", "https://evil.example")
        .form(&[("identifier", "jiwoo@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let forged = client
        .post(server.url("/portal/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("identifier", "jiwoo@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    // Signed in by phone number, as typed: a cookie the page script cannot read.
    let signed_in = client
        .post(server.url("/portal/login"))
        .form(&[("identifier", "010-4567-8901"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    assert_eq!(signed_in.headers()["location"], "/portal/me");
    let set = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_string();
    for attribute in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/"] {
        assert!(set.contains(attribute), "{set}");
    }
    let cookie = cookie_of(&signed_in);
    assert!(cookie.starts_with("__Host-haechi-portal="));
    let me = client
        .get(server.url("/portal/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
    assert_eq!(me.headers()["cache-control"], "private, no-store");
    let page = me.text().await.unwrap();
    // Exposed: name and phone; not exposed, as plainly: the customs code among them.
    let (exposed, safe) = page.split_once("<h2 id=\"safe-title\">").unwrap();
    let safe = safe.split("</section>").next().unwrap();
    assert!(exposed.contains("data-field=\"name\"") && exposed.contains("data-field=\"phone\""));
    assert!(safe.contains("data-field=\"customs_code\"") && safe.contains("개인통관고유부호"));
    assert!(!safe.contains("data-field=\"phone\""));
    assert!(page.contains("2025-06-11 10:00 KST"), "{page}");

    // Without the cookie, or with a forged one: back to the start.
    for cookie in ["", "__Host-haechi-portal=eyJhbGciOiJFZERTQSJ9.e30.c2ln"] {
        let response = client
            .get(server.url("/portal/me"))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303, "{cookie}");
        assert_eq!(response.headers()["location"], "/portal/");
    }
    // Signing out ends the session itself, not just the cookie.
    let out = client
        .post(server.url("/portal/logout"))
        .header("cookie", &cookie)
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
        .get(server.url("/portal/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 303);
}

/// The signed-in lane at a rate of one a second with no burst and no queue: a second view at
/// once is shed in no time — 503, `Retry-After`, the waiting page that retries by itself — and
/// the lane recovers; the JSON view is shed the same way; the start page is never in the lane.
#[tokio::test]
async fn over_capacity_the_signed_in_view_sheds_at_once_and_recovers() {
    let instance = Instance::new()
        .with_env("HAECHI_PORTAL__SIGNED_IN_PER_SECOND", "1")
        .with_env("HAECHI_PORTAL__SIGNED_IN_BURST", "0")
        .with_env("HAECHI_PORTAL__SIGNED_IN_QUEUE", "0")
        .with_env("HAECHI_PORTAL__RETRY_AFTER", "2s");
    instance.create_customer("hayun@example.com", "010-5678-9012", PASSWORD);
    let server = instance.serve();
    let client = page_client();
    let cookie = sign_in(&client, &server, "hayun@example.com").await;
    let token = server.login("hayun@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let mut shed = None;
    for _ in 0..5 {
        let started = std::time::Instant::now();
        let response = client
            .get(server.url("/portal/me"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            shed = Some((started.elapsed(), response));
            break;
        }
    }
    let (took, response) = shed.expect("a view past the rate is shed");
    assert!(took < std::time::Duration::from_millis(500), "{took:?}");
    assert_eq!(response.headers()["retry-after"], "2");
    let page = response.text().await.unwrap().replace("&#x2f;", "/");
    assert!(
        page.contains("http-equiv=\"refresh\" content=\"2;url=/portal/me\""),
        "{page}"
    );
    let (status, body) = server.get_with("/v1/portal/me/exposures", &token).await;
    assert_eq!(status, 503, "{body}");
    // The start page is served whatever the lane's state.
    let home = client.get(server.url("/portal/")).send().await.unwrap();
    assert_eq!(home.status(), 200);
    // After Retry-After, the view is admitted again.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let again = client
        .get(server.url("/portal/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
}

/// Operators may have a listener of their own (`server.operator_listen`), served by a thread
/// of its own so that a surge on the main address does not queue their requests: the whole
/// API is there, under the same checks, and it stops with the server.
#[tokio::test]
async fn operators_have_a_listener_of_their_own() {
    let instance = Instance::new().with_env("HAECHI_SERVER__OPERATOR_LISTEN", "127.0.0.1:0");
    let credential = instance.create_admin("root");
    let server = instance.serve();
    let operators = server
        .log()
        .iter()
        .find_map(|line| {
            line.strip_prefix("haechi operators on ")
                .map(str::to_string)
        })
        .expect("the operators' address is printed");
    assert_ne!(operators, server.base);
    let admin = server.client_token(&credential).await;
    let listed = server
        .client
        .get(format!("{operators}/v1/admin/incidents"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let refused = server
        .client
        .get(format!("{operators}/v1/admin/incidents"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"].is_string(), "{body}");
    let health = server
        .client
        .get(format!("{operators}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(server.terminate(), Some(0));
}

/// Requests without a session never take the signed-in lane's turns: with one turn a second,
/// a flood of cookie-less views is sent back to the start page, and the customer's own view
/// right after it is still admitted.
#[tokio::test]
async fn a_flood_without_a_session_takes_no_turn() {
    let instance = Instance::new()
        .with_env("HAECHI_PORTAL__SIGNED_IN_PER_SECOND", "1")
        .with_env("HAECHI_PORTAL__SIGNED_IN_BURST", "0")
        .with_env("HAECHI_PORTAL__SIGNED_IN_QUEUE", "0");
    instance.create_customer("seojun@example.com", "010-9012-3456", PASSWORD);
    let server = instance.serve();
    let client = page_client();
    let cookie = sign_in(&client, &server, "seojun@example.com").await;
    // The sign-in took this second's turn; wait for the next.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..50 {
        let flood = client
            .get(server.url("/portal/me"))
            .header("cookie", "__Host-haechi-portal=forged")
            .send()
            .await
            .unwrap();
        assert_eq!(flood.status(), 303);
    }
    let mine = client
        .get(server.url("/portal/me"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(mine.status(), 200);
}

/// A flood of sign-ins from one address is refused by that address's own limit before it
/// asks the signed-in lane for a turn: with one turn a second, someone else signing in right
/// after the flood is admitted. (Asked in the other order, the flood's attempts would take
/// every turn the lane had and shed the other person's sign-in.)
#[tokio::test]
async fn a_flood_of_sign_ins_from_one_address_takes_no_one_elses_turn() {
    let instance = Instance::new()
        .with_env("HAECHI_SERVER__TRUSTED_PROXIES", r#"["127.0.0.0/8"]"#)
        .with_env("HAECHI_LOGIN__ATTEMPTS_PER_SOURCE", "3")
        .with_env("HAECHI_PORTAL__SIGNED_IN_PER_SECOND", "1")
        .with_env("HAECHI_PORTAL__SIGNED_IN_BURST", "0")
        .with_env("HAECHI_PORTAL__SIGNED_IN_QUEUE", "0");
    instance.create_customer("minji@example.com", "010-3456-7890", PASSWORD);
    let server = instance.serve();
    let client = page_client();
    let attempt = |from: &'static str, identifier: &'static str, password: &'static str| {
        client
            .post(server.url("/portal/login"))
            .header("x-forwarded-for", from)
            .form(&[("identifier", identifier), ("password", password)])
            .send()
    };
    // The flooding address uses up its attempts (each taking a turn while it may) ...
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let refused = attempt("198.51.100.7", "minji@example.com", "guess")
            .await
            .unwrap();
        statuses.push(refused.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    // ... and from then on is refused by its limit, however fast it sends, taking no turn.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    for _ in 0..20 {
        let refused = attempt("198.51.100.7", "minji@example.com", "guess")
            .await
            .unwrap();
        assert_eq!(refused.status(), 429);
        assert!(refused.headers().contains_key("retry-after"));
    }
    let signed_in = attempt("203.0.113.20", "minji@example.com", PASSWORD)
        .await
        .unwrap();
    assert_eq!(
        signed_in.status(),
        303,
        "the other person's sign-in is admitted"
    );
}

/// `portal.listen`: the portal alone on an address of its own, on threads the kernel runs
/// `portal.nice` below the rest of the server (read back from /proc), so a surge there takes
/// only the CPU the API, operators and detection leave. The operators' routes are not there;
/// the main address still serves everything. A nice value that would raise the portal above
/// the server is refused at start.
#[tokio::test]
async fn the_portal_may_have_a_lower_priority_listener_of_its_own() {
    let instance = Instance::new()
        .with_env("HAECHI_PORTAL__LISTEN", "127.0.0.1:0")
        .with_env("HAECHI_PORTAL__NICE", "7");
    instance.create_customer("eunji@example.com", "010-2222-3333", PASSWORD);
    let credential = instance.create_admin("root");
    let server = instance.serve();
    let portal = server
        .log()
        .iter()
        .find_map(|line| line.strip_prefix("haechi portal on ").map(str::to_string))
        .expect("the portal's address is printed");
    assert_ne!(portal, server.base);
    let client = page_client();
    let home = client
        .get(format!("{portal}/portal/"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    let signed_in = client
        .post(format!("{portal}/portal/login"))
        .form(&[("identifier", "eunji@example.com"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let view = client
        .get(format!("{portal}/portal/me"))
        .header("cookie", cookie_of(&signed_in))
        .send()
        .await
        .unwrap();
    assert_eq!(view.status(), 200);
    let admin = server.client_token(&credential).await;
    let elsewhere = server
        .client
        .get(format!("{portal}/v1/admin/incidents"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 404);
    let body: Value = elsewhere.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("portal.listen"),
        "{body}"
    );
    // Views at once through the portal use several store connections; none is born on the
    // portal's threads (a SQLite connection is a thread, and would inherit their priority):
    // every one was opened at start.
    let cookie = cookie_of(&signed_in);
    let views = (0..8).map(|_| {
        client
            .get(format!("{portal}/portal/me"))
            .header("cookie", &cookie)
            .send()
    });
    for view in futures::future::join_all(views).await {
        assert_eq!(view.unwrap().status(), 200);
    }
    let store_threads = std::fs::read_dir(format!("/proc/{}/task", server.child.id()))
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.unwrap().path().join("comm")).ok())
        .filter(|name| name.starts_with("sqlx-sqlite"))
        .count();
    assert!(store_threads >= 4, "{store_threads} store connections");
    let (status, _) = server.get_with("/v1/admin/incidents", &admin).await;
    assert_eq!(status, 200, "the main address serves the API");
    // Every thread of the portal's runtime runs 7 below the server; the others do not.
    let (portal_threads, others) = thread_nice_values(server.child.id());
    let own = others[0];
    assert!(!portal_threads.is_empty());
    assert!(
        portal_threads.iter().all(|&nice| nice == (own + 7).min(19)),
        "{portal_threads:?}"
    );
    assert!(others.iter().all(|&nice| nice == own), "{others:?}");
    assert_eq!(server.terminate(), Some(0));

    // Refused whether or not the listener is set.
    let refused = Instance::new().with_env("HAECHI_PORTAL__NICE", "-5");
    let (code, _, stderr) = refused.run(&["serve", "--listen", "127.0.0.1:0"], None);
    assert_ne!(code, 0);
    assert!(stderr.contains("portal.nice must be between 0"), "{stderr}");
}

/// The nice values of a process's threads: those named `haechi-portal`, and the rest (the
/// main thread's first).
fn thread_nice_values(pid: u32) -> (Vec<i64>, Vec<i64>) {
    let (mut portal, mut others) = (Vec::new(), Vec::new());
    let mut tasks: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|task| task.unwrap().path())
        .collect();
    // The main thread's id is the process's.
    tasks.sort_by_key(|task| !task.ends_with(pid.to_string()));
    for task in tasks {
        let Ok(stat) = std::fs::read_to_string(task.join("stat")) else {
            continue;
        };
        // pid (comm) state … : the fields after the name's closing parenthesis, nice the 17th.
        let (name, rest) = stat.split_once(") ").unwrap();
        let nice: i64 = rest.split(' ').nth(16).unwrap().parse().unwrap();
        if name.ends_with("(haechi-portal") {
            portal.push(nice);
        } else {
            others.push(nice);
        }
    }
    (portal, others)
}

/// `portal.max_in_flight`: the node answers that many of the public's requests at once, on
/// every listener together, and refuses one more at once — the waiting page for a page, a
/// JSON 503 for the check, both with `Retry-After` — while operators' routes are never in the
/// bound. Here the one permit is held by a signed-in view waiting its turn in the lane.
#[tokio::test]
async fn beyond_the_crowds_bound_the_public_is_refused_at_once_and_operators_are_not() {
    let instance = Instance::new()
        .with_env("HAECHI_PORTAL__MAX_IN_FLIGHT", "1")
        .with_env("HAECHI_PORTAL__SIGNED_IN_PER_SECOND", "0.5")
        .with_env("HAECHI_PORTAL__SIGNED_IN_BURST", "0")
        .with_env("HAECHI_PORTAL__SIGNED_IN_QUEUE", "1")
        .with_env("HAECHI_PORTAL__SIGNED_IN_MAX_WAIT", "3s");
    instance.create_customer("yuna@example.com", "010-7777-8888", PASSWORD);
    let credential = instance.create_admin("root");
    let server = instance.serve();
    let admin = server.client_token(&credential).await;
    let client = page_client();
    let cookie = sign_in(&client, &server, "yuna@example.com").await;
    // The sign-in took the lane's turn: this view waits about two seconds for the next,
    // holding the one permit meanwhile.
    let waiting = tokio::spawn({
        let (client, url, cookie) = (client.clone(), server.url("/portal/me"), cookie.clone());
        async move {
            client
                .get(url)
                .header("cookie", cookie)
                .send()
                .await
                .unwrap()
        }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    let page = client
        .get(server.url("/portal/incident?lang=en"))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
    assert_eq!(page.status(), 503);
    assert_eq!(page.headers()["retry-after"], "5");
    let page = page.text().await.unwrap().replace("&#x2f;", "/");
    assert!(
        page.contains("content=\"5;url=/portal/incident?lang=en\""),
        "{page}"
    );
    let check = client
        .post(server.url("/v1/exposure/check"))
        .json(&json!({"bucket": "abcd", "blinded": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(check.status(), 503);
    assert_eq!(check.headers()["retry-after"], "5");
    let body: Value = check.json().await.unwrap();
    assert_eq!(body["error"], "unavailable", "{body}");
    // Operators are not the crowd.
    let (status, _) = server.get_with("/v1/admin/incidents", &admin).await;
    assert_eq!(status, 200);
    // The view that held the permit is answered, and the permit is free again.
    assert_eq!(waiting.await.unwrap().status(), 200);
    let page = client
        .get(server.url("/portal/incident"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
}

/// A client that sends a public request's body slowly holds a connection, not one of the
/// crowd's permits: with a bound of one, a check whose body has not arrived leaves the portal
/// answering everyone else, and one declaring a body over the limit is refused at once.
#[tokio::test]
async fn a_slow_body_takes_none_of_the_crowds_permits() {
    use tokio::io::AsyncWriteExt as _;
    let instance = Instance::new().with_env("HAECHI_PORTAL__MAX_IN_FLIGHT", "1");
    let server = instance.serve();
    let address = server.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&address).await.unwrap();
    slow.write_all(
        format!(
            "POST /v1/exposure/check HTTP/1.1\r\nhost: {address}\r\ncontent-type: \
             application/json\r\ncontent-length: 64\r\n\r\n{{\"bucket\":"
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    // One that declares a body over the limit is refused from its length alone, at once.
    let mut declared = tokio::net::TcpStream::connect(&address).await.unwrap();
    declared
        .write_all(
            format!(
                "POST /v1/exposure/check HTTP/1.1\r\nhost: {address}\r\ncontent-type: \
                 application/json\r\ncontent-length: 10000000\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut answer = [0_u8; 12];
    tokio::io::AsyncReadExt::read_exact(&mut declared, &mut answer)
        .await
        .unwrap();
    assert_eq!(&answer, b"HTTP/1.1 413");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    for _ in 0..3 {
        let page = page_client()
            .get(server.url("/portal/incident"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
    }
    drop(slow);
}
