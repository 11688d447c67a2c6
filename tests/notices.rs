//! Breach notices end to end, through the binary: `haechi notify` queues an incident's
//! notices and delivers them — LMS to an SMS gateway's webhook (a receiver here that checks the
//! HMAC and refuses the first attempt, so the retry is exercised), e-mail through a real SMTP
//! server (Python's aiosmtpd, writing a maildir, read back with Python's `email` parser) — and
//! `POST /v1/notices/verify` then tells the notices received, damaged by copying, from altered
//! copies and smishing.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::util::{Instance, contains, files_under};

const WEBHOOK_SECRET: &str = "gateway-secret-0123456789";

/// What the gateway received: the signature header, the idempotency key, the JSON body.
type Received = Arc<Mutex<Vec<(String, String, Value)>>>;

/// An SMS gateway: checks nothing itself (the test does), answers 503 to the very first
/// request and 200 after.
async fn gateway() -> (String, Received) {
    let received: Received = Arc::default();
    let kept = received.clone();
    let app = axum::Router::new().route(
        "/send",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let kept = kept.clone();
                async move {
                    let header = |name: &str| {
                        headers
                            .get(name)
                            .and_then(|value| value.to_str().ok())
                            .unwrap_or_default()
                            .to_string()
                    };
                    let mut all = kept.lock().unwrap();
                    all.push((
                        header("x-haechi-signature"),
                        header("idempotency-key"),
                        serde_json::from_slice(&body).unwrap_or(Value::Null),
                    ));
                    // The signature covers "t.body".
                    let signature = header("x-haechi-signature");
                    let (t, v1) = signature
                        .split_once(",v1=")
                        .map(|(t, v1)| (t.trim_start_matches("t=").to_string(), v1.to_string()))
                        .unwrap_or_default();
                    let mut mac =
                        Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
                    mac.update(format!("{t}.").as_bytes());
                    mac.update(&body);
                    if hex::encode(mac.finalize().into_bytes()) != v1 {
                        return axum::http::StatusCode::UNAUTHORIZED;
                    }
                    if all.len() == 1 {
                        axum::http::StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        axum::http::StatusCode::OK
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/send", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// A child process killed (and reaped) when dropped.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// aiosmtpd on a free port, writing every message into `maildir`.
fn smtp_server(maildir: &std::path::Path) -> (u16, Reaped) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Reaped(
        Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
            .args(["-c", "aiosmtpd.handlers.Mailbox", maildir.to_str().unwrap()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m aiosmtpd (pip install -r tests/requirements.txt)"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (port, child);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("aiosmtpd did not start");
}

/// The messages in `maildir`, parsed by Python's `email` package.
fn mails(maildir: &std::path::Path) -> Vec<Value> {
    let script = r#"
import json, mailbox, sys
from email import policy
from email.parser import BytesParser
box = mailbox.Maildir(sys.argv[1], factory=None, create=False)
for key in box.keys():
    message = BytesParser(policy=policy.default).parsebytes(box.get_bytes(key))
    print(json.dumps({
        "to": message["To"], "from": message["From"], "subject": message["Subject"],
        "message_id": message["Message-ID"],
        "text": message.get_body(("plain",)).get_content(),
        "html": message.get_body(("html",)).get_content(),
    }, ensure_ascii=False))
"#;
    let output = Command::new("python3")
        .args(["-c", script, maildir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

fn config(instance: &Instance, gateway: &str, smtp_port: u16) -> std::path::PathBuf {
    let secret = instance.dir.path().join("gateway.secret");
    std::fs::write(&secret, WEBHOOK_SECRET).unwrap();
    let path = instance.dir.path().join("haechi.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[notice]
company = "해치몰"
portal_origin = "https://portal.haechi-mall.co.kr"
contact_numbers = ["1588-1234"]
cause = "유출된 서명 키로 만든 위조 토큰을 이용해 고객 정보가 조회되었습니다."
measures = "해당 서명 키를 폐기하고 접근을 차단했습니다."
channels = ["lms", "email"]
first_retry = "1s"

[notice.webhook]
url = "{gateway}"
secret_file = "{}"

[notice.smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "dangerous_plaintext"
from = "해치몰 <notice@haechi-mall.co.kr>"

[notice.verify]
burst = 50
"#,
            secret.display()
        ),
    )
    .unwrap();
    path
}

/// Imports `count` generated customers; their records (with `customer_id`).
fn customers(instance: &Instance, count: usize) -> Vec<Value> {
    let (code, generated, stderr) = instance.run(
        &[
            "customers",
            "generate",
            "--count",
            &count.to_string(),
            "--seed",
            "20",
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let file = instance.dir.path().join("customers.jsonl");
    let ids = instance.dir.path().join("ids.tsv");
    std::fs::write(&file, &generated).unwrap();
    let (code, _, stderr) = instance.run(
        &[
            "customers",
            "import",
            file.to_str().unwrap(),
            "--ids-out",
            ids.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    let ids = std::fs::read_to_string(&ids).unwrap();
    generated
        .lines()
        .zip(ids.lines())
        .map(|(record, id)| {
            let mut record: Value = serde_json::from_str(record).unwrap();
            record["customer_id"] = json!(id.split('\t').nth(1).unwrap());
            record
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_are_delivered_once_and_verify_after_formatting_damage() {
    let (gateway_url, received) = gateway().await;
    let maildir = tempfile::tempdir().unwrap();
    let (smtp_port, smtp) = smtp_server(&maildir.path().join("mail"));
    let instance = Instance::new();
    let config = config(&instance, &gateway_url, smtp_port);
    let instance = instance.with_env("HAECHI_CONFIG", config.to_str().unwrap());
    let people = customers(&instance, 6);
    let rows: Vec<Value> = people
        .iter()
        .map(|person| {
            json!({"customer_id": person["customer_id"], "fields": ["name", "phone", "addresses"],
                   "first": "2025-06-24T01:00:00Z", "last": "2025-11-08T01:00:00Z", "reads": 2})
        })
        .collect();
    let incident = crate::portal::import_incident(&instance, &rows, "서명 키 유출");

    // The dry run shows a sample and contacts nobody.
    let (code, stdout, stderr) =
        instance.run(&["notify", "--incident", &incident, "--dry-run"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("6 customers") && stdout.contains("12 notices"),
        "{stdout}"
    );
    assert!(stdout.contains("bytes in EUC-KR") && stdout.contains("이름, 전화번호, 배송지 주소"));
    assert!(received.lock().unwrap().is_empty());

    let (code, _, stderr) = instance.run(&["notify", "--incident", &incident, "--quiet"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("delivered 12 notices, gave up 0, 1 attempts retried"),
        "{stderr}"
    );

    // The gateway: 6 LMS (and the refused first attempt, retried with the same key), each
    // signed, to the customer's number, with a code.
    let lms = received.lock().unwrap().clone();
    assert_eq!(lms.len(), 7);
    assert_eq!(
        lms[0].1,
        lms.iter()
            .skip(1)
            .find(|(_, key, _)| *key == lms[0].1)
            .unwrap()
            .1
    );
    let phones: Vec<String> = people
        .iter()
        .map(|person| person["phone"].as_str().unwrap().replace('-', ""))
        .collect();
    for (_, key, body) in &lms {
        assert!(key.starts_with("NT-"));
        assert_eq!(body["channel"], "lms");
        assert!(
            phones.contains(&body["to"].as_str().unwrap().to_string()),
            "{body}"
        );
        assert!(
            body["text"]
                .as_str()
                .unwrap()
                .contains(body["code"].as_str().unwrap())
        );
    }
    // The relay: 6 e-mails, text and HTML, Message-ID from the notice id.
    let mails = mails(&maildir.path().join("mail"));
    assert_eq!(mails.len(), 6);
    for mail in &mails {
        assert!(mail["message_id"].as_str().unwrap().starts_with("<NT-"));
        assert!(
            mail["message_id"]
                .as_str()
                .unwrap()
                .ends_with("@haechi-mall.co.kr>")
        );
        assert!(
            mail["subject"]
                .as_str()
                .unwrap()
                .contains("개인정보 노출 안내")
        );
        assert!(
            mail["html"]
                .as_str()
                .unwrap()
                .contains("https://portal.haechi-mall.co.kr")
        );
    }

    // Once only: a rerun queues nothing new and sends nothing.
    let (code, _, stderr) = instance.run(&["notify", "--incident", &incident, "--quiet"], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("queued 0 notices") && stderr.contains("nothing to deliver"),
        "{stderr}"
    );
    assert_eq!(received.lock().unwrap().len(), 7);
    drop(smtp);

    // No contact in plaintext anywhere in the data directory.
    for file in files_under(&instance.data_dir()) {
        let bytes = std::fs::read(&file).unwrap();
        for person in &people {
            for secret in [&person["email"], &person["phone"]] {
                let secret = secret.as_str().unwrap();
                assert!(
                    !contains(&bytes, secret.as_bytes()),
                    "{secret} in {}",
                    file.display()
                );
                let digits = secret.replace('-', "");
                assert!(
                    !contains(&bytes, digits.as_bytes()),
                    "{digits} in {}",
                    file.display()
                );
            }
        }
    }

    let server = instance.serve();
    let lms_text = lms[1].2["text"].as_str().unwrap().to_string();
    let verify = |text: String| {
        let server = &server;
        async move {
            server
                .post_json("/v1/notices/verify", json!({ "text": text }))
                .await
        }
    };
    // Genuine after damage: a carrier's prefix, lines joined, spaces doubled.
    let damaged = format!(
        "[Web발신]\n{}",
        lms_text.replace('\n', " ").replace(' ', "  ")
    );
    let (status, body) = verify(damaged).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["verdict"], "genuine", "{body}");
    assert_eq!(body["notice"]["text"], lms_text.as_str());
    assert_eq!(body["notice"]["incident_id"], incident.as_str());
    assert!(body.get("customer_id").is_none() && body["notice"].get("to").is_none());
    // The e-mail as its text part arrived.
    let (_, body) = verify(mails[0]["text"].as_str().unwrap().to_string()).await;
    assert_eq!(body["verdict"], "genuine", "{body}");
    // A real code on a changed text.
    let altered = lms_text.replace(
        "https://portal.haechi-mall.co.kr",
        "https://haechi-mall-refund.com",
    );
    let (_, body) = verify(altered).await;
    assert_eq!(body["verdict"], "altered", "{body}");
    let codes: Vec<&str> = body["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|reason| reason["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes[0], "altered");
    assert!(codes.contains(&"look_alike_domain"), "{body}");
    // Smishing in the style seen after the breach: no code, a look-alike link, a lure.
    let (_, body) = verify(
        "[해치몰] 고객님 개인정보 유출 피해보상금 신청 대상입니다. https://haechimall-safe.top 에서 \
         카드번호 입력 후 신청하세요"
            .into(),
    )
    .await;
    assert_eq!(body["verdict"], "not_ours", "{body}");
    assert_eq!(body["code_check"], "no_code");
    assert!(body["reasons"].as_array().unwrap().len() >= 3, "{body}");
    let (_, body) =
        verify(lms_text.replace(lms[1].2["code"].as_str().unwrap(), "HC-ABCD-EFGH")).await;
    assert_eq!(body["code_check"], "unknown_code", "{body}");
    assert_eq!(body["verdict"], "not_ours");

    // The record: each run's queueing, every send, every check — never a text.
    server.wait_for_events(|events| {
        events
            .iter()
            .filter(|e| e["kind"] == "notice.verified")
            .count()
            >= 5
    });
    server.terminate();
    let events = crate::audit::search(
        &instance,
        &[
            "--kind",
            "notice.queued,notice.sent,notice.failed,notice.verified,pii.read",
        ],
    );
    let of = |kind: &str| events.iter().filter(|e| e["kind"] == kind).count();
    assert_eq!(of("notice.queued"), 2, "the first run and the rerun");
    assert_eq!(of("notice.sent"), 12);
    assert_eq!(of("notice.failed"), 1, "the refused first attempt");
    let reads = events
        .iter()
        .filter(|e| e["kind"] == "pii.read" && e["purpose"] == "notification")
        .count();
    // Once per customer in the first round, and again for the retried notice: a worker
    // decrypts a contact only for the send it makes.
    assert_eq!(
        reads, 7,
        "contacts are read for the purpose notification, per send"
    );
    for event in events.iter().filter(|e| e["kind"] == "notice.verified") {
        assert!(!event.to_string().contains("haechi-mall-refund"), "{event}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_is_budgeted_and_refuses_what_is_not_a_message() {
    let server = Instance::new().serve();
    let (status, body) = server
        .post_json("/v1/notices/verify", json!({ "text": "a".repeat(9000) }))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"], "bad_request");
    let (status, _) = server
        .post_json("/v1/notices/verify", json!({ "text": "  \n" }))
        .await;
    assert_eq!(status, 400);
    // Without [notice] the codes are still checked.
    let (status, body) = server
        .post_json(
            "/v1/notices/verify",
            json!({ "text": "택배 주소 확인 HC-1234-5678" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["code_check"], "unknown_code");
    let mut refused = 0;
    for _ in 0..10 {
        let (status, body) = server
            .post_json("/v1/notices/verify", json!({ "text": "안녕하세요" }))
            .await;
        if status == 429 {
            assert_eq!(body["error"], "rate_limited", "{body}");
            refused += 1;
        }
    }
    assert!(refused > 0, "a source's burst is five checks");
    server.terminate();
}

/// A customer's inbox on the portal shows the notices sent to them, as sent; the file sink
/// holds each notice once, readable by its owner only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inbox_shows_what_was_sent_and_the_file_sink_writes_it_once() {
    let instance = Instance::new();
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(
        instance.data_dir().join("policy.toml"),
        "[[grant]]\nservice = \"signup\"\npurposes = [\"account\"]\nfields = [\"name\"]\naccess = \"masked\"\n",
    )
    .unwrap();
    let outbox = instance.dir.path().join("outbox.jsonl");
    let instance = instance
        .with_env("HAECHI_NOTICE__COMPANY", "해치몰")
        .with_env(
            "HAECHI_NOTICE__PORTAL_ORIGIN",
            "https://portal.haechi-mall.co.kr",
        )
        .with_env("HAECHI_NOTICE__CONTACT_NUMBERS", "[\"1588-1234\"]")
        .with_env("HAECHI_NOTICE__CAUSE", "위조 토큰으로 조회되었습니다.")
        .with_env("HAECHI_NOTICE__MEASURES", "서명 키를 폐기했습니다.")
        .with_env("HAECHI_NOTICE__CHANNELS", "[\"sms\"]")
        .with_env(
            "HAECHI_NOTICE__DANGEROUS_PLAINTEXT_FILE",
            outbox.to_str().unwrap(),
        );
    let signup = instance.create_service("signup", "account");
    let server = instance.serve();
    let token = server.client_token(&signup).await;
    let (status, body) = server
        .post_with(
            "/v1/customers",
            &token,
            json!({"name": "김민준", "email": "minjun@example.com", "phone": "010-2345-6789",
                   "password": "correct horse battery"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let customer = body["id"].as_str().unwrap().to_string();
    server.terminate();
    let row = json!({"customer_id": customer, "fields": ["name", "email"],
                     "first": "2025-06-24T01:00:00Z", "last": "2025-06-24T03:00:00Z", "reads": 1});
    let incident = crate::portal::import_incident(&instance, &[row], "서명 키 유출");
    let (code, _, stderr) = instance.run(&["notify", "--incident", &incident, "--quiet"], None);
    assert_eq!(code, 0, "{stderr}");
    let written = std::fs::read_to_string(&outbox).unwrap();
    let lines: Vec<Value> = written
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{written}");
    assert_eq!(lines[0]["to"], "01023456789");
    assert_eq!(lines[0]["channel"], "sms");
    use std::os::unix::fs::PermissionsExt as _;
    assert_eq!(
        std::fs::metadata(&outbox).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let sms = lines[0]["text"].as_str().unwrap();
    let code = lines[0]["code"].as_str().unwrap();
    assert!(
        sms.contains(code) && sms.contains("https://portal.haechi-mall.co.kr"),
        "{sms}"
    );

    let server = instance.serve();
    let client = haechi_outbound::plain_builder()
        .unwrap()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let signed_in = client
        .post(server.url("/portal/login"))
        .form(&[
            ("identifier", "minjun@example.com"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 303);
    let cookie = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let page = client
        .get(server.url("/portal/me"))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
        .replace("&#x2f;", "/");
    assert!(page.contains("받은 안내") && page.contains(code), "{page}");
    assert!(page.contains("data-channel=\"sms\""));
    // What the inbox shows is what was sent: pasted back, it is genuine.
    let (_, body) = server
        .post_json("/v1/notices/verify", json!({ "text": sms }))
        .await;
    assert_eq!(body["verdict"], "genuine", "{body}");
    server.terminate();
}
