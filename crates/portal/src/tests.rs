//! The pages render in both languages, escape what they print, name only words the table
//! has, and the browser's normaliser agrees with Haechi's on the shared vectors.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

use haechi_detect::ActionKind;
use haechi_events::Timestamp;
use haechi_incident::{
    AffectedCustomer, CustomerExposure, FaqEntry, ImportedIncident, IncidentAction, IncidentId,
    IncidentStatement, StatementDraft, StatementText,
};

use crate::exposures::ExposureReport;
use crate::site::{LoginProblem, Site, VerifyPage, VerifyResult};
use crate::words::{Lang, keys};

/// A page with minijinja's escaped slash (`&#x2f;`, as valid in HTML as `/`) read back.
fn slashes(page: String) -> String {
    page.replace("&#x2f;", "/")
}

fn statement(title: &str) -> IncidentStatement {
    IncidentStatement::publish(
        &IncidentId::parse("INC-3F9A1C0E5B2D").unwrap(),
        3,
        StatementDraft {
            ko: StatementText {
                title: title.into(),
                body: "첫 문단 <b>굵게</b>\n\n둘째 문단".into(),
                faq: vec![FaqEntry {
                    question: "통관부호를 재발급해야 하나요?".into(),
                    answer: "아니요.".into(),
                }],
            },
            en: Some(StatementText {
                title: "Notice".into(),
                body: "First.".into(),
                faq: vec![],
            }),
        },
        "admin:kim",
        Timestamp::from_secs(1_749_603_600),
        &ed25519_dalek::SigningKey::from_bytes(&[1; 32]),
    )
    .unwrap()
}

fn report() -> ExposureReport {
    let mut incident = ImportedIncident::new(
        "a.jsonl",
        "ab",
        "Leak",
        haechi_detect::Severity::Critical,
        Timestamp::EPOCH,
    )
    .incident()
    .clone();
    incident.actions.push(IncidentAction {
        alert_id: "r/1".into(),
        kind: ActionKind::RevokeKey { kid: "k1".into() },
        disposition: haechi_detect::Disposition::Enforce,
        carried_out: true,
        at: Timestamp::from_secs(1_749_621_460),
    });
    let exposure = CustomerExposure {
        incident,
        customer: AffectedCustomer {
            customer_id: "c1".into(),
            fields: vec!["phone".into(), "name".into(), "addresses".into()],
            first_seen: Some(Timestamp::from_secs(1_749_603_600)),
            last_seen: Some(Timestamp::from_secs(1_749_621_457)),
            reads: 2,
        },
    };
    ExposureReport::new(&[exposure], |_| None)
}

#[test]
fn every_page_renders_in_both_languages() {
    let site = Site::new().unwrap();
    let statements = [statement("개인정보 유출 안내")];
    for lang in [Lang::Ko, Lang::En] {
        let pages = [
            site.home(lang, &statements, None),
            site.home(lang, &[], Some(LoginProblem::Throttled)),
            site.incident(lang, &statements),
            site.incident(lang, &[]),
            site.me(lang, &statements, &report(), &[]),
            site.me(lang, &statements, &report(), &inbox()),
            site.busy(lang, "/portal/me", 3),
            site.error(lang, 400, "bad"),
            site.verify(lang, &VerifyPage::default()),
            site.verify(lang, &verified("genuine")),
            site.verify(lang, &verified("altered")),
            site.verify(lang, &verified("not_ours")),
        ];
        for page in pages {
            let page = slashes(page.unwrap());
            assert!(page.starts_with("<!doctype html>"), "{page}");
            assert!(page.contains(&format!("<html lang=\"{}\">", lang.code())));
            // Nothing inline for the CSP to refuse: no inline script or style.
            assert!(
                !page.contains("<script>") && !page.contains("style="),
                "{page}"
            );
        }
    }
    let me = site.me(Lang::Ko, &statements, &report(), &inbox()).unwrap();
    assert!(me.contains("받은 안내") && me.contains("HC-7K2M-9QXD") && me.contains("문자(LMS)"));
    assert!(
        me.contains("개인통관고유부호"),
        "customs code listed as not exposed"
    );
    assert!(me.contains("data-field=\"customs_code\""));
    assert!(me.contains("유출된 서명 키 폐기"));
    assert!(me.contains("2025-06-11 10:00 KST"), "{me}");
    let english = site.incident(Lang::En, &statements).unwrap();
    assert!(english.contains("Notice") && !english.contains("개인정보 유출 안내"));
    let busy = slashes(site.busy(Lang::Ko, "/portal/me", 3).unwrap());
    assert!(busy.contains("content=\"3;url=/portal/me\""), "{busy}");
}

