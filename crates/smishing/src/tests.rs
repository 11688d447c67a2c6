//! Whole assessments: each signal, the company's own texts, and hostile input.

use proptest::prelude::*;

use crate::{
    ASSESSED_BYTES, Assessment, CompanyMention, Extent, LinkOwner, LookAlike, Profile, Recogniser,
    Secret, Signal,
};

const GENUINE_LMS: &str = "[해치몰] 개인정보 노출 안내\n고객님의 이름, 전화번호, 배송지 주소가 2025년 6월 24일부터 2025년 11월 8일 사이에 외부에 노출되었습니다.\n해치몰은 해당 접근을 차단하고 서명 키를 폐기했습니다.\n고객님께서 하실 일: 해치몰을 사칭한 문자와 전화에 주의해 주세요.\n해치몰은 비밀번호, 카드번호, 인증번호를 묻지 않으며, 앱 설치를 요구하거나 모르는 번호로 전화를 요청하지 않습니다.\n자세한 내용: https://portal.haechi-mall.co.kr\n문의: 1588-1234\n확인코드 HC-7K2M-9QXD";

fn recogniser() -> Recogniser {
    let profile = Profile {
        company_domains: vec!["haechi-mall.co.kr".into()],
        brand_names: vec!["해치몰".into(), "haechi mall".into(), "haechimall".into()],
        callback_numbers: vec!["1588-1234".into(), "02-123-4567".into()],
    };
    match Recogniser::new(profile) {
        Ok(recogniser) => recogniser,
        Err(error) => panic!("{error}"),
    }
}

fn assess(text: &str) -> Assessment {
    recogniser().assess(text)
}

/// The text's signals must include `expected` and its verdict must be `smishing`.
fn check(text: &str, expected: &[Signal], smishing: bool) {
    let assessment = assess(text);
    for signal in expected {
        assert!(
            assessment.signals.contains(signal),
            "{text:?}: expected {signal:?} in {:?}",
            assessment.signals
        );
    }
    assert_eq!(
        assessment.is_smishing(),
        smishing,
        "{text:?}: {:?}",
        assessment.signals
    );
}

fn look_alike(host: &str, how: LookAlike) -> Signal {
    Signal::LookAlikeDomain {
        host: host.into(),
        resembles: "haechi-mall.co.kr".into(),
        how,
    }
}

#[test]
fn the_genuine_notice_is_not_flagged_in_any_formatting() {
    let short =
        "[해치몰] 개인정보 노출 안내. 상세: https://portal.haechi-mall.co.kr 확인코드 HC-7K2M-9QXD";
    for text in [
        GENUINE_LMS.to_owned(),
        format!("[Web발신]\n{GENUINE_LMS}"),
        GENUINE_LMS.replace('\n', " "),
        GENUINE_LMS.replace('\n', ""),
        GENUINE_LMS.replace("haechi-mall", "haechi-\nmall"),
        short.to_owned(),
        short.replace(". ", "．"),
    ] {
        let assessment = assess(&text);
        assert!(
            assessment.signals.is_empty(),
            "{text:?}: {:?}",
            assessment.signals
        );
        assert_eq!(assessment.links.len(), 1);
        assert_eq!(assessment.links[0].owner, LinkOwner::Company);
        assert_eq!(assessment.links[0].host, "portal.haechi-mall.co.kr");
    }
}

#[test]
fn the_company_domain_and_its_subdomains_are_fine() {
    for text in [
        "https://haechi-mall.co.kr/orders/1",
        "portal.haechi-mall.co.kr",
        "www.haechi-mall.co.kr",
        "HTTPS://M.HAECHI-MALL.CO.KR/cart",
    ] {
        let assessment = assess(text);
        assert!(
            assessment.signals.is_empty(),
            "{text}: {:?}",
            assessment.signals
        );
    }
}

