//! The API contract against the real server (issue 15): `GET /openapi.json` validates as
//! OpenAPI 3.1 (`openapi-spec-validator`), schemathesis finds no answer that breaks it, and a
//! client generated from it (`openapi-python-client`) works. The document's own shape (every
//! route, summaries, security, errors) is checked in process by
//! `crates/server/tests/openapi.rs`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::util::{Instance, Server};

/// The access policy of the contract's server: the service reads masked names and phones
/// for shipping, and may create and erase customers.
const POLICY: &str = r#"
[[grant]]
service = "contract"
purposes = ["shipping"]
fields = ["name", "phone", "addresses"]
access = "masked"

[[grant]]
service = "contract"
purposes = ["account", "erasure"]
fields = ["name"]
access = "masked"
"#;

const EMAIL: &str = "contract@example.com";
const PHONE: &str = "010-4321-8765";
const PASSWORD: &str = "correct horse battery";

/// Schemathesis's budget: the seed fixes what it generates; examples per operation keep the
/// run (53 operations, the two streams left out; four phases) within a few minutes on two
/// cores.
const SEED: &str = "20250624";
const MAX_EXAMPLES: &str = "100";

/// A server with an administrator, a service and a customer, its login limits raised: the
/// fuzzer's own logins and grants come from one address, far more often than a person's.
struct Contract {
    server: Server,
    admin: (String, String),
    service: (String, String),
    instance: Instance,
}

