//! The harness: start `haechi serve` on a temporary data dir, talk to it, read its events.

#![allow(
    dead_code,
    reason = "each test file uses a different part of the harness"
)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The path of the binary under test.
pub fn haechi_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_haechi"))
}

/// A data directory plus the environment every `haechi` invocation in a test uses.
pub struct Instance {
    pub dir: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl Instance {
    pub fn new() -> Self {
        Instance {
            dir: tempfile::tempdir().unwrap(),
            env: vec![
                ("HAECHI_LOG_FORMAT".into(), "json".into()),
                // Containment is recorded, not carried out: tests of other parts forge tokens
                // and present revoked ones from 127.0.0.1, and must not lose their keys to it.
                // The detection tests turn it on.
                ("HAECHI_DETECT__RESPONSE".into(), "dry_run".into()),
                // The audit volume's headroom watch would raise its alert on a nearly full
                // test machine and change what the alert tests see; its own test sets it.
                ("HAECHI_AUDIT__MIN_FREE_HEADROOM".into(), "0%".into()),
            ],
        }
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(haechi_binary());
        command
            .args(args)
            .arg("--data-dir")
            .arg(self.data_dir())
            .current_dir(self.dir.path())
            .env_remove("HAECHI_MASTER_KEY")
            .env_remove("HAECHI_CONFIG");
        for (key, value) in &self.env {
            command.env(key, value);
        }
        command
    }

    /// Runs a one-shot command; returns (exit code, stdout, stderr).
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut command = self.command(args);
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        if let Some(input) = stdin {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(input.as_bytes())
                .unwrap();
        }
        let output = child.wait_with_output().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Creates an administrator; returns (client_id, client_secret).
    pub fn create_admin(&self, name: &str) -> (String, String) {
        let (code, stdout, stderr) = self.run(&["admin", "create", name], None);
        assert_eq!(code, 0, "admin create failed: {stderr}");
        credential(&stdout)
    }

    /// Creates a service; returns (client_id, client_secret).
    pub fn create_service(&self, name: &str, purposes: &str) -> (String, String) {
        let (code, stdout, stderr) =
            self.run(&["service", "create", name, "--purposes", purposes], None);
        assert_eq!(code, 0, "service create failed: {stderr}");
        credential(&stdout)
    }

    /// Creates a customer login; returns the customer id.
    pub fn create_customer(&self, email: &str, phone: &str, password: &str) -> String {
        let (code, stdout, stderr) = self.run(
            &[
                "customers",
                "create",
                "--email",
                email,
                "--phone",
                phone,
                "--password-stdin",
            ],
            Some(&format!("{password}\n")),
        );
        assert_eq!(code, 0, "customers create failed: {stderr}");
        stdout
            .lines()
            .find_map(|line| line.strip_prefix("customer_id="))
            .unwrap()
            .to_string()
    }

    /// Starts `haechi serve` on a free port.
    pub fn serve(&self) -> Server {
        self.start(self.command(&["serve", "--listen", "127.0.0.1:0"]))
    }

    /// Starts `haechi serve` on a free port with further arguments (a cluster node's
    /// `--bus`, `--node-id`, `--role`).
    pub fn serve_with(&self, args: &[&str]) -> Server {
        let mut all = vec!["serve", "--listen", "127.0.0.1:0"];
        all.extend_from_slice(args);
        self.start(self.command(&all))
    }

    /// Starts `haechi serve` on a free port, unable to make any file longer than `max_bytes`
    /// (`RLIMIT_FSIZE`, as `ulimit -f` sets it): a full disk for one process, without root.
    /// Writes past the limit fail with `EFBIG`; the `SIGXFSZ` that would otherwise kill the
    /// process is ignored (an ignored signal stays ignored across `exec`).
    pub fn serve_with_file_size_limit(&self, max_bytes: u64) -> Server {
        let mut command = Command::new("sh");
        command.args([
            "-c",
            "trap '' XFSZ; exec prlimit --fsize=\"$0\" -- \"$@\"",
            &max_bytes.to_string(),
        ]);
        let serve = self.command(&["serve", "--listen", "127.0.0.1:0"]);
        command.arg(serve.get_program()).args(serve.get_args());
        command.current_dir(self.dir.path());
        for (key, value) in serve.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        self.start(command)
    }

    /// Starts `command` (a `haechi serve` of this instance) and waits for its address.
    pub fn start_with(&self, command: Command) -> Server {
        self.start(command)
    }

    fn start(&self, mut command: Command) -> Server {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let lines = Arc::clone(&lines);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(line);
                }
            });
        }
        let started = Instant::now();
        let address = loop {
            let found = lines.lock().unwrap().iter().find_map(|line| {
                line.strip_prefix("haechi listening on ")
                    .map(str::to_string)
            });
            if let Some(address) = found {
                break address;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "haechi serve exited with {status}: {}",
                    lines.lock().unwrap().join("\n")
                );
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "haechi serve did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Server {
            child,
            base: address,
            lines,
            client: haechi_outbound::plain_builder().unwrap().build().unwrap(),
        }
    }
}

fn credential(stdout: &str) -> (String, String) {
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .unwrap()
            .to_string()
    };
    (field("client_id"), field("client_secret"))
}