#[test]
fn each_link_signal() {
    check(
        "http://coupang-delivery.top/x",
        &[Signal::ForeignLink {
            host: "coupang-delivery.top".into(),
        }],
        true,
    );
    check(
        "확인 bit.ly/3xYz",
        &[Signal::ShortenedLink {
            host: "bit.ly".into(),
        }],
        true,
    );
    for shortener in [
        "han.gy",
        "me2.kr",
        "url.kr",
        "vo.la",
        "t.ly",
        "tinyurl.com",
        "buly.kr",
    ] {
        let host = shortener.to_owned();
        check(
            &format!("{shortener}/a1"),
            &[Signal::ShortenedLink { host }],
            true,
        );
    }
    check(
        "http://45.77.120.9/refund",
        &[Signal::IpAddressLink {
            host: "45.77.120.9".into(),
        }],
        true,
    );
}

#[test]
fn each_look_alike() {
    use LookAlike::*;
    let cases = [
        (
            "https://xn--haechimll-6yh.co.kr",
            "xn--haechimll-6yh.co.kr",
            Punycode,
        ),
        ("haechi-rnall.co.kr", "haechi-rnall.co.kr", Homoglyph),
        ("hаechi-mall.co.kr", "xn--hechi-mall-zqi.co.kr", Homoglyph),
        (
            "haechi-mall-refund.com",
            "haechi-mall-refund.com",
            ExtraWords,
        ),
        ("haechi-mall-safe.com", "haechi-mall-safe.com", ExtraWords),
        (
            "haechimall.co.kr.secure-login.xyz",
            "haechimall.co.kr.secure-login.xyz",
            ExtraWords,
        ),
        ("haechi-mal.co.kr", "haechi-mal.co.kr", Typo),
        ("haechi-mall.com", "haechi-mall.com", OtherSuffix),
        (
            "haechi-mall-refund . com",
            "haechi-mall-refund.com",
            ExtraWords,
        ),
        (
            "ｈａｅｃｈｉ－ｍａｌｌ．ｃｏｍ",
            "haechi-mall.com",
            OtherSuffix,
        ),
    ];
    for (text, host, how) in cases {
        check(text, &[look_alike(host, how)], true);
    }
}

#[test]
fn each_request() {
    check(
        "환불을 위해 계좌번호와 비밀번호를 회신해 주세요",
        &[Signal::AsksForSecret {
            what: Secret::Password,
        }],
        true,
    );
    check(
        "보상 신청은 전용 앱 설치 후 가능합니다",
        &[Signal::AsksForAppInstall],
        true,
    );
    check(
        "엄마 폰 고장나서 그래 돈 좀 보내줄 수 있어? 급해",
        &[Signal::AsksForMoney],
        true,
    );
}

#[test]
fn negated_requests_are_not_requests() {
    check(
        "[해치몰] 인증번호 [482913]을 입력해 주세요. 타인에게 절대 알려주지 마세요",
        &[],
        false,
    );
    check(GENUINE_LMS, &[], false);
}

#[test]
fn unknown_callbacks_weigh_more_when_the_text_claims_to_be_the_company() {
    let number = Signal::UnknownCallback {
        number: "01055829103".into(),
    };
    check(
        "[해치몰] 담당자 010-5582-9103 으로 전화 주세요",
        std::slice::from_ref(&number),
        true,
    );
    check(
        "내 새 번호야 010-5582-9103",
        std::slice::from_ref(&number),
        false,
    );
    check("[카드] 본인 아닐 경우 즉시 010-5582-9103", &[number], true);
    assert_eq!(assess("[해치몰] 안내").mention, CompanyMention::Named);
    assert!(assess("문의 1588-1234").signals.is_empty());
}

#[test]
fn sent_from_abroad_and_lures_do_not_decide_alone() {
    check("[국외발신] 안녕하세요", &[Signal::SentFromAbroad], false);
    let lure = |word: &str| Signal::UrgencyLure { word: word.into() };
    check(
        "택배 미납 즉시 긴급 통관",
        &[lure("택배"), lure("즉시")],
        false,
    );
    check(
        "[국외발신] 관세 미납, 즉시 납부",
        &[Signal::SentFromAbroad],
        true,
    );
    check(
        "[해치몰] 주문하신 상품이 택배로 발송되었습니다 https://haechi-mall.co.kr/track/1",
        &[lure("택배")],
        false,
    );
}

