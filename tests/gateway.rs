//! Gateway mode with a real nginx (Debian's, `auth_request`) in front of a tiny upstream that
//! trusts whatever reaches it — as the breached company's services trusted any well-signed
//! token. nginx is configured exactly as `deploy/gateway/nginx.conf` says.
//!
//! An issued token passes, and the upstream learns who it is from Haechi; a token the policy
//! does not give the route is refused at nginx; a forged token (a good signature from a key in
//! custody, never issued) is refused at nginx, raises the alert, and its network is blocked —
//! at the gateway as at Haechi's own API; a session ended is refused on its next request.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use serde_json::{Value, json};

use crate::util::{Instance, Server, jwt_parts, sign_ed25519, status_and_json};

const PASSWORD: &str = "correct horse battery";
const FORGER: &str = "203.0.113.66";

const POLICY: &str = r#"
[gateway]

[[gateway.route]]
name = "orders"
path_prefix = "/api/orders"
methods = ["GET", "POST"]
principals = ["customer"]

[[gateway.route]]
name = "internal"
path_prefix = "/internal"
principals = ["service:shipping"]
"#;

/// nginx, started from `deploy/gateway/nginx.conf`; stopped when dropped.
pub(crate) struct Nginx {
    child: Child,
    pub(crate) base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Nginx {
    /// nginx asking `haechi` (`host:port`) before forwarding to `upstream` (`host:port`).
    pub(crate) fn start(haechi: &str, upstream: &str) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/gateway/nginx.conf"),
        )
        .unwrap();
        let config = template
            .replace("@DIR@", dir.path().to_str().unwrap())
            .replace("@LISTEN@", &port.to_string())
            .replace("@HAECHI@", haechi)
            .replace("@UPSTREAM@", upstream);
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&config_path)
            .arg("-p")
            .arg(dir.path())
            .arg("-g")
            .arg(format!(
                "daemon off; master_process off; pid {}/nginx.pid;",
                dir.path().display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx must be installed (apt-get install nginx)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "nginx did not listen on {port}: {}",
                std::fs::read_to_string(dir.path().join("nginx-error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

/// The service behind nginx: it verifies nothing and answers who nginx says the caller is.
pub(crate) async fn upstream() -> SocketAddr {
    async fn echo(uri: axum::http::Uri, headers: HeaderMap) -> axum::Json<Value> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("")
                .to_string()
        };
        axum::Json(json!({
            "path": uri.path(),
            "subject": header("x-haechi-subject"),
            "principal": header("x-haechi-principal"),
            "route": header("x-haechi-route"),
            "scopes": header("x-haechi-scopes"),
        }))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().fallback(echo))
            .await
            .unwrap();
    });
    address
}

/// `GET path` through nginx from `address`, with a bearer token if given.
async fn through(nginx: &Nginx, path: &str, token: Option<&str>, address: &str) -> (u16, Value) {
    let client = haechi_outbound::plain_builder().unwrap().build().unwrap();
    let mut request = client
        .get(format!("{}{path}", nginx.base))
        .header("x-forwarded-for", address);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `GET path` through nginx exactly as written, on a plain socket; the status.
fn raw_get(nginx: &Nginx, path: &str, token: &str) -> u16 {
    use std::io::{Read as _, Write as _};
    let address = nginx.base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|status| status.parse().ok())
        .unwrap_or(0)
}

fn gateway_instance() -> Instance {
    let instance = Instance::new()
        .with_env("HAECHI_DETECT__RESPONSE", "enforce")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        );
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(instance.data_dir().join("policy.toml"), POLICY).unwrap();
    instance
}