/// A running server.
pub struct Server {
    pub child: Child,
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
    pub client: reqwest::Client,
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Every log line so far.
    pub fn log(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Every security event recorded so far (from the structured audit log lines).
    pub fn events(&self) -> Vec<Value> {
        self.log()
            .iter()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|line| line["target"] == "haechi::audit")
            .filter_map(|line| serde_json::from_str(line["event"].as_str()?).ok())
            .collect()
    }

    /// Events of one kind.
    pub fn events_of(&self, kind: &str) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|event| event["kind"] == kind)
            .collect()
    }

    /// Waits until `predicate` holds for the events (the sink logs asynchronously to stdout).
    pub fn wait_for_events(&self, mut predicate: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let events = self.events();
            if predicate(&events) {
                return events;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "expected events did not appear; got {events:#?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub async fn post_json(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        status_and_json(response).await
    }

    /// Polls the alert list until an alert of `rule` is there (10 s at most); returns it.
    pub async fn wait_for_alert(&self, admin: &str, rule: &str) -> Value {
        let started = Instant::now();
        loop {
            let (status, body) = self
                .get_with(&format!("/v1/admin/alerts?rule={rule}"), admin)
                .await;
            assert_eq!(status, 200, "{body}");
            if let Some(alert) = body["alerts"].as_array().unwrap().first() {
                return alert.clone();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no {rule} alert within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The text a GET of `path` with `token` answers (`/metrics`, a policy file), whatever
    /// its status.
    pub async fn get_text(&self, path: &str, token: &str) -> String {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    pub async fn get_with(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        status_and_json(response).await
    }

    pub async fn post_with(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        status_and_json(response).await
    }

    pub async fn patch_with(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .patch(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        status_and_json(response).await
    }

    pub async fn put_with(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let response = self
            .client
            .put(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        status_and_json(response).await
    }

    pub async fn delete_with(&self, path: &str, token: &str) -> (u16, Value) {
        let response = self
            .client
            .delete(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        status_and_json(response).await
    }

    /// Logs a customer in; returns the token pair.
    pub async fn login(&self, email: &str, password: &str) -> Value {
        let (status, body) = self
            .post_json(
                "/v1/auth/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login failed: {body}");
        body
    }

    /// A client-credentials token.
    pub async fn client_token(&self, credential: &(String, String)) -> String {
        let response = self
            .client
            .post(self.url("/v1/oauth/token"))
            .basic_auth(&credential.0, Some(&credential.1))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap();
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, 200, "client credentials failed: {body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    /// Stops the server with SIGTERM and returns its exit code.
    pub fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if started.elapsed() > Duration::from_secs(20) {
                let _ = self.child.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        for entry in std::fs::read_dir(&next).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}

/// Parts of a JWT, decoded.
pub fn jwt_parts(token: &str) -> (Value, Value) {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let decode = |part: &str| -> Value {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    };
    (decode(parts.next().unwrap()), decode(parts.next().unwrap()))
}

/// Signs a JWT with an Ed25519 key the test holds (what an attacker with a copy of the key
/// does).
pub fn sign_ed25519(key: &ed25519_dalek::SigningKey, header: &Value, claims: &Value) -> String {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let input = format!(
        "{}.{}",
        engine.encode(header.to_string()),
        engine.encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", engine.encode(signature.to_bytes()))
}

impl Server {
    /// `GET path` with a bearer token; returns the status, the body and the request id the
    /// server answered with, which names the request's audit record.
    pub async fn get_traced(&self, path: &str, token: &str) -> (u16, Value, String) {
        let response = self
            .client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|value| value.to_str().ok())
            .unwrap()
            .to_string();
        let (status, body) = status_and_json(response).await;
        (status, body, request_id)
    }

    /// The `token.*` audit record of request `request_id` (waits for it): where the precise
    /// reason of a token refusal is, since the caller is only told `invalid_token`.
    pub fn token_event_of(&self, request_id: &str) -> Value {
        let events = self.wait_for_events(|events| {
            events.iter().any(|event| {
                event["request_id"] == request_id
                    && event["kind"]
                        .as_str()
                        .is_some_and(|kind| kind.starts_with("token."))
            })
        });
        events
            .into_iter()
            .find(|event| {
                event["request_id"] == request_id
                    && event["kind"]
                        .as_str()
                        .is_some_and(|kind| kind.starts_with("token."))
            })
            .unwrap()
    }

    /// Presents `token`, expects the generic refusal, and returns the refusal's audit record.
    pub async fn refused_token_event(&self, path: &str, token: &str) -> Value {
        let (status, body, request_id) = self.get_traced(path, token).await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["error"], "invalid_token", "{body}");
        assert_eq!(body["message"], "the access token is not valid", "{body}");
        self.token_event_of(&request_id)
    }
}

/// `GET url` with a client built as Haechi builds its own (`reqwest::get` would need a
/// process-wide TLS provider).
pub async fn http_get(url: impl reqwest::IntoUrl) -> reqwest::Result<reqwest::Response> {
    haechi_outbound::plain_builder()
        .expect("the test client")
        .build()?
        .get(url)
        .send()
        .await
}

/// Refusals the refusal gate counted into its summaries (`request.refusals_summarized`) among
/// `events`, rather than recording one by one.
pub fn suppressed_in_summaries(events: &[Value]) -> usize {
    events
        .iter()
        .filter(|event| event["kind"] == "request.refusals_summarized")
        .map(|event| {
            event["detail"]["suppressed"]
                .as_str()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum()
}