#[test]
fn reasons_are_sentences_naming_the_company() {
    let assessment = assess("[해치몰] 피해보상 신청 https://haechi-mall-refund.com");
    let recogniser = recogniser();
    let ko = assessment.reasons_ko(recogniser.company_name());
    assert!(ko[0].contains("해치몰의 주소(haechi-mall.co.kr)"), "{ko:?}");
    let secret = Signal::AsksForSecret {
        what: Secret::IdentityCard,
    };
    assert_eq!(
        secret.reason_ko(),
        "신분증 사진을 알려 달라거나 입력하라고 요구합니다. 회사는 문자로 이런 정보를 묻지 않습니다."
    );
    let named = assess("[해치몰] 비밀번호를 회신해 주세요").reasons_ko("해치몰");
    assert!(
        named
            .iter()
            .any(|reason| reason.contains("해치몰은 문자로")),
        "{named:?}"
    );
    let english = assess("[해치몰] 비밀번호를 회신해 주세요").reasons_en("Haechi Mall");
    assert!(
        english
            .iter()
            .any(|reason| reason.contains("Haechi Mall never asks")),
        "{english:?}"
    );
    let foreign = Signal::ForeignLink {
        host: "example.top".into(),
    };
    assert_eq!(
        foreign.reason_ko(),
        "회사의 주소가 아닌 곳(example.top)으로 연결하는 링크가 있습니다."
    );
    assert!(foreign.reason_en().contains("example.top"));
    assert_eq!(foreign.code(), "foreign_link");
    let json = serde_json::to_value(&assessment.signals[0]).unwrap_or_default();
    assert_eq!(json["signal"], "look_alike_domain");
    assert_eq!(json["how"], "extra_words");
}

#[test]
fn profiles_are_validated() {
    let profile = |domain: &str, number: &str| Profile {
        company_domains: vec![domain.into()],
        brand_names: vec!["해치몰".into()],
        callback_numbers: vec![number.into()],
    };
    assert!(Recogniser::new(profile("haechi-mall.co.kr", "1588-1234")).is_ok());
    assert!(Recogniser::new(profile("co.kr", "1588-1234")).is_err());
    assert!(Recogniser::new(profile("haechi-mall.co.kr", "call me")).is_err());
    assert!(Recogniser::new(Profile::default()).is_err());
}

#[test]
fn hostile_input_never_panics() {
    let long_link = format!("https://{}.com", "a".repeat(100_000));
    let many_dots = ".".repeat(50_000);
    let many_numbers = "010-1234-5678 ".repeat(2_000);
    for text in [
        "",
        "   \n\t  ",
        "\u{0000}\u{0007}\u{001B}[31m\u{007F}",
        "http://",
        "https://[::1",
        "http://%zz/",
        "http://a..b.com",
        "www.",
        "xn--.com xn--zz-.kr",
        "http://999.999.999.999/",
        "\u{202E}moc.llam-ihceah",
        long_link.as_str(),
        many_dots.as_str(),
        many_numbers.as_str(),
    ] {
        let _ = assess(text);
    }
    let huge = "가".repeat(ASSESSED_BYTES);
    assert!(matches!(assess(&huge).extent, Extent::FirstBytes { .. }));
    assert_eq!(assess("짧은 글").extent, Extent::Whole);
}

proptest! {
    #[test]
    fn assess_never_panics(text in any::<String>()) {
        let _ = recogniser().assess(&text);
    }

    #[test]
    fn assess_never_panics_on_link_like_text(text in r"(https?://|www\.)?[a-zа-я0-9.\-@:/\[\]()。 ]{0,60}") {
        let _ = recogniser().assess(&text);
    }
}