async fn wait_for_forged_alert(server: &Server, admin: &str) -> Value {
    let started = Instant::now();
    loop {
        let (status, body) = server
            .get_with("/v1/admin/alerts?rule=haechi.token.forged", admin)
            .await;
        assert_eq!(status, 200, "{body}");
        if let Some(alert) = body["alerts"].as_array().unwrap().first() {
            return alert.clone();
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no alert");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn nginx_asks_haechi_and_a_forged_token_is_refused_and_alerted_at_the_gateway() {
    let instance = gateway_instance();
    let admin = instance.create_admin("root");
    let customer_id = instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let shipping = instance.create_service("shipping", "shipping");
    let server = instance.serve();
    let upstream = upstream().await;
    let haechi = server.base.trim_start_matches("http://").to_string();
    let nginx = Nginx::start(&haechi, &upstream.to_string());
    let admin_token = server.client_token(&admin).await;
    let customer = server.login("kim@example.com", PASSWORD).await["access_token"]
        .as_str()
        .unwrap()
        .to_string();

    // An issued token passes; the service learns who it is from Haechi.
    let (status, body) = through(
        &nginx,
        "/api/orders/17?x=1",
        Some(&customer),
        "198.51.100.4",
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["subject"], customer_id.as_str());
    assert_eq!(body["principal"], format!("customer:{customer_id}"));
    assert_eq!(body["route"], "orders");
    // No token, and a route the policy does not give a customer: refused at nginx.
    let (status, _) = through(&nginx, "/api/orders/17", None, "198.51.100.4").await;
    assert_eq!(status, 401);
    let (status, _) = through(&nginx, "/internal/export", Some(&customer), "198.51.100.4").await;
    assert_eq!(status, 403);
    let (status, _) = through(&nginx, "/elsewhere", Some(&customer), "198.51.100.4").await;
    assert_eq!(status, 403, "a route the policy does not list is denied");
    // A path that walks out of its route is refused, not normalised.
    // (Sent raw: an HTTP client library would resolve the dot segments itself.)
    for path in [
        "/api/orders/%2e%2e/internal/x",
        "/api/orders/..%2Finternal/x",
        "/api/orders;x=1/../../internal/x",
        // Raw UTF-8 makes nginx's X-Original-URI unreadable as text: refused, never passed
        // over for another header.
        "/internal/export?x=\u{e9}",
    ] {
        let status = raw_get(&nginx, path, &customer);
        assert!(matches!(status, 400 | 500), "{path}: {status}");
    }
    // Asked directly from a trusted proxy's address: the identity headers, no caching by
    // default; only nginx's headers are read (the policy's proxy), a Traefik header is not.
    let ask = |headers: Vec<(&'static str, &'static str)>| {
        let mut request = server
            .client
            .get(server.url("/v1/gateway/check"))
            .bearer_auth(&customer);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request.send()
    };
    let response = ask(vec![
        ("x-original-method", "POST"),
        ("x-original-uri", "/api/orders/9"),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-haechi-route"], "orders");
    assert_eq!(response.headers()["x-haechi-subject"], customer_id.as_str());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let response = ask(vec![
        ("x-forwarded-method", "GET"),
        ("x-forwarded-uri", "/api/orders/9"),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 400, "Traefik's headers are not nginx's");
    assert_eq!(response.headers()["cache-control"], "no-store");
    // A client's own X-Haechi-* never reaches the service: nginx sets all five.
    let client = haechi_outbound::plain_builder().unwrap().build().unwrap();
    let echoed: Value = client
        .get(format!("{}/api/orders/1", nginx.base))
        .bearer_auth(&customer)
        .header("x-haechi-scopes", "admin")
        .header("x-haechi-principal", "admin:root")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(echoed["principal"], format!("customer:{customer_id}"));
    assert_eq!(echoed["scopes"], "");
    // The service's own route, for the service.
    let service = server.client_token(&shipping).await;
    let (status, body) = through(&nginx, "/internal/export", Some(&service), "10.1.2.3").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["principal"], "service:shipping");

    // A forged token: a key in custody (as a leaked key is), a token never issued.
    let stolen = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = stolen.to_pkcs8_pem(Default::default()).unwrap();
    let (status, imported) = server
        .post_with(
            "/v1/admin/keys",
            &admin_token,
            json!({ "key": pem.as_str(), "activate": false }),
        )
        .await;
    assert_eq!(status, 201, "{imported}");
    let (mut header, mut claims) = jwt_parts(&customer);
    header["kid"] = imported["kid"].clone();
    claims["jti"] = json!("forged-at-the-gateway");
    let forged = sign_ed25519(&stolen, &header, &claims);
    let (status, _) = through(&nginx, "/api/orders/17", Some(&forged), FORGER).await;
    assert_eq!(status, 401, "the forged token is refused at nginx");
    let alert = wait_for_forged_alert(&server, &admin_token).await;
    assert_eq!(alert["context"]["ip"], FORGER, "{alert:#}");
    // Contained as at the API: the forger's network is refused at the gateway, genuine token
    // or not.
    let started = Instant::now();
    loop {
        let (status, body) = through(&nginx, "/api/orders/17", Some(&customer), FORGER).await;
        if status == 403 {
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(started.elapsed() < Duration::from_secs(5), "never blocked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A session ended is refused on its next request.
    let response = server
        .client
        .post(server.url("/v1/auth/logout"))
        .bearer_auth(&customer)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let (status, _) = through(&nginx, "/api/orders/17", Some(&customer), "198.51.100.4").await;
    assert_eq!(status, 401, "the ended session is refused");

    // Every decision is on the record, with the route and never the path.
    let events = server.events();
    let allowed = events
        .iter()
        .find(|event| event["kind"] == "gateway.allowed" && event["detail"]["route"] == "orders")
        .expect("gateway.allowed");
    assert_eq!(allowed["detail"]["method"], "GET");
    assert_eq!(allowed["detail"]["proxy"], "nginx");
    assert!(!allowed.to_string().contains("/api/orders/17"));
    assert!(events.iter().any(|event| event["kind"] == "gateway.denied"
        && event["reason"] == "principal"
        && event["detail"]["route"] == "internal"));
    assert!(events.iter().any(|event| event["kind"] == "token.forged"));
}

/// The Traefik and Envoy configurations of docs/gateway.md are not run here (neither is
/// packaged for Debian); they are at least well-formed YAML that names the check.
#[test]
fn the_traefik_and_envoy_configurations_parse() {
    for (file, names) in [
        ("deploy/gateway/traefik.yaml", "/v1/gateway/check"),
        ("deploy/gateway/envoy.yaml", "/v1/gateway/check"),
    ] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        let parsed: Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|error| panic!("{file}: {error}"));
        assert!(parsed.to_string().contains(names), "{file}");
    }
}