async fn contract() -> Contract {
    let instance = Instance::new()
        .with_env("HAECHI_LOGIN__ATTEMPTS_PER_SOURCE", "1000000")
        .with_env("HAECHI_LOGIN__FAILURES_PER_ACCOUNT", "1000000");
    std::fs::create_dir_all(instance.data_dir()).unwrap();
    std::fs::write(instance.data_dir().join("policy.toml"), POLICY).unwrap();
    let admin = instance.create_admin("contract");
    let service = instance.create_service("contract", "shipping,account,erasure");
    let server = instance.serve();
    // The customer's record and login, made by the service as an integrating shop would.
    let token = server.client_token(&service).await;
    let (status, body) = server
        .post_with(
            "/v1/customers",
            &token,
            serde_json::json!({
                "name": "김민준", "email": EMAIL, "phone": PHONE, "password": PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    Contract {
        server,
        admin,
        service,
        instance,
    }
}

/// Fetches `/openapi.json` into `dir` and returns its path.
async fn document(server: &Server, dir: &Path) -> std::path::PathBuf {
    let response = server
        .client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let path = dir.join("openapi.json");
    std::fs::write(&path, response.bytes().await.unwrap()).unwrap();
    path
}

fn python(args: &[&str]) -> Command {
    let mut command = Command::new("python3");
    command.args(args);
    command
}

fn run(mut command: Command, what: &str) -> String {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: python3 must be installed ({error})"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_served_document_validates_as_openapi_3_1() {
    let contract = contract().await;
    let path = document(&contract.server, contract.instance.dir.path()).await;
    let script = "import json, sys\n\
                  from openapi_spec_validator import validate\n\
                  from openapi_spec_validator.versions.shortcuts import get_spec_version\n\
                  document = json.load(open(sys.argv[1]))\n\
                  validate(document)\n\
                  print(get_spec_version(document))\n";
    let version = run(
        python(&["-c", script, path.to_str().unwrap()]),
        "openapi-spec-validator",
    );
    assert!(version.contains("3.1"), "{version}");
}

/// Schemathesis (stateless phases and the stateful phase over the document's links) against
/// the real server: no 5xx, every status, content type and body as documented, no answer
/// slower than the time-out. The alert and incident streams are left out: they are endless
/// event streams by design (`tests/detection.rs` and `tests/incidents.rs` read them), which
/// schemathesis would time out on.
#[tokio::test]
async fn schemathesis_finds_nothing_the_document_does_not_say() {
    let contract = contract().await;
    let path = document(&contract.server, contract.instance.dir.path()).await;
    let report = contract.instance.dir.path().join("schemathesis");
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop");
    let mut command = python(&[
        "-m",
        "schemathesis.cli",
        "run",
        path.to_str().unwrap(),
        "--url",
        &contract.server.base,
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--checks",
        "not_a_server_error,status_code_conformance,content_type_conformance,\
         response_schema_conformance",
        "--max-response-time",
        "10",
        "--request-timeout",
        "20",
        "--seed",
        SEED,
        "--max-examples",
        MAX_EXAMPLES,
        "--workers",
        "1",
        "--exclude-operation-id",
        "stream_alerts",
        "--exclude-operation-id",
        "stream_incidents",
        "--report",
        "junit",
        "--report-dir",
        report.to_str().unwrap(),
        "--no-color",
    ]);
    command
        // Schemathesis keeps a cache in its working directory: the test's, not the checkout.
        .current_dir(contract.instance.dir.path())
        .env("SCHEMATHESIS_HOOKS", "schemathesis_hooks")
        .env("PYTHONPATH", &hooks)
        .env("HAECHI_URL", &contract.server.base)
        .env(
            "HAECHI_ADMIN",
            format!("{}:{}", contract.admin.0, contract.admin.1),
        )
        .env(
            "HAECHI_SERVICE",
            format!("{}:{}", contract.service.0, contract.service.1),
        )
        .env("HAECHI_CUSTOMER", format!("{EMAIL}:{PASSWORD}"))
        .env("HAECHI_POLICY", POLICY);
    let started = Instant::now();
    let output = run(command, "schemathesis");
    eprintln!(
        "schemathesis took {:.0?}; its summary:\n{}",
        started.elapsed(),
        output
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Nothing the server wrote in its log is a panic.
    let log = contract.server.log().join("\n");
    assert!(!log.contains("panicked"), "{log}");
}

/// A Python client generated from the served document logs a customer in, reads that
/// customer as the service, and introspects the customer's token.
#[tokio::test]
async fn a_generated_client_logs_in_reads_and_introspects() {
    let contract = contract().await;
    let dir = contract.instance.dir.path();
    let path = document(&contract.server, dir).await;
    let package = dir.join("client");
    let generate = Command::new("python3")
        .args(["-m", "openapi_python_client", "generate", "--path"])
        .arg(&path)
        .args(["--meta", "none", "--output-path"])
        .arg(package.join("haechi_client"))
        .current_dir(dir)
        .output()
        .expect("python3 must be installed (scripts/test installs openapi-python-client)");
    assert!(
        generate.status.success(),
        "openapi-python-client failed:\n{}\n{}",
        String::from_utf8_lossy(&generate.stdout),
        String::from_utf8_lossy(&generate.stderr)
    );
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/generated_client.py");
    let output = run(
        python(&[
            script.to_str().unwrap(),
            package.to_str().unwrap(),
            &contract.server.base,
            EMAIL,
            PASSWORD,
            &contract.service.0,
            &contract.service.1,
        ]),
        "the generated client",
    );
    let answer: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
    assert_eq!(answer["login"]["token_type"], "Bearer", "{answer}");
    assert_eq!(answer["login"]["has_refresh"], true, "{answer}");
    let principal = answer["principal"].as_str().unwrap();
    let customer_id = principal.strip_prefix("customer:").unwrap();
    // The service's read: masked, as the policy says.
    assert_eq!(answer["read"]["id"], customer_id, "{answer}");
    assert_eq!(answer["read"]["phone"], "010-****-8765", "{answer}");
    assert!(answer["read"].get("email").is_none(), "{answer}");
    // The introspection: the customer's token is active and speaks for the customer.
    assert_eq!(answer["introspection"]["active"], true, "{answer}");
    assert_eq!(answer["introspection"]["sub"], principal, "{answer}");
    // A customer's token on the service read: refused as if there were no such customer (the
    // vault's answer to anyone but a service), and parsed as the ApiError model.
    assert_eq!(answer["refused"]["error"], "not_found", "{answer}");
}
