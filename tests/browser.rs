//! The portal in a real browser: Debian's Chromium driven by `playwright-core`
//! (`tests/browser/portal.mjs`) against the binary. The anonymous check finds an exposed
//! e-mail typed carelessly and not a clean one, and no request carries either; signing in
//! shows the exposed fields and, as plainly, the ones not exposed; with the signed-in lane at
//! one a second, the view right after signing in is the waiting page, which comes back by
//! itself. Screenshots land in a temporary directory, or in `docs/screenshots/` with
//! `UPDATE_SCREENSHOTS=1`.

use serde_json::json;

use crate::leak::{CUSTOMERS, leak_match, vault_with_customers};
use crate::portal::import_incident;

const PASSWORD: &str = "correct horse battery";

#[tokio::test]
async fn the_portal_works_in_chromium() {
    // The vault's customers; a dump will expose the first one's e-mail.
    let (instance, _) = vault_with_customers();
    let instance = instance
        .with_env("HAECHI_PORTAL__SIGNED_IN_PER_SECOND", "1")
        .with_env("HAECHI_PORTAL__SIGNED_IN_BURST", "0")
        .with_env("HAECHI_PORTAL__SIGNED_IN_QUEUE", "0")
        .with_env("HAECHI_PORTAL__RETRY_AFTER", "2s")
        // The company's profile, so the message check reads texts for smishing too.
        .with_env("HAECHI_NOTICE__COMPANY", "해치몰")
        .with_env(
            "HAECHI_NOTICE__PORTAL_ORIGIN",
            "https://portal.haechi-mall.co.kr",
        )
        .with_env("HAECHI_NOTICE__CONTACT_NUMBERS", "[\"1588-1234\"]");
    let (exposed_email, clean_email) = (CUSTOMERS[0].1, CUSTOMERS[4].1);
    // A dump exposing that e-mail: what the anonymous check answers from.
    let dump = instance.dir.path().join("dump.csv");
    std::fs::write(&dump, format!("email\n{exposed_email}\n")).unwrap();
    let (code, _, stderr) = leak_match(&instance, &dump, &[]);
    assert_eq!(code, 0, "{stderr}");
    // A customer with a login, whom the scope of the breach names: the signed-in view.
    let customer = instance.create_customer("hayun.lee@example.com", "010-8901-2345", PASSWORD);
    // The scope of the breach: what the signed-in view answers from.
    let row = json!({"customer_id": customer, "fields": ["name", "phone", "addresses"],
                     "first": "2025-06-11T01:00:00Z", "last": "2025-06-11T05:57:37Z", "reads": 2});
    let id = import_incident(&instance, &[row], "Session key leak");
    let (admin_id, admin_secret) = instance.create_admin("root");
    let server = instance.serve();
    let admin = server.client_token(&(admin_id, admin_secret)).await;
    let (status, body) = server
        .post_with(
            &format!("/v1/admin/incidents/{id}/statement"),
            &admin,
            json!({
                "ko": {
                    "title": "개인정보 유출 안내",
                    "body": "2025년 6월 11일 오전, 유출된 서명 키로 위조한 세션 토큰이 고객 정보를 조회했습니다. 유출된 키는 즉시 폐기했고 공격 네트워크를 차단했습니다.\n\n통관부호와 비밀번호는 유출되지 않았습니다. 통관부호를 재발급할 필요가 없습니다.",
                    "faq": [
                        {"question": "통관부호를 재발급해야 하나요?", "answer": "아니요. 통관부호는 유출되지 않았습니다."},
                        {"question": "회사가 문자로 링크를 보내나요?", "answer": "회사는 비밀번호나 카드번호를 묻는 링크를 보내지 않습니다."}
                    ]
                },
                "en": {"title": "Notice of a personal data leak",
                       "body": "Your customs code and password were not exposed. There is no need to re-issue your customs code."}
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let update = std::env::var("UPDATE_SCREENSHOTS").is_ok_and(|value| value == "1");
    let temporary = tempfile::tempdir().unwrap();
    let shots = if update {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
    } else {
        temporary.path().to_path_buf()
    };
    std::fs::create_dir_all(&shots).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/portal.mjs");
    let output = std::process::Command::new("node")
        .arg(&script)
        .arg(server.url(""))
        .arg(&shots)
        .args([exposed_email, clean_email, "010-8901-2345", PASSWORD])
        .output()
        .expect("node must be installed (scripts/test installs playwright-core)");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    for shot in [
        "portal-check-exposed.png",
        "portal-waiting.png",
        "portal-me.png",
        "portal-incident.png",
        "portal-home-en.png",
        "portal-home-no-js.png",
    ] {
        let bytes = std::fs::read(shots.join(shot)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG"), "{shot}");
    }
}
