//! Hostile input for every route, in process: each route of the router gets the same hostile
//! set — empty, truncated and wrongly typed bodies, a body over the limit, deeply nested JSON,
//! invalid UTF-8, the wrong content type, no credentials, foreign credentials, another
//! customer's id (in the path, or in the body where a route takes one), path traversal, very
//! long ids and percent-encoded bytes that are not UTF-8 — through `router(state).oneshot(…)`.
//!
//! Every refusal must be a 4xx (never a 5xx) with a JSON `{ "error", "message" }` of strings,
//! carry no internal text (SQL, paths, panics), create no customer, and put only refusals on
//! the audit record. Where a route legitimately answers 2xx (public routes, bodies a route
//! does not read), the table says so ([`Expect::Answered`]).
//!
//! The table must cover every route: [`every_registered_route_is_in_the_table`] compares it
//! with the router's OpenAPI document (`haechi_server::openapi`, made by the same
//! `routes!` calls that register the routes) and fails on a route the table does not list, so
//! a new route cannot be added without hostile coverage.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a failure should stop the test loudly"
)]

mod support;

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, header};
use haechi_events::Decision;
use support::{Fixture, Front, json_of};

/// Who a route is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Anyone; credentials (if any) are in the body.
    Public,
    /// Any verified token.
    AnyToken,
    /// A customer's token.
    Customer,
    /// A service's token.
    Service,
    /// An administrator's token.
    Admin,
}

/// What a route reads from its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyKind {
    /// Nothing: body cases test that an unread body changes nothing.
    None,
    /// JSON.
    Json,
    /// OAuth form (or JSON).
    Form,
    /// Raw bytes (TOML policy, acknowledgement note).
    Raw,
}

/// One route of the table.
#[derive(Debug, Clone, Copy)]
struct Route {
    method: &'static str,
    /// The path as registered; `{…}` segments are path parameters.
    path: &'static str,
    access: Access,
    body: BodyKind,
    /// A well-formed body for the credential cases (the body is not what they test).
    sample: &'static str,
    /// Cases this route legitimately answers (2xx allowed, writes allowed), with why.
    answered: &'static [(Case, &'static str)],
}

/// The hostile set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    EmptyBody,
    TruncatedJson,
    WrongTypes,
    HugeBody,
    DeepJson,
    InvalidUtf8,
    WrongContentType,
    NoCredentials,
    ForeignCredentials,
    OthersId,
    OthersInBody,
    PathTraversal,
    LongId,
    InvalidUtf8Path,
}

const CASES: &[Case] = &[
    Case::EmptyBody,
    Case::TruncatedJson,
    Case::WrongTypes,
    Case::HugeBody,
    Case::DeepJson,
    Case::InvalidUtf8,
    Case::WrongContentType,
    Case::NoCredentials,
    Case::ForeignCredentials,
    Case::OthersId,
    Case::OthersInBody,
    Case::PathTraversal,
    Case::LongId,
    Case::InvalidUtf8Path,
];

/// What must happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// A 4xx JSON error; nothing written but refusals on the record.
    Refused,
    /// A legitimate answer: any status below 500 (a 4xx still a JSON error).
    Answered,
    /// Not applicable (e.g. path cases on a route without a path parameter).
    Skip,
}

const PUBLIC_GET: &[(Case, &str)] = &[
    (Case::NoCredentials, "public"),
    (Case::EmptyBody, "public; the body is not read"),
    (Case::TruncatedJson, "public; the body is not read"),
    (Case::WrongTypes, "public; the body is not read"),
    (Case::HugeBody, "public; the body is not read"),
    (Case::DeepJson, "public; the body is not read"),
    (Case::InvalidUtf8, "public; the body is not read"),
    (Case::WrongContentType, "public; the body is not read"),
];

/// A portal page of the signed-in customer, asked without a session cookie (the cookie is its
/// credential, not a bearer token): back to the start page, whatever the body.
const WITHOUT_SESSION: &[(Case, &str)] = &[
    (
        Case::NoCredentials,
        "no session cookie: back to the start page (303)",
    ),
    (Case::EmptyBody, "the body is not read"),
    (Case::TruncatedJson, "the body is not read"),
    (Case::WrongTypes, "the body is not read"),
    (Case::HugeBody, "the body is not read"),
    (Case::DeepJson, "the body is not read"),
    (Case::InvalidUtf8, "the body is not read"),
    (Case::WrongContentType, "the body is not read"),
];

