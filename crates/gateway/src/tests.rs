#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use haechi_events::Principal;

use crate::{Convention, Denied, Error, GatewayPolicy, Upstream, decide};

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
    Upstream::describe(
        |name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
        "GET",
        None,
    )
    .unwrap()
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
    ] {
        let headers = [
            ("x-original-uri", path),
            ("x-original-method", "GET"),
            ("host", "shop.example.com"),
        ];
        let described = Upstream::describe(
            |name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
            "GET",
            None,
        );
        assert!(
            matches!(described, Err(Error::Upstream(_))),
            "{path}: {described:?}"
        );
    }
}

#[test]
fn each_proxy_convention_is_read_and_nginx_comes_first() {
    // Traefik.
    let headers = [
        ("x-forwarded-uri", "/api/orders/1"),
        ("x-forwarded-method", "POST"),
        ("x-forwarded-host", "shop.example.com"),
    ];
    let traefik = Upstream::describe(
        |name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
        "GET",
        None,
    )
    .unwrap();
    assert_eq!(traefik.convention, Convention::Traefik);
    assert_eq!(
        (traefik.method.as_str(), traefik.path.as_str()),
        ("POST", "/api/orders/1")
    );
    // Envoy: the method is the check's own, the path what follows the check's.
    let headers = [("host", "shop.example.com")];
    let envoy = Upstream::describe(
        |name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
        "PUT",
        Some("/api/orders/2?q"),
    )
    .unwrap();
    assert_eq!(envoy.convention, Convention::Envoy);
    assert_eq!(
        (envoy.method.as_str(), envoy.path.as_str()),
        ("PUT", "/api/orders/2")
    );
    // A client's own X-Forwarded-* passed through nginx does not override nginx's headers.
    let headers = [
        ("x-original-uri", "/api/orders/admin"),
        ("x-original-method", "GET"),
        ("host", "shop.example.com"),
        ("x-forwarded-uri", "/api/orders/1"),
        ("x-forwarded-method", "GET"),
        ("x-forwarded-host", "shop.example.com"),
    ];
    let nginx = Upstream::describe(
        |name| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v),
        "GET",
        None,
    )
    .unwrap();
    assert_eq!(nginx.convention, Convention::Nginx);
    assert_eq!(nginx.path, "/api/orders/admin");
    // Nothing named: refused.
    assert!(Upstream::describe(|_| None, "GET", None).is_err());
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
    // No section: nothing guarded, every request denied.
    let empty = GatewayPolicy::parse("[quota]\nmasked = 5\n", "policy.toml").unwrap();
    assert!(empty.routes().is_empty());
    assert_eq!(
        decide(&empty, &nginx("/", "GET"), &customer(), &[]),
        Err(Denied::NoRoute)
    );
}
