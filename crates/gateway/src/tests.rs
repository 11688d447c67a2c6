#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use haechi_events::Principal;

use crate::{Convention, Denied, Error, GatewayPolicy, Upstream, decide};

/// A header lookup over `headers`, as the server reads them.
fn lookup<'a>(
    headers: &'a [(&'a str, &'a str)],
) -> impl Fn(&str) -> crate::upstream::HeaderRead<'a> {
    move |name| Ok(headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
}

const POLICY: &str = r#"
[[grant]]
service = "shipping"
purposes = ["shipping"]
fields = ["name"]
access = "masked"

[gateway]
cache_seconds = 1

[[gateway.route]]
name = "orders"
host = "shop.example.com"
path_prefix = "/api/orders"
methods = ["GET", "post"]
principals = ["customer", "service:shipping"]

[[gateway.route]]
name = "orders-admin"
host = "shop.example.com"
path_prefix = "/api/orders/admin"
principals = ["admin"]

[[gateway.route]]
name = "shipping"
path_prefix = "/shipping/"
principals = ["service"]
scopes = ["shipping"]
"#;

fn nginx(uri: &str, method: &str) -> Upstream {
    let headers = [
        ("x-original-uri", uri),
        ("x-original-method", method),
        ("host", "Shop.Example.com:443"),
    ];
    Upstream::describe(Convention::Nginx, lookup(&headers), "GET", None).unwrap()
}

fn customer() -> Principal {
    Principal::Customer("c-1".into())
}

#[test]
fn the_longest_prefix_decides_and_unknown_routes_are_denied() {
    let policy = GatewayPolicy::parse(POLICY, "policy.toml").unwrap();
    assert_eq!(policy.cache_seconds(), 1);
    let allowed = decide(
        &policy,
        &nginx("/api/orders/17?x=1", "GET"),
        &customer(),
        &[],
    )
    .unwrap();
    assert_eq!(allowed.route_name(), "orders");
    // Under the admin route: a customer is refused there.
    let denied = decide(
        &policy,
        &nginx("/api/orders/admin/x", "GET"),
        &customer(),
        &[],
    );
    assert_eq!(
        denied,
        Err(Denied::Principal {
            route: "orders-admin".into()
        })
    );
    // Segment-aware: /api/ordersX is not under /api/orders.
    assert_eq!(
        decide(&policy, &nginx("/api/ordersX", "GET"), &customer(), &[]),
        Err(Denied::NoRoute)
    );
    assert_eq!(
        decide(&policy, &nginx("/api/orders/1", "DELETE"), &customer(), &[]),
        Err(Denied::Method {
            route: "orders".into()
        })
    );
    // A route for every host, with a scope.
    let service = Principal::Service("billing".into());
    assert_eq!(
        decide(
            &policy,
            &nginx("/shipping/1", "GET"),
            &service,
            &["billing".into()]
        ),
        Err(Denied::Scope {
            route: "shipping".into()
        })
    );
    assert!(
        decide(
            &policy,
            &nginx("/shipping/1", "GET"),
            &service,
            &["shipping".into()]
        )
        .is_ok()
    );
}

#[test]
fn encoded_characters_cannot_walk_past_a_route() {
    let policy = GatewayPolicy::parse(POLICY, "policy.toml").unwrap();
    // %6F is `o`: the upstream reads /api/orders/admin, and so does the gateway.
    let sneaky = nginx("/api/orders/%61dmin/x", "GET");
    assert_eq!(sneaky.path, "/api/orders/admin/x");
    assert!(matches!(
        decide(&policy, &sneaky, &customer(), &[]),
        Err(Denied::Principal { .. })
    ));
    for path in [
        "/api/orders/../orders/admin",
        "/api/orders/%2e%2e/x",
        "/api/orders/x%2Fadmin",
        "/api/orders//admin",
        "/api/orders/./admin",
        "/api/orders\\admin",
        "/api/orders/%0a",
        "relative",
        "/api/orders/%zz",
        "/api/orders;jsessionid=1/admin",
        "/api/orders/admin%3Bx",
    ] {
        let headers = [
            ("x-original-uri", path),
            ("x-original-method", "GET"),
            ("host", "shop.example.com"),
        ];
        let described = Upstream::describe(Convention::Nginx, lookup(&headers), "GET", None);
        assert!(
            matches!(described, Err(Error::Upstream(_))),
            "{path}: {described:?}"
        );
    }
}