/// The gateway check reads no body; a customer's token asking about a request the fixture's
/// policy guards no route for is denied (403), and that denial is on the record.
const GATEWAY: &[(Case, &str)] = &[
    (Case::EmptyBody, "the body is not read"),
    (Case::TruncatedJson, "the body is not read"),
    (Case::WrongTypes, "the body is not read"),
    (Case::HugeBody, "the body is not read"),
    (Case::DeepJson, "the body is not read"),
    (Case::InvalidUtf8, "the body is not read"),
    (Case::WrongContentType, "the body is not read"),
];

const UNREAD_BODY: &[(Case, &str)] = &[
    (Case::EmptyBody, "the body is not read"),
    (Case::TruncatedJson, "the body is not read"),
    (Case::WrongTypes, "the body is not read"),
    (Case::HugeBody, "the body is not read"),
    (Case::DeepJson, "the body is not read"),
    (Case::InvalidUtf8, "the body is not read"),
    (Case::WrongContentType, "the body is not read"),
];

const fn route(method: &'static str, path: &'static str, access: Access, body: BodyKind) -> Route {
    Route {
        method,
        path,
        access,
        body,
        sample: "{}",
        answered: &[],
    }
}

const fn with_sample(mut route: Route, sample: &'static str) -> Route {
    route.sample = sample;
    route
}

const fn answering(mut route: Route, answered: &'static [(Case, &'static str)]) -> Route {
    route.answered = answered;
    route
}

use Access::{Admin, AnyToken, Customer, Public, Service};
use BodyKind::{Form, Json, Raw};

