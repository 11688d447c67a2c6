use haechi_events::Timestamp;
use haechi_incident::IncidentId;
use proptest::prelude::*;

use crate::*;

pub(crate) fn sender() -> Sender {
    Sender {
        company: "해치몰".into(),
        portal_origin: "https://portal.haechi-mall.co.kr".into(),
        contact_numbers: vec!["1588-1234".into()],
        cause: "유출된 서명 키로 만든 위조 토큰을 이용해 고객 정보가 조회되었습니다.".into(),
        measures: "해당 서명 키를 폐기하고 접근을 차단했습니다.".into(),
    }
}

fn facts() -> NoticeFacts {
    NoticeFacts {
        fields: vec!["name".into(), "phone".into(), "addresses".into()],
        // 2025-06-24 10:00 KST and 2025-11-08 10:00 KST
        first_seen: Timestamp::from_secs(1_750_726_800),
        last_seen: Timestamp::from_secs(1_762_563_600),
    }
}

fn templates() -> NoticeTemplates {
    NoticeTemplates::new(TemplateSet::builtin(), sender()).unwrap()
}

/// A notice sealed as a worker seals it, with its text as sent.
fn sealed(channel: Channel, recipient: &str, key: &NoticeKey) -> (Notice, String) {
    let templates = templates();
    let incident = IncidentId::derive("seed");
    let mut notice = Notice::queued(
        &templates.batch_id(),
        &incident,
        "cust-1",
        channel,
        facts(),
        Timestamp::from_secs(0),
    );
    let draft = templates.render(channel, &notice.facts, None).unwrap();
    let tag = key.recipient_tag(channel, recipient);
    let code = key.code(&notice.id, &tag, &draft.body_digest);
    let sent = templates
        .render(channel, &notice.facts, Some(&code))
        .unwrap();
    assert_eq!(
        sent.body_digest, draft.body_digest,
        "the code is not covered"
    );
    notice.seal = Some(Seal {
        code,
        recipient_tag: tag,
        body_digest: draft.body_digest,
        sealed_at: Timestamp::from_secs(1),
    });
    (notice, sent.text)
}

#[test]
fn the_builtin_notices_say_what_the_law_asks_and_fit_their_budgets() {
    let templates = templates();
    let lms = templates.render(Channel::Lms, &facts(), None).unwrap();
    for needed in [
        "이름, 전화번호, 배송지 주소",
        "2025년 6월 24일 ~ 2025년 11월 8일",
        "위조 토큰",
        "서명 키를 폐기",
        "해치몰을 사칭한",
        "해치몰은 비밀번호, 카드번호, 인증번호를 묻지 않으며",
        "https://portal.haechi-mall.co.kr",
        "1588-1234",
        "HC-0000-0000",
    ] {
        assert!(
            lms.text.contains(needed),
            "{needed} missing from\n{}",
            lms.text
        );
    }
    assert!(lms.euc_kr_bytes.unwrap() <= LMS_BUDGET_BYTES);
    let sms = templates.render(Channel::Sms, &facts(), None).unwrap();
    let bytes = sms.euc_kr_bytes.unwrap();
    assert!(bytes <= SMS_BUDGET_BYTES, "{bytes}: {}", sms.text);
    let email = templates.render(Channel::Email, &facts(), None).unwrap();
    assert_eq!(
        email.subject.as_deref(),
        Some("[해치몰] 개인정보 노출 안내")
    );
    assert!(
        email
            .html
            .as_deref()
            .unwrap()
            .contains("<a href=\"https://portal")
    );
}

#[test]
fn the_mail_as_shown_is_the_text_the_code_covers() {
    let email = templates().render(Channel::Email, &facts(), None).unwrap();
    let html = email.html.unwrap();
    let body = html.split("<body").nth(1).unwrap();
    let shown = regex::Regex::new(r"<[^>]*>")
        .unwrap()
        .replace_all(body, "")
        .replace("&#x2f;", "/")
        .replace("&#34;", "\"")
        .replace("&quot;", "\"");
    let shown = shown
        .split_once('>')
        .map_or(shown.as_str(), |(_, rest)| rest);
    assert_eq!(
        canonical::canonical(shown),
        canonical::canonical(&email.text)
    );
}

#[test]
fn a_genuine_notice_verifies_after_formatting_damage() {
    let key = NoticeKey::from_bytes(&[3; 32]);
    for channel in Channel::ALL {
        let recipient = if channel.uses_phone() {
            "01012345678"
        } else {
            "kim@example.com"
        };
        let (notice, text) = sealed(channel, recipient, &key);
        let damaged = format!(
            "[Web발신]\n{}",
            text.replace('\n', " ").replace(", ", " ,  ")
        );
        let judged = judge(&damaged, &key, std::slice::from_ref(&notice));
        assert_eq!(
            judged,
            Judgement::Genuine(Box::new(notice.clone())),
            "{channel:?}"
        );
        let altered = text.replace("https://portal.haechi-mall.co.kr", "https://haechi-mall.kr");
        assert_eq!(
            judge(&altered, &key, std::slice::from_ref(&notice)),
            Judgement::Altered
        );
        let other_key = NoticeKey::from_bytes(&[4; 32]);
        assert_eq!(
            judge(&text, &other_key, std::slice::from_ref(&notice)),
            Judgement::Altered
        );
        assert_eq!(judge(&text, &key, &[]), Judgement::UnknownCode);
        let code = notice.seal.as_ref().unwrap().code.to_string();
        assert_eq!(
            judge(&text.replace(&code, ""), &key, &[notice]),
            Judgement::NoCode
        );
    }
}

