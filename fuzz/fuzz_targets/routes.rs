//! Every route's body, path parameter and credentials through the real router: one in-process
//! Haechi over a temporary data directory (`crates/server/tests/support`, included by path, the
//! same fixture as the hostile-route table), requests sent with `router(state).oneshot(…)`.
//!
//! Input: byte 0 picks the route, byte 1 the credentials, byte 2 the content type; the rest,
//! up to the first `0xFF`, is the path parameter (percent-encoded byte by byte), and after it
//! the body.
//!
//! Holds: no panic, never a 5xx, and every 4xx is a JSON `{ "error", "message" }` of strings.

#![no_main]

#[allow(dead_code)]
#[path = "../../crates/server/tests/support/mod.rs"]
mod support;

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Request, header};
use libfuzzer_sys::fuzz_target;
use support::Fixture;

/// Method and path of every route; `{}` is where the path parameter goes.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/.well-known/jwks.json"),
    ("GET", "/.well-known/oauth-authorization-server"),
    ("POST", "/v1/auth/login"),
    ("POST", "/v1/auth/refresh"),
    ("POST", "/v1/auth/logout"),
    ("GET", "/v1/auth/session"),
    ("POST", "/v1/oauth/token"),
    ("POST", "/v1/oauth/introspect"),
    ("POST", "/v1/oauth/revoke"),
    ("GET", "/v1/admin/keys"),
    ("POST", "/v1/admin/keys"),
    ("POST", "/v1/admin/keys/rotate"),
    ("POST", "/v1/admin/keys/{}/revoke"),
    ("POST", "/v1/admin/sessions/{}/revoke"),
    ("GET", "/v1/admin/services"),
    ("POST", "/v1/admin/services"),
    ("GET", "/v1/gateway/check"),
    ("POST", "/v1/gateway/check/{}"),
    ("GET", "/v1/admin/alerts"),
    ("GET", "/v1/admin/alerts/{}"),
    ("POST", "/v1/admin/alerts/{}"),
    ("GET", "/v1/admin/audit?{}"),
    ("GET", "/v1/admin/evidence?{}"),
    ("GET", "/v1/admin/evidence/reviews/{}"),
    ("POST", "/v1/admin/evidence/reviews/{}"),
    ("GET", "/v1/admin/blocks"),
    ("POST", "/v1/admin/blocks"),
    ("DELETE", "/v1/admin/blocks/{}"),
    ("GET", "/v1/admin/suspensions"),
    ("POST", "/v1/admin/suspensions"),
    ("DELETE", "/v1/admin/suspensions/{}"),
    ("POST", "/v1/customers"),
    ("GET", "/v1/customers/me"),
    ("PATCH", "/v1/customers/me"),
    ("GET", "/v1/customers/me/addresses"),
    ("POST", "/v1/customers/me/addresses"),
    ("DELETE", "/v1/customers/me/addresses/{}"),
    ("POST", "/v1/customers/lookup"),
    ("POST", "/v1/customers:batchGet"),
    ("GET", "/v1/customers/{}"),
    ("DELETE", "/v1/customers/{}"),
    ("GET", "/v1/admin/policy"),
    ("PUT", "/v1/admin/policy"),
    ("GET", "/v1/admin/drill/clock"),
    ("POST", "/v1/admin/drill/clock"),
    ("GET", "/v1/exposure/range/{}"),
    // The contract, and an acknowledgement through its own route (an alert id's raw slash
    // form is `/v1/admin/alerts/{}` with the parameter's bytes holding the slash).
    ("GET", "/openapi.json"),
    ("POST", "/v1/admin/alerts/{}/ack"),
    ("POST", "/v1/exposure/check"),
];

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/x-www-form-urlencoded"),
    Some("text/plain"),
    None,
];

struct World {
    runtime: tokio::runtime::Runtime,
    fixture: Fixture,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let fixture = runtime.block_on(Fixture::open());
        World { runtime, fixture }
    })
}

fuzz_target!(|data: &[u8]| {
    let [route, credentials, content_type, rest @ ..] = data else {
        return;
    };
    let world = world();
    let fixture = &world.fixture;
    let (method, template) = ROUTES[*route as usize % ROUTES.len()];
    let (parameter, body) = match rest.iter().position(|byte| *byte == 0xFF) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&rest[..0], rest),
    };
    let encoded: String = parameter
        .iter()
        .map(|byte| format!("%{byte:02X}"))
        .collect();
    let uri = template.replace("{}", &encoded);
    let mut request = Request::builder().method(method).uri(uri);
    let token = match credentials % 5 {
        0 => None,
        1 => Some(fixture.admin_token.as_str()),
        2 => Some(fixture.service_token.as_str()),
        3 => Some(fixture.customer_token.as_str()),
        _ => Some("garbage.token.here"),
    };
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(content_type) = CONTENT_TYPES[*content_type as usize % CONTENT_TYPES.len()] {
        request = request.header(header::CONTENT_TYPE, content_type);
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else {
        return;
    };
    world.runtime.block_on(async {
        let response = fixture.send(request).await;
        let status = response.status().as_u16();
        assert!(status < 500, "{method} {template}: status {status}");
        if status >= 400 {
            let (_, body) = support::json_of(response).await;
            assert!(
                body["error"].is_string() && body["message"].is_string(),
                "{method} {template}: {status} {body}"
            );
        }
    });
});