#[test]
fn only_the_configured_proxys_headers_are_read() {
    // Traefik.
    let headers = [
        ("x-forwarded-uri", "/api/orders/1"),
        ("x-forwarded-method", "POST"),
        ("x-forwarded-host", "shop.example.com"),
        // A client's own nginx header, passed through Traefik: not read.
        ("x-original-uri", "/api/orders/admin"),
    ];
    let traefik = Upstream::describe(Convention::Traefik, lookup(&headers), "GET", None).unwrap();
    assert_eq!(
        (traefik.method.as_str(), traefik.path.as_str()),
        ("POST", "/api/orders/1")
    );
    // Envoy: the method is the check's own, the path what follows the check's.
    let headers = [("host", "shop.example.com"), ("x-original-uri", "/x")];
    let envoy = Upstream::describe(
        Convention::Envoy,
        lookup(&headers),
        "PUT",
        Some("/api/orders/2"),
    )
    .unwrap();
    assert_eq!(
        (envoy.method.as_str(), envoy.path.as_str()),
        ("PUT", "/api/orders/2")
    );
    // A client's own X-Forwarded-* through nginx is not read; without nginx's header, refused.
    let headers = [
        ("host", "shop.example.com"),
        ("x-forwarded-uri", "/api/orders/1"),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-host", "shop.example.com"),
    ];
    assert!(Upstream::describe(Convention::Nginx, lookup(&headers), "GET", None).is_err());
    // A header the proxy set that cannot be read as text is refused, not passed over.
    let unreadable = |name: &str| match name {
        "x-original-uri" => Err(()),
        "x-original-method" => Ok(Some("GET")),
        "host" => Ok(Some("shop.example.com")),
        _ => Ok(None),
    };
    assert!(Upstream::describe(Convention::Nginx, unreadable, "GET", None).is_err());
}

#[test]
fn a_stricter_route_is_taken_whatever_the_case_or_format_suffix() {
    let policy = GatewayPolicy::parse(POLICY, "policy.toml").unwrap();
    for path in [
        "/api/orders/ADMIN/x",
        "/api/orders/admin.json",
        "/API/Orders/Admin",
    ] {
        assert_eq!(
            decide(&policy, &nginx(path, "GET"), &customer(), &[]),
            Err(Denied::Principal {
                route: "orders-admin".into()
            }),
            "{path}"
        );
    }
    // `.` ends a prefix, `X` does not.
    assert_eq!(
        decide(&policy, &nginx("/api/ordersX", "GET"), &customer(), &[]),
        Err(Denied::NoRoute)
    );
}

#[test]
fn a_bad_section_is_refused_with_its_line() {
    let cases = [
        ("[gateway]\ncache_seconds = 5\n", 2, "at most 1"),
        (
            "[gateway]\n[[gateway.route]]\nname = \"a\"\npath_prefix = \"x\"\nprincipals = [\"customer\"]\n",
            2,
            "plain absolute path",
        ),
        (
            "[[gateway.route]]\nname = \"a\"\npath_prefix = \"/x\"\nprincipals = [\"everyone\"]\n",
            1,
            "principal \"everyone\"",
        ),
        (
            "[[gateway.route]]\nname = \"a\"\npath_prefix = \"/x\"\nprincipals = []\n",
            1,
            "principals is empty",
        ),
        ("[gateway]\ncolour = 1\n", 2, "unknown field"),
    ];
    for (text, line, words) in cases {
        match GatewayPolicy::parse(text, "policy.toml") {
            Err(Error::Policy {
                line: got, problem, ..
            }) => {
                assert_eq!(got, line, "{text}: {problem}");
                assert!(problem.contains(words), "{text}: {problem}");
            }
            other => panic!("{text}: {other:?}"),
        }
    }
    match GatewayPolicy::parse("[gateway]\nproxy = \"haproxy\"\n", "policy.toml") {
        Err(Error::Policy {
            line: 2, problem, ..
        }) => assert!(problem.contains("nginx, traefik or envoy")),
        other => panic!("{other:?}"),
    }
    // No section: nothing guarded, every request denied.
    let empty = GatewayPolicy::parse("[quota]\nmasked = 5\n", "policy.toml").unwrap();
    assert!(empty.routes().is_empty());
    assert_eq!(
        decide(&empty, &nginx("/", "GET"), &customer(), &[]),
        Err(Denied::NoRoute)
    );
}