fn inbox() -> Vec<crate::InboxNotice> {
    vec![crate::InboxNotice {
        channel: "lms",
        sent_at: Timestamp::from_secs(1_765_000_000),
        text: "[해치몰] 개인정보 노출 안내\n확인코드 HC-7K2M-9QXD".into(),
    }]
}

fn verified(verdict: &'static str) -> VerifyPage {
    VerifyPage {
        text: "<script>alert(1)</script> 받은 문자".into(),
        problem: None,
        result: Some(VerifyResult {
            verdict,
            notice: (verdict == "genuine").then(|| "[해치몰] 개인정보 노출 안내\n<b>".to_string()),
            reasons: vec!["<img src=x onerror=alert(1)> 다른 주소로 연결".into()],
        }),
    }
}

#[test]
fn the_verdicts_say_what_to_do_and_escape_the_pasted_text() {
    let site = Site::new().unwrap();
    let genuine = site.verify(Lang::Ko, &verified("genuine")).unwrap();
    assert!(
        genuine.contains("저희가 보낸 안내가 맞습니다")
            && genuine.contains("data-verdict=\"genuine\"")
    );
    assert!(genuine.contains("&lt;b&gt;") && !genuine.contains("<b>"));
    let altered = site.verify(Lang::Ko, &verified("altered")).unwrap();
    assert!(altered.contains("링크를 누르거나 적힌 번호로 전화하지 마세요"));
    let not_ours = site.verify(Lang::En, &verified("not_ours")).unwrap();
    assert!(not_ours.contains("We did not send this message") && not_ours.contains("118"));
    for page in [genuine, altered, not_ours] {
        assert!(
            !page.contains("<script>alert") && !page.contains("<img"),
            "{page}"
        );
    }
}

#[test]
fn what_an_administrator_or_attacker_types_is_escaped() {
    let site = Site::new().unwrap();
    let hostile = statement("<script>alert(1)</script>\"'");
    let page = slashes(site.incident(Lang::Ko, &[hostile]).unwrap());
    assert!(!page.contains("<script>alert(1)"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&lt;b&gt;굵게&lt;/b&gt;"));
    let error = site
        .error(Lang::Ko, 400, "<img src=x onerror=alert(1)>")
        .unwrap();
    assert!(!error.contains("<img"), "{error}");
}

#[test]
fn templates_name_only_words_the_table_has() {
    let known: Vec<&str> = keys().collect();
    for (name, source) in crate::site::TEMPLATES {
        let mut rest = *source;
        while let Some(at) = rest.find("t.") {
            let before = rest[..at].chars().last();
            rest = &rest[at + 2..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let key: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(known.contains(&key.as_str()), "{name}: t.{key}");
        }
    }
}

#[test]
fn assets_are_named_by_their_content() {
    let site = Site::new().unwrap();
    let page = slashes(site.home(Lang::Ko, &[], None).unwrap());
    for asset in crate::assets::bundled() {
        assert!(page.contains(&asset.path), "{}", asset.path);
        assert_eq!(site.asset(&asset.path).unwrap().body, asset.body);
        let digest = asset.etag.trim_matches('"');
        assert!(asset.path.contains(digest));
    }
    assert!(site.asset("/portal/assets/portal.css").is_none());
}

#[test]
fn the_browser_normaliser_agrees_with_haechis_on_the_shared_vectors() {
    let vectors: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../js/vectors.json")).unwrap();
    assert!(vectors.len() > 20);
    for vector in vectors {
        let input = vector["input"].as_str().unwrap();
        let expected = vector["normalized"].as_str();
        let normalised = if input.contains('@') {
            haechi_korean::normalize_email(input)
        } else {
            haechi_korean::normalize_phone(input)
        };
        assert_eq!(normalised.ok().as_deref(), expected, "{input:?}");
    }
}