/// Every route of the router.
const ROUTES: &[Route] = &[
    answering(route("GET", "/healthz", Public, BodyKind::None), PUBLIC_GET),
    answering(route("GET", "/readyz", Public, BodyKind::None), PUBLIC_GET),
    // Issue 13 item 11: administrators only (or a listener of its own).
    answering(route("GET", "/metrics", Admin, BodyKind::None), UNREAD_BODY),
    answering(
        route("GET", "/.well-known/jwks.json", Public, BodyKind::None),
        PUBLIC_GET,
    ),
    answering(
        route("GET", "/openapi.json", Public, BodyKind::None),
        PUBLIC_GET,
    ),
    answering(
        route(
            "GET",
            "/.well-known/oauth-authorization-server",
            Public,
            BodyKind::None,
        ),
        PUBLIC_GET,
    ),
    with_sample(
        route("POST", "/v1/auth/login", Public, Json),
        r#"{"email":"kim@example.com","password":"not the password"}"#,
    ),
    with_sample(
        route("POST", "/v1/auth/refresh", Public, Json),
        r#"{"refresh_token":"not-a-refresh-token"}"#,
    ),
    answering(
        route("POST", "/v1/auth/logout", AnyToken, BodyKind::None),
        UNREAD_BODY,
    ),
    answering(
        route("GET", "/v1/auth/session", AnyToken, BodyKind::None),
        UNREAD_BODY,
    ),
    with_sample(
        route("POST", "/v1/oauth/token", Public, Form),
        "grant_type=client_credentials&client_id=service.shipping&client_secret=wrong",
    ),
    with_sample(
        route("POST", "/v1/oauth/introspect", Service, Form),
        "token=abc",
    ),
    with_sample(
        route("POST", "/v1/oauth/revoke", AnyToken, Form),
        "token=abc",
    ),
    answering(
        route("GET", "/v1/admin/keys", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    route("POST", "/v1/admin/keys", Admin, Json),
    answering(
        route("POST", "/v1/admin/keys/rotate", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    route("POST", "/v1/admin/keys/{kid}/revoke", Admin, BodyKind::None),
    route(
        "POST",
        "/v1/admin/sessions/{sid}/revoke",
        Admin,
        BodyKind::None,
    ),
    answering(
        route("GET", "/v1/admin/services", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    route("POST", "/v1/admin/services", Admin, Json),
    answering(
        route("GET", "/v1/admin/alerts", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    answering(
        route("GET", "/v1/admin/alerts/stream", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    // An alert id `RULE_ID/SEQ`, its slash as `%2F` (`{id}`) or raw (`{id}/{seq}`).
    route("GET", "/v1/admin/alerts/{id}", Admin, BodyKind::None),
    route("GET", "/v1/admin/alerts/{id}/{seq}", Admin, BodyKind::None),
    route("POST", "/v1/admin/alerts/{id}/ack", Admin, Raw),
    route("POST", "/v1/admin/alerts/{id}/{seq}/ack", Admin, Raw),
    answering(
        route("GET", "/v1/admin/incidents", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    answering(
        route("GET", "/v1/admin/incidents/stream", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    route("GET", "/v1/admin/incidents/{id}", Admin, BodyKind::None),
    route(
        "GET",
        "/v1/admin/incidents/{id}/customers",
        Admin,
        BodyKind::None,
    ),
    with_sample(
        route("POST", "/v1/admin/incidents/{id}/close", Admin, Json),
        r#"{"note":"contained"}"#,
    ),
    route(
        "GET",
        "/v1/admin/incidents/{id}/statement",
        Admin,
        BodyKind::None,
    ),
    with_sample(
        route("POST", "/v1/admin/incidents/{id}/statement", Admin, Json),
        r#"{"ko":{"title":"안내","body":"본문"}}"#,
    ),
    answering(
        route("GET", "/v1/portal/statements", Public, BodyKind::None),
        PUBLIC_GET,
    ),
    // The portal's pages: refusals are pages (HTML), not JSON; see `is_page`.
    answering(route("GET", "/portal", Public, BodyKind::None), PUBLIC_GET),
    answering(route("GET", "/portal/", Public, BodyKind::None), PUBLIC_GET),
    answering(
        route("GET", "/portal/incident", Public, BodyKind::None),
        PUBLIC_GET,
    ),
    answering(
        route("GET", "/portal/me", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    with_sample(
        route("POST", "/portal/login", Public, Form),
        "identifier=nobody%40example.com&password=wrong",
    ),
    answering(
        route("POST", "/portal/logout", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("GET", "/portal/verify", Public, BodyKind::None),
        PUBLIC_GET,
    ),
    answering(
        with_sample(
            route("POST", "/portal/verify", Public, Form),
            "text=%5B%ED%95%B4%EC%B9%98%EB%AA%B0%5D+HC-7K2M-9QXD",
        ),
        &[(Case::NoCredentials, "public: anyone may check a message")],
    ),
    route("GET", "/portal/assets/{file}", Public, BodyKind::None),
    // The gateway check, for every method a proxy forwards (Envoy sends the original one).
    answering(
        route("GET", "/v1/gateway/check", AnyToken, BodyKind::None),
        GATEWAY,
    ),
    answering(
        route(
            "GET",
            "/v1/gateway/check/{upstream}",
            AnyToken,
            BodyKind::None,
        ),
        GATEWAY,
    ),
    answering(
        route("POST", "/v1/gateway/check", AnyToken, BodyKind::None),
        GATEWAY,
    ),
    answering(
        route(
            "POST",
            "/v1/gateway/check/{upstream}",
            AnyToken,
            BodyKind::None,
        ),
        GATEWAY,
    ),
    answering(
        route("PUT", "/v1/gateway/check", AnyToken, BodyKind::None),
        GATEWAY,
    ),
    answering(
        route(
            "PUT",
            "/v1/gateway/check/{upstream}",
            AnyToken,
            BodyKind::None,
        ),
        GATEWAY,
    ),
    answering(
        route("PATCH", "/v1/gateway/check", AnyToken, BodyKind::None),
        GATEWAY,
    ),
    answering(
        route(
            "PATCH",
            "/v1/gateway/check/{upstream}",
            AnyToken,
            BodyKind::None,
        ),
        GATEWAY,
    ),
    answering(
        route("DELETE", "/v1/gateway/check", AnyToken, BodyKind::None),
        GATEWAY,
    ),
    answering(
        route(
            "DELETE",
            "/v1/gateway/check/{upstream}",
            AnyToken,
            BodyKind::None,
        ),
        GATEWAY,
    ),
    answering(
        route("OPTIONS", "/v1/gateway/check", AnyToken, BodyKind::None),
        GATEWAY,
    ),
    answering(
        route(
            "OPTIONS",
            "/v1/gateway/check/{upstream}",
            AnyToken,
            BodyKind::None,
        ),
        GATEWAY,
    ),
    // The console's pages: its session cookie is the credential (a bearer token is not), so
    // without one every page sends the browser to sign in, whatever the body.
    answering(route("GET", "/console", Public, BodyKind::None), PUBLIC_GET),
    answering(
        route("GET", "/console/", Public, BodyKind::None),
        &[
            (Case::NoCredentials, "no session cookie: the sign-in page"),
            (Case::EmptyBody, "the body is not read"),
            (Case::TruncatedJson, "the body is not read"),
            (Case::WrongTypes, "the body is not read"),
            (Case::HugeBody, "the body is not read"),
            (Case::DeepJson, "the body is not read"),
            (Case::InvalidUtf8, "the body is not read"),
            (Case::WrongContentType, "the body is not read"),
        ],
    ),
    with_sample(
        route("POST", "/console/login", Public, Form),
        "client_id=nobody&client_secret=wrong",
    ),
    answering(
        route("GET", "/console/alerts/stream", Public, BodyKind::None),
        UNREAD_BODY,
    ),
    route("GET", "/console/assets/{file}", Public, BodyKind::None),
    answering(
        route("POST", "/console/logout", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("GET", "/console/alert", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("POST", "/console/alert/ack", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("GET", "/console/alert/scope", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("GET", "/console/alert/scope.csv", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("GET", "/console/alert/scope.jsonl", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("GET", "/console/containment", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("POST", "/console/blocks", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("POST", "/console/blocks/lift", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("POST", "/console/suspensions", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("POST", "/console/suspensions/lift", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("GET", "/console/keys", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("POST", "/console/keys/rotate", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("GET", "/console/keys/revoke", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("POST", "/console/keys/revoke", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("GET", "/console/rules", Public, BodyKind::None),
        WITHOUT_SESSION,
    ),
    answering(
        route("GET", "/v1/portal/me/exposures", Customer, BodyKind::None),
        UNREAD_BODY,
    ),
    answering(
        route("GET", "/v1/admin/rules", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    with_sample(
        route("PUT", "/v1/admin/rules", Admin, Json),
        r#"{"files":[]}"#,
    ),
    // Without `from` and `to` every request is a 400; the body is never read.
    route("GET", "/v1/admin/evidence", Admin, BodyKind::None),
    answering(
        route(
            "GET",
            "/v1/admin/evidence/reviews/{month}",
            Admin,
            BodyKind::None,
        ),
        UNREAD_BODY,
    ),
    with_sample(
        route("POST", "/v1/admin/evidence/reviews/{month}", Admin, Json),
        r#"{"digest":"00","note":""}"#,
    ),
    answering(
        route("GET", "/v1/admin/audit", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    answering(
        route("GET", "/v1/admin/blocks", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    route("POST", "/v1/admin/blocks", Admin, Json),
    route("DELETE", "/v1/admin/blocks/{id}", Admin, BodyKind::None),
    answering(
        route("GET", "/v1/admin/suspensions", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    route("POST", "/v1/admin/suspensions", Admin, Json),
    route(
        "DELETE",
        "/v1/admin/suspensions/{principal}",
        Admin,
        BodyKind::None,
    ),
    route("POST", "/v1/customers", Service, Json),
    answering(
        route("GET", "/v1/customers/me", Customer, BodyKind::None),
        UNREAD_BODY,
    ),
    // Issue 13 item 9: taking another customer's e-mail or phone is a 409 (OTHERS_IN_BODY).
    route("PATCH", "/v1/customers/me", Customer, Json),
    answering(
        route(
            "GET",
            "/v1/customers/me/addresses",
            Customer,
            BodyKind::None,
        ),
        UNREAD_BODY,
    ),
    route("POST", "/v1/customers/me/addresses", Customer, Json),
    route(
        "DELETE",
        "/v1/customers/me/addresses/{address_id}",
        Customer,
        BodyKind::None,
    ),
    route("POST", "/v1/customers/lookup", Service, Json),
    route("POST", "/v1/customers:batchGet", Service, Json),
    route("GET", "/v1/customers/{id}", Service, BodyKind::None),
    route("DELETE", "/v1/customers/{id}", Service, BodyKind::None),
    answering(
        route("GET", "/v1/admin/policy", Admin, BodyKind::None),
        UNREAD_BODY,
    ),
    answering(
        route("PUT", "/v1/admin/policy", Admin, Raw),
        &[
            (
                Case::EmptyBody,
                "an empty policy file is valid: deny everything (an administrator's act)",
            ),
            (
                Case::WrongContentType,
                "the policy is TOML whatever the content type says",
            ),
        ],
    ),
    route("GET", "/v1/admin/drill/clock", Admin, BodyKind::None),
    route("POST", "/v1/admin/drill/clock", Admin, Json),
    answering(
        route("GET", "/v1/exposure/range/{prefix}", Public, BodyKind::None),
        PUBLIC_GET,
    ),
    // The anonymous check: a well-formed bucket and a canonical element (ristretto255's
    // basepoint) are answered; hostile bodies are refused before any evaluation.
    answering(
        with_sample(
            route("POST", "/v1/exposure/check", Public, Json),
            r#"{"bucket":"abcd","blinded":"4vKuCmq8TnGohKlhxQBRX1jjC2qlgt2NtqZZReCNLXY"}"#,
        ),
        &[(Case::NoCredentials, "public: anyone may check themselves")],
    ),
    // "Is this message from us?": a pasted text is answered; hostile bodies are refused.
    answering(
        with_sample(
            route("POST", "/v1/notices/verify", Public, Json),
            r#"{"text":"[해치몰] 안내 HC-7K2M-9QXD"}"#,
        ),
        &[(Case::NoCredentials, "public: anyone may check a message")],
    ),
];

/// Bodies naming another customer (customer B), sent by customer A: `{other}` is B's id,
/// `{other_email}` and `{other_phone}` B's login identifiers.
const OTHERS_IN_BODY: &[(&str, &str, &str)] = &[
    (
        "POST",
        "/v1/customers:batchGet",
        r#"{"ids":["{other}"],"purpose":"shipping"}"#,
    ),
    (
        "POST",
        "/v1/customers/lookup",
        r#"{"phone":"{other_phone}","purpose":"shipping"}"#,
    ),
    (
        "POST",
        "/v1/customers",
        r#"{"name":"김민준","email":"{other_email}","phone":"{other_phone}"}"#,
    ),
    // Issue 13 item 9: a customer cannot take another's identifiers (409).
    ("PATCH", "/v1/customers/me", r#"{"email":"{other_email}"}"#),
    ("PATCH", "/v1/customers/me", r#"{"phone":"{other_phone}"}"#),
];

/// A path parameter that names nothing.
const PLACEHOLDER_ID: &str = "nonexistent";

fn expected(route: &Route, case: Case) -> Expect {
    if route.answered.iter().any(|(answered, _)| *answered == case) {
        return Expect::Answered;
    }
    let has_parameter = route.path.contains('{');
    match case {
        Case::ForeignCredentials if matches!(route.access, Public | AnyToken) => Expect::Skip,
        Case::OthersId | Case::PathTraversal | Case::LongId | Case::InvalidUtf8Path
            if !has_parameter =>
        {
            Expect::Skip
        }
        Case::OthersInBody if others_body(route).is_none() => Expect::Skip,
        // The exposure range is public: a valid prefix in the credential cases is answered.
        _ => Expect::Refused,
    }
}

fn others_body(route: &Route) -> Option<&'static str> {
    OTHERS_IN_BODY
        .iter()
        .find(|(method, path, _)| *method == route.method && *path == route.path)
        .map(|(_, _, body)| *body)
}

/// Exactly the hostile body of `case`, with its content type.
fn hostile_body(case: Case, route: &Route, fixture: &Fixture) -> (Vec<u8>, Option<&'static str>) {
    let content_type = match route.body {
        Form => "application/x-www-form-urlencoded",
        _ => "application/json",
    };
    match case {
        Case::EmptyBody => (Vec::new(), Some(content_type)),
        Case::TruncatedJson => (br#"{"name": "kim", "email": "#.to_vec(), Some(content_type)),
        Case::WrongTypes => (
            br#"{"name": 5, "email": [], "phone": {}, "ids": "x", "token": 1, "grant_type": true, "until": []}"#
                .to_vec(),
            Some(content_type),
        ),
        Case::HugeBody => (
            format!(r#"{{"name": "{}"}}"#, "a".repeat(256 * 1024)).into_bytes(),
            Some(content_type),
        ),
        Case::DeepJson => (
            format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes(),
            Some(content_type),
        ),
        Case::InvalidUtf8 => (b"{\"name\": \"\xff\xfe\xc3\x28\"}".to_vec(), Some(content_type)),
        Case::WrongContentType => (route.sample.as_bytes().to_vec(), Some("text/plain")),
        Case::OthersInBody => (
            others_body(route)
                .unwrap_or("{}")
                .replace("{other}", &fixture.other_customer_id)
                .replace("{other_email}", support::OTHER_EMAIL)
                .replace("{other_phone}", support::OTHER_PHONE)
                .into_bytes(),
            Some(content_type),
        ),
        _ => (route.sample.as_bytes().to_vec(), Some(content_type)),
    }
}

/// The path parameter of `case`.
fn parameter(case: Case, fixture: &Fixture) -> String {
    match case {
        Case::OthersId => fixture.other_customer_id.clone(),
        Case::PathTraversal => "..%2f..%2f..%2fetc%2fpasswd".to_string(),
        Case::LongId => "a".repeat(8192),
        Case::InvalidUtf8Path => "%FF%FE%C3%28".to_string(),
        _ => PLACEHOLDER_ID.to_string(),
    }
}

fn fill_path(path: &str, value: &str) -> String {
    let mut filled = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        let end = rest[start..]
            .find('}')
            .map_or(rest.len(), |end| start + end + 1);
        filled.push_str(&rest[..start]);
        filled.push_str(value);
        rest = &rest[end..];
    }
    filled.push_str(rest);
    if path == "/v1/exposure/range/{prefix}" && value == PLACEHOLDER_ID {
        // A well-formed prefix: the public route answers it.
        return "/v1/exposure/range/ABCDE".to_string();
    }
    filled
}

fn own_token<'a>(route: &Route, fixture: &'a Fixture) -> Option<&'a str> {
    match route.access {
        Public => None,
        AnyToken | Customer => Some(&fixture.customer_token),
        Service => Some(&fixture.service_token),
        Admin => Some(&fixture.admin_token),
    }
}

fn foreign_token<'a>(route: &Route, fixture: &'a Fixture) -> Option<&'a str> {
    match route.access {
        Admin | Service => Some(&fixture.customer_token),
        Customer => Some(&fixture.service_token),
        Public | AnyToken => None,
    }
}

/// Text that must never reach a client.
const INTERNAL_TEXT: &[&str] = &["sqlite", "SQL", "/tmp", "data_dir", "panicked", "haechi.db"];

/// Whether `response` is one of the portal's or the console's pages (`text/html` under
/// `/portal` or `/console`).
fn is_page(route: &Route, response: &axum::response::Response) -> bool {
    (route.path.starts_with("/portal") || route.path.starts_with("/console"))
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/html"))
}

/// Sends `case` to `route` through `front` and returns what did not hold (empty when all
/// did).
async fn check(fixture: &Fixture, front: Front, route: &Route, case: Case) -> Vec<String> {
    let expect = expected(route, case);
    if expect == Expect::Skip {
        return Vec::new();
    }
    let label = format!("{front:?} {} {} / {case:?}", route.method, route.path);
    let mut problems = Vec::new();
    let customers_before = fixture.state.vault.customer_count().await.unwrap();
    let records_before = fixture.audit_records().len();
    let token = match case {
        Case::NoCredentials => None,
        Case::ForeignCredentials => foreign_token(route, fixture),
        // Another customer's id, asked for by customer A.
        Case::OthersId | Case::OthersInBody => Some(fixture.customer_token.as_str()),
        _ => own_token(route, fixture),
    };
    let uri = fill_path(route.path, &parameter(case, fixture));
    let (body, content_type) = hostile_body(case, route, fixture);
    let mut request = Request::builder().method(route.method).uri(&uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(content_type) = content_type {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let response = fixture
        .send_to(front, request.body(Body::from(body)).unwrap())
        .await;
    let status = response.status().as_u16();
    if expect == Expect::Answered && status < 400 {
        // An answered request may stream (SSE) or return non-JSON; it was allowed.
        return problems;
    }
    if !(400..500).contains(&status) {
        problems.push(format!("{label}: expected a 4xx refusal, got {status}"));
    }
    let text = if is_page(route, &response) {
        // A page's refusal is a page a browser shows.
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let page = String::from_utf8_lossy(&bytes).to_string();
        if !page.starts_with("<!doctype html>") {
            problems.push(format!("{label}: not a page: {page}"));
        }
        page
    } else {
        let (_, body) = json_of(response).await;
        if !(body["error"].is_string() && body["message"].is_string()) {
            problems.push(format!("{label}: not a JSON error: {body}"));
        }
        body.to_string()
    };
    for internal in INTERNAL_TEXT {
        if text.contains(internal) {
            problems.push(format!("{label}: internal text {internal:?} in {text}"));
        }
    }
    if expect == Expect::Refused {
        if fixture.state.vault.customer_count().await.unwrap() != customers_before {
            problems.push(format!("{label}: a customer was created"));
        }
        for record in &fixture.audit_records()[records_before..] {
            if record.event.decision != Decision::Deny && record.event.status < 400 {
                problems.push(format!(
                    "{label}: a refused request left a record of something done: {} {}",
                    record.event.kind, record.event.status
                ));
            }
        }
    }
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_refuses_the_hostile_set() {
    let mut problems = Vec::new();
    for route in ROUTES {
        // One data directory per route: what an answered case does (a logout, a key
        // rotation) stays with its route.
        let fixture = Fixture::open().await;
        for case in CASES {
            problems.extend(check(&fixture, Front::Api, route, *case).await);
        }
    }
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The routes a detection node serves (`--role detect`): its probes, alert desk and drill
/// clock.
fn served_by_detection_nodes(route: &Route) -> bool {
    [
        "/healthz",
        "/readyz",
        "/metrics",
        "/v1/admin/alerts",
        "/v1/admin/incidents",
        "/v1/admin/rules",
        "/v1/admin/drill/",
    ]
    .iter()
    .any(|prefix| route.path.starts_with(prefix))
}

/// A detection node's router is a composition of its own (the alert desk and drill clock
/// under the freshness check, a fallback for the API's paths): the same hostile set through
/// it, and every API route answered by the JSON 404 that names the API nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detection_node_refuses_the_hostile_set_and_serves_no_api() {
    let mut problems = Vec::new();
    for route in ROUTES
        .iter()
        .filter(|route| served_by_detection_nodes(route))
    {
        let fixture = Fixture::open().await;
        for case in CASES {
            problems.extend(check(&fixture, Front::DetectionNode, route, *case).await);
        }
    }
    let fixture = Fixture::open().await;
    let customers = fixture.state.vault.customer_count().await.unwrap();
    for route in ROUTES
        .iter()
        .filter(|route| !served_by_detection_nodes(route))
    {
        let request = Request::builder()
            .method(route.method)
            .uri(fill_path(route.path, PLACEHOLDER_ID))
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", fixture.admin_token),
            )
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(route.sample))
            .unwrap();
        let (status, body) = json_of(fixture.send_to(Front::DetectionNode, request).await).await;
        let names_the_api_nodes = body["message"]
            .as_str()
            .is_some_and(|message| message.contains("served by the API nodes"));
        if status != 404 || body["error"] != "not_found" || !names_the_api_nodes {
            problems.push(format!(
                "DetectionNode {} {}: expected the detection node's 404, got {status} {body}",
                route.method, route.path
            ));
        }
    }
    assert_eq!(
        fixture.state.vault.customer_count().await.unwrap(),
        customers,
        "a detection node created a customer"
    );
    assert!(
        problems.is_empty(),
        "{} problems:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_route_is_a_real_route() {
    let fixture = Fixture::open().await;
    for route in ROUTES {
        let uri = fill_path(route.path, PLACEHOLDER_ID);
        let request = Request::builder()
            .method(route.method)
            .uri(&uri)
            .body(Body::empty())
            .unwrap();
        let (status, body) = json_of(fixture.send(request).await).await;
        let fell_through = body["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("no such endpoint"));
        assert!(
            status != 405 && !fell_through,
            "{} {}: not a route of the router ({status} {body})",
            route.method,
            route.path
        );
    }
}

/// The `(method, path)` of every operation of the router's OpenAPI document.
fn registered_routes() -> BTreeSet<(String, String)> {
    let document = haechi_server::openapi();
    let mut routes = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.to_uppercase(), path.clone()));
        }
    }
    routes
}

/// Routes are registered only through `utoipa_axum::routes!`, which documents them: a plain
/// `.route(…)` in `src/routes/` would serve a route the document (and so this table) does not
/// know. The one exception is the metrics listener's router, which serves `/metrics` alone on
/// an address of its own (`[server] metrics_listen`).
#[test]
fn routes_are_registered_only_with_their_description() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/routes");
    let mut undocumented = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        for (number, line) in source.lines().enumerate() {
            let registers = [".route(", ".route_service(", ".nest(", ".nest_service("]
                .iter()
                .any(|call| line.contains(call));
            let metrics_listener = line.contains(r#".route("/metrics", get(metrics))"#);
            if registers && !metrics_listener {
                undocumented.push(format!(
                    "{}:{}: {}",
                    path.display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "register routes with utoipa_axum::routes! (and a #[utoipa::path]):\n{}",
        undocumented.join("\n")
    );
}

#[test]
fn every_registered_route_is_in_the_table() {
    let registered = registered_routes();
    assert!(registered.len() > 40, "found {registered:?}");
    let table: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| (route.method.to_string(), route.path.to_string()))
        .collect();
    let missing: Vec<_> = registered.difference(&table).collect();
    assert!(
        missing.is_empty(),
        "documented routes without hostile coverage (add them to ROUTES): {missing:?}"
    );
    let stale: Vec<_> = table.difference(&registered).collect();
    assert!(
        stale.is_empty(),
        "table routes the OpenAPI document does not describe: {stale:?}"
    );
}

/// Writes the seed corpus of the `audit_segment` and `audit_archive` fuzz targets: the audit
/// segment of a fixture's data directory (principals created, logins, customers created, one
/// refusal) and the same records as a Parquet archive file. Run by hand after a change to the
/// record or archive format:
/// `cargo test -p haechi-server --test hostile_routes write_audit_seed_corpus -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes fuzz/corpus/audit_*; run by hand when the audit formats change"]
async fn write_audit_seed_corpus() {
    let fixture = Fixture::open().await;
    let (status, _) = fixture
        .send_json("GET", "/v1/customers/me", None, serde_json::json!({}))
        .await;
    assert_eq!(status, 401);
    fixture.state.audit.shutdown().await.unwrap();
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
    let segments = corpus.join("audit_segment");
    std::fs::create_dir_all(&segments).unwrap();
    for entry in std::fs::read_dir(fixture.data_dir.join("audit")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name.starts_with("seg-") {
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(segments.join(&name), &bytes).unwrap();
            // A torn tail, as a crash leaves one.
            std::fs::write(
                segments.join(format!("{name}.torn")),
                &bytes[..bytes.len() * 2 / 3],
            )
            .unwrap();
        }
    }
    let records = fixture.audit_records();
    let archive = tempfile::tempdir().unwrap();
    let path = haechi_audit::write_archive_file(
        archive.path(),
        &records,
        &haechi_audit::ExportOptions { row_group_rows: 8 },
    )
    .unwrap();
    let archives = corpus.join("audit_archive");
    std::fs::create_dir_all(&archives).unwrap();
    std::fs::copy(&path, archives.join("fixture.parquet")).unwrap();
}

/// Found by the table: the routes that read a raw body (the policy, an alert note) answered a
/// body over `server.max_body_bytes` with axum's plain-text 413.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_body_over_the_limit_is_a_json_413() {
    let fixture = Fixture::open().await;
    for (method, uri) in [
        ("PUT", "/v1/admin/policy"),
        ("POST", "/v1/admin/alerts/rule%2F1/ack"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(
                header::AUTHORIZATION,
                format!("Bearer {}", fixture.admin_token),
            )
            .body(Body::from(vec![b' '; 256 * 1024]))
            .unwrap();
        let (status, body) = json_of(fixture.send(request).await).await;
        assert_eq!(status, 413, "{method} {uri}: {body}");
        assert_eq!(body["error"], "body_too_large", "{method} {uri}: {body}");
    }
}