#[test]
fn templates_that_break_the_rules_are_refused_by_name() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "sms.txt",
            "[{{ company }}] 안내 {{ code }} {{ portal }} 자세한 내용은 고객센터로 문의해 주시기 바랍니다 감사합니다",
            "bytes in EUC-KR",
        ),
        (
            "lms.txt",
            "{{ company }} {{ portal }}",
            "prints the notice code 0 times",
        ),
        (
            "lms.txt",
            "{{ code }} {{ code }}",
            "prints the notice code 2 times",
        ),
        (
            "lms.txt",
            "{{ code }} https://bit.ly/x",
            "may link only to the portal",
        ),
        (
            "email.html",
            "<img src=\"https://cdn.example.com/a.png\"> {{ code }}",
            "may link only",
        ),
        ("sms.txt", "[Web발신] {{ code }}", "carrier's prefix"),
    ];
    for (file, source, expected) in cases {
        let mut set = TemplateSet::builtin();
        set.set(file, source.into()).unwrap();
        let error = NoticeTemplates::new(set, sender()).unwrap_err().to_string();
        assert!(
            error.contains(file) && error.contains(expected),
            "{file}: {error}"
        );
    }
    let mut set = TemplateSet::builtin();
    set.set("lms.txt", "{{ code }} {{ nonsense }}".into())
        .unwrap();
    let error = NoticeTemplates::new(set, sender()).unwrap_err().to_string();
    assert!(
        error.contains("lms.txt") && error.contains("undefined"),
        "{error}"
    );
    let mut set = TemplateSet::builtin();
    set.set("lms.txt", "{{ code }} 😀".into()).unwrap();
    let error = NoticeTemplates::new(set, sender()).unwrap_err().to_string();
    assert!(error.contains("EUC-KR has no such character"), "{error}");
    assert!(
        TemplateSet::builtin()
            .set("../etc/passwd", String::new())
            .is_err()
    );
}

#[test]
fn sender_settings_are_checked() {
    let mut bad = sender();
    bad.cause = " ".into();
    assert!(
        NoticeTemplates::new(TemplateSet::builtin(), bad)
            .unwrap_err()
            .to_string()
            .contains("cause")
    );
    let mut bad = sender();
    bad.portal_origin = "http://portal.example.com".into();
    assert!(NoticeTemplates::new(TemplateSet::builtin(), bad).is_err());
    let mut bad = sender();
    bad.portal_origin = "https://portal.example.com/path".into();
    assert!(NoticeTemplates::new(TemplateSet::builtin(), bad).is_err());
    let mut bad = sender();
    bad.contact_numbers = vec!["call us".into()];
    assert!(NoticeTemplates::new(TemplateSet::builtin(), bad).is_err());
    let mut bad = sender();
    bad.measures = "줄\n바꿈".into();
    assert!(NoticeTemplates::new(TemplateSet::builtin(), bad).is_err());
}

#[test]
fn the_company_particle_follows_its_last_syllable() {
    let mut other = sender();
    other.company = "해치마트".into();
    let text = NoticeTemplates::new(TemplateSet::builtin(), other)
        .unwrap()
        .render(Channel::Lms, &facts(), None)
        .unwrap()
        .text;
    assert!(text.contains("해치마트를 사칭한") && text.contains("해치마트는 비밀번호"));
    let mut latin = sender();
    latin.company = "Haechi".into();
    let text = NoticeTemplates::new(TemplateSet::builtin(), latin)
        .unwrap()
        .render(Channel::Lms, &facts(), None)
        .unwrap()
        .text;
    assert!(text.contains("Haechi을(를) 사칭한"), "{text}");
}

#[test]
fn batches_are_named_by_their_contents_and_notices_by_their_addressee() {
    let a = templates();
    assert_eq!(a.batch_id(), templates().batch_id());
    let mut changed = sender();
    changed.measures = "다른 조치".into();
    assert_ne!(
        a.batch_id(),
        NoticeTemplates::new(TemplateSet::builtin(), changed)
            .unwrap()
            .batch_id()
    );
    let incident = IncidentId::derive("x");
    let id = NoticeId::derive(&incident, "c1", Channel::Lms);
    assert_eq!(NoticeId::parse(id.as_str()).unwrap(), id);
    assert_ne!(id, NoticeId::derive(&incident, "c1", Channel::Sms));
    assert!(NoticeId::parse("NT-XYZ").is_err());
    let mut facts = facts();
    facts.fields = vec!["password".into()];
    assert!(a.render(Channel::Lms, &facts, None).is_err());
    facts.fields.clear();
    assert!(a.render(Channel::Lms, &facts, None).is_err());
}

proptest! {
    #[test]
    fn judging_any_text_never_panics(text in "\\PC{0,300}") {
        let key = NoticeKey::from_bytes(&[9; 32]);
        let _ = judge(&text, &key, &[]);
        let _ = canonical::canonical(&text);
        let _ = NoticeCode::parse(&text);
    }
}
