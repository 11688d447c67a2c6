//! HSM custody end to end: `haechi` with its signing keys (and its master key) in a SoftHSM2
//! token — each test with a token directory of its own — driven over real HTTP, its tokens
//! checked by PyJWT through the JWKS; the token taken away and brought back under a running
//! server; and a breach drill against a server whose keys are in the token.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use serde_json::{Value, json};

use crate::util::{Instance, Server, contains, files_under, jwt_parts, sign_ed25519};

const PASSWORD: &str = "correct horse battery";
const PIN: &str = "hsm-user-pin-4821";
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// A SoftHSM2 token directory of this test's own, with one token labelled `haechi`.
struct SoftHsm {
    dir: tempfile::TempDir,
}

impl SoftHsm {
    /// `None` where SoftHSM2 is not installed (then the test says so; with
    /// `HAECHI_REQUIRE_SERVERS`, as CI runs it, it fails instead).
    fn new() -> Option<Self> {
        let installed = Path::new(MODULE).exists()
            && Command::new("softhsm2-util")
                .arg("--version")
                .output()
                .is_ok();
        if !installed {
            assert!(
                std::env::var_os("HAECHI_REQUIRE_SERVERS").is_none(),
                "SoftHSM2 is required: apt-get install softhsm2"
            );
            eprintln!("skipped: SoftHSM2 is not installed");
            return None;
        }
        let hsm = SoftHsm {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(hsm.tokens()).unwrap();
        std::fs::write(
            hsm.conf(),
            format!("directories.tokendir = {}\n", hsm.tokens().display()),
        )
        .unwrap();
        let output = Command::new("softhsm2-util")
            .env("SOFTHSM2_CONF", hsm.conf())
            .args(["--init-token", "--free", "--label", "haechi"])
            .args(["--so-pin", "so-pin-0000", "--pin", PIN])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        Some(hsm)
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("softhsm2.conf")
    }

    fn tokens(&self) -> PathBuf {
        self.dir.path().join("tokens")
    }

    /// `instance` with its signing keys in this token (and its master key too if asked).
    fn keep_keys_of(&self, instance: Instance, master_key: bool) -> Instance {
        instance
            .with_env("SOFTHSM2_CONF", self.conf().to_str().unwrap())
            .with_env("HAECHI_KEYS__CUSTODY", "pkcs11")
            .with_env("HAECHI_KEYS__PKCS11__MODULE", MODULE)
            .with_env("HAECHI_KEYS__PKCS11__TOKEN_LABEL", "haechi")
            .with_env("HAECHI_PKCS11_PIN", PIN)
            .with_env(
                "HAECHI_KEYS__PKCS11__MASTER_KEY",
                if master_key { "true" } else { "false" },
            )
    }

    /// Takes the token away (as an HSM that is unplugged or unreachable) or brings it back.
    fn set_present(&self, present: bool) {
        let away = self.dir.path().join("away");
        if present {
            std::fs::remove_dir(self.tokens()).unwrap();
            std::fs::rename(&away, self.tokens()).unwrap();
        } else {
            std::fs::rename(self.tokens(), &away).unwrap();
            std::fs::create_dir(self.tokens()).unwrap();
        }
    }
}

/// PyJWT verifies `token` with the key it fetches from the server's JWKS.
fn pyjwt_verifies(server: &Server, token: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/verify_jwt.py");
    let output = Command::new("python3")
        .arg(script)
        .arg(server.url("/.well-known/jwks.json"))
        .arg(token)
        .arg(server.base.as_str())
        .output()
        .expect("python3 must be installed (.ci/run installs PyJWT)");
    assert!(
        output.status.success(),
        "PyJWT refused the token: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

async fn readiness(server: &Server) -> (u16, Value) {
    let response = crate::util::http_get(server.url("/readyz")).await.unwrap();
    crate::util::status_and_json(response).await
}

async fn login_token(server: &Server) -> String {
    let pair = server.login("kim@example.com", PASSWORD).await;
    pair["access_token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn keys_in_the_token_sign_rotate_revoke_and_refuse_forgeries_with_nothing_on_disk() {
    let Some(hsm) = SoftHsm::new() else {
        return;
    };
    let instance = hsm.keep_keys_of(Instance::new(), true);
    let admin = instance.create_admin("root");
    let victim = instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    // The master key is the token's: none was generated into the data directory.
    assert!(!instance.data_dir().join("master.key").exists());
    let server = instance.serve();
    let (status, body) = readiness(&server).await;
    assert_eq!(status, 200, "{body}");

    // Tokens signed by the token verify with PyJWT through the JWKS.
    let first = login_token(&server).await;
    let claims = pyjwt_verifies(&server, &first);
    assert_eq!(claims["sub"], format!("customer:{victim}"));
    let first_kid = jwt_parts(&first).0["kid"].as_str().unwrap().to_string();

    // Rotation: the next key (made in the token) signs; the old key's tokens still verify.
    let admin_token = server.client_token(&admin).await;
    let (status, rotated) = server
        .post_with("/v1/admin/keys/rotate", &admin_token, json!({}))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let second = login_token(&server).await;
    let second_kid = jwt_parts(&second).0["kid"].as_str().unwrap().to_string();
    assert_ne!(first_kid, second_kid);
    pyjwt_verifies(&server, &second);
    let (status, body) = server.get_with("/v1/auth/session", &first).await;
    assert_eq!(status, 200, "{body}");

    // Revocation: the revoked key's tokens stop at once, and the pending key takes over.
    let (status, body) = server
        .post_with(
            &format!("/v1/admin/keys/{second_kid}/revoke"),
            &admin_token,
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server.get_with("/v1/auth/session", &second).await;
    assert_eq!(status, 401);
    let third = login_token(&server).await;
    assert_ne!(jwt_parts(&third).0["kid"], second_kid.as_str());
    pyjwt_verifies(&server, &third);

    // An imported key goes into the token; the copy made before the import (the attacker's)
    // still signs — and its tokens are refused as forged, since Haechi never issued them.
    let copy = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let pem = copy.to_pkcs8_pem(Default::default()).unwrap();
    let (status, imported) = server
        .post_with(
            "/v1/admin/keys",
            &admin_token,
            json!({ "key": pem.as_str() }),
        )
        .await;
    assert_eq!(status, 201, "{imported}");
    let genuine = login_token(&server).await;
    let (header, mut claims) = jwt_parts(&genuine);
    assert_eq!(header["kid"], imported["kid"]);
    pyjwt_verifies(&server, &genuine);
    claims["exp"] = json!(claims["exp"].as_i64().unwrap() + 86_400);
    let forged = sign_ed25519(&copy, &header, &claims);
    let event = server
        .refused_token_event("/v1/auth/session", &forged)
        .await;
    assert_eq!(event["kind"], "token.forged", "{event:#}");

    // Nothing of any key is on disk: not the imported key in any form, not the PIN, and the
    // store holds references to the token's keys, not wrapped keys.
    let der = copy.to_pkcs8_der().unwrap();
    let secrets: [&[u8]; 4] = [
        copy.as_bytes(),
        der.as_bytes(),
        pem.as_bytes(),
        PIN.as_bytes(),
    ];
    let files = files_under(&instance.data_dir());
    let mut references = 0;
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for secret in secrets {
            assert!(
                !contains(&bytes, secret),
                "key material in {}",
                file.display()
            );
        }
        assert!(!contains(&bytes, b"PRIVATE KEY"), "{}", file.display());
        if contains(&bytes, b"pkcs11:") {
            references += 1;
        }
    }
    assert!(references > 0, "the keys table refers to the token");
    assert!(server.log().iter().all(|line| !line.contains(PIN)));

    // With the master key in the token, nothing opens without it: a start while it is away
    // fails, and says why (a running server answers 503 to what needs an unwrap).
    server.terminate();
    hsm.set_present(false);
    let (code, _, stderr) = instance.run(&["serve", "--listen", "127.0.0.1:0"], None);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("master key") && stderr.contains("unavailable"),
        "{stderr}"
    );
    assert!(!stderr.contains(PIN));
}

#[tokio::test]
async fn a_token_that_goes_away_fails_closed_raises_an_alert_and_is_used_again_when_back() {
    let Some(hsm) = SoftHsm::new() else {
        return;
    };
    let instance = hsm
        .keep_keys_of(Instance::new(), false)
        .with_env("HAECHI_KEYS__ALGORITHM", "ES256");
    instance.create_customer("kim@example.com", "010-2345-6789", PASSWORD);
    let server = instance.serve();
    let pair = server.login("kim@example.com", PASSWORD).await;
    let issued = pair["access_token"].as_str().unwrap().to_string();
    let refresh = pair["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(jwt_parts(&issued).0["alg"], "ES256");
    pyjwt_verifies(&server, &issued);
    server.terminate();

    // The HSM is away when the server starts: it starts (verification needs no private key)
    // and stays ready — every node shares the HSM, and taking them all out would stop
    // verification too — with a warning that no token can be issued.
    hsm.set_present(false);
    let server = instance.serve();
    let (status, body) = readiness(&server).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["warnings"]
            .to_string()
            .contains("key custody unavailable"),
        "{body}"
    );
    let (status, body) = server
        .post_json(
            "/v1/auth/login",
            json!({"email": "kim@example.com", "password": PASSWORD}),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"], "unavailable", "{body}");
    assert!(
        !body.to_string().contains("softhsm"),
        "no internals: {body}"
    );
    // A refresh fails the same way and spends nothing: it is no "reuse" once the HSM is
    // back (which would end the session and raise a theft alert).
    let (status, body) = server
        .post_json("/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, 503, "{body}");
    // Tokens issued before keep verifying.
    let (status, body) = server.get_with("/v1/auth/session", &issued).await;
    assert_eq!(status, 200, "{body}");
    // Recorded once, and the built-in rule raises a critical alert.
    let events = server.wait_for_events(|events| {
        events.iter().any(|event| {
            event["kind"] == "alert.raised"
                && event["detail"]["rule_id"] == "haechi.custody.token_unavailable"
        })
    });
    let outage = events
        .iter()
        .find(|event| event["kind"] == "custody.unavailable")
        .unwrap();
    assert_eq!(outage["detail"]["token"], "haechi");
    assert!(!outage.to_string().contains(PIN));

    // The HSM comes back: within the reconnection interval and a check, it signs again.
    hsm.set_present(true);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (_, body) = readiness(&server).await;
        if body["warnings"].is_null() {
            break;
        }
        assert!(Instant::now() < deadline, "the token was not used again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let again = login_token(&server).await;
    pyjwt_verifies(&server, &again);
    let (status, body) = server
        .post_json("/v1/auth/refresh", json!({ "refresh_token": refresh }))
        .await;
    assert_eq!(status, 200, "the outage spent the refresh token: {body}");
    assert!(server.events_of("auth.refresh_reused").is_empty());
    server.wait_for_events(|events| {
        events
            .iter()
            .any(|event| event["kind"] == "custody.restored")
    });
    let outages = server.events_of("custody.unavailable").len();
    assert_eq!(outages, 1, "one record per outage");
}

/// The PIN comes from `pin_file` when it is set (the environment's is not used then), and a
/// PIN written into the configuration is refused at start without being repeated. With the
/// master key in the token, the vault works through it: a customer is created (the record's
/// keys wrapped by `C_Encrypt` in the token).
#[tokio::test]
async fn the_pin_comes_from_its_file_and_never_from_the_configuration() {
    use std::os::unix::fs::PermissionsExt as _;

    let Some(hsm) = SoftHsm::new() else {
        return;
    };
    let pin_file = hsm.dir.path().join("pin");
    std::fs::write(&pin_file, format!("{PIN}\n")).unwrap();
    std::fs::set_permissions(&pin_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let instance = hsm
        .keep_keys_of(Instance::new(), true)
        .with_env("HAECHI_KEYS__PKCS11__PIN_FILE", pin_file.to_str().unwrap())
        .with_env("HAECHI_PKCS11_PIN", "not-the-pin");
    let shop = instance.create_service("shop", "account");
    let server = instance.serve();
    let (status, body) = readiness(&server).await;
    assert_eq!(status, 200, "{body}");
    let token = server.client_token(&shop).await;
    let customer = json!({
        "name": "김민준",
        "email": "minjun@example.com",
        "phone": "010-2345-6781",
    });
    let (status, body) = server.post_with("/v1/customers", &token, customer).await;
    assert_eq!(status, 201, "{body}");
    assert!(server.log().iter().all(|line| !line.contains(PIN)));
    assert_eq!(server.terminate(), Some(0));

    let pin_in_config = hsm
        .keep_keys_of(Instance::new(), true)
        .with_env("HAECHI_KEYS__PKCS11__PIN", PIN);
    let (code, _, stderr) = pin_in_config.run(&["serve", "--listen", "127.0.0.1:0"], None);
    assert_ne!(code, 0);
    assert!(
        stderr.contains("keys.pkcs11.pin: the PIN never goes in the configuration"),
        "{stderr}"
    );
    assert!(!stderr.contains(PIN), "{stderr}");
}

#[test]
fn the_coupang_drill_passes_with_the_keys_in_the_token() {
    let Some(hsm) = SoftHsm::new() else {
        return;
    };
    let instance = hsm
        .keep_keys_of(Instance::new(), true)
        .with_env("HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK", "true")
        .with_env("HAECHI_DRILL__START", "2025-06-24T00:00:00Z")
        .with_env("HAECHI_DETECT__RESPONSE", "enforce")
        .with_env(
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        );
    let (id, secret) = instance.create_admin("drill");
    let server = instance.serve();
    let out = instance.dir.path().join("reports");
    let output = Command::new(crate::util::haechi_binary())
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
    let text = std::fs::read_to_string(out.join("coupang").join("report.json")).unwrap();
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{report:#}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(report["passed"], true);
    assert_eq!(report["customers_exposed"], 0);
    assert_eq!(report["attacker_refused"], report["attacker_requests"]);
}
