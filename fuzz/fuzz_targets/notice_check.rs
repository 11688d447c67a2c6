//! "Is this message from us?": a pasted text as the check reads it — the codes found in it,
//! its canonical form and digest, the judgement against a sealed notice, and the smishing
//! recogniser's reading with its reasons in both languages.
//!
//! Holds: no panic; the canonical form holds no whitespace (line breaks and spacing can never
//! tell two copies apart); a code the text carries prints and parses back to itself.

#![no_main]

use haechi_notice::{NoticeCode, NoticeKey, canonical, judge};
use haechi_smishing::{Profile, Recogniser};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

static RECOGNISER: LazyLock<Recogniser> = LazyLock::new(|| {
    Recogniser::new(Profile {
        company_domains: vec!["haechi-mall.co.kr".into()],
        brand_names: vec!["해치몰".into(), "haechi mall".into()],
        callback_numbers: vec!["1588-1234".into()],
    })
    .expect("a valid profile")
});

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let canonical_text = canonical::canonical(&text);
    assert!(!canonical_text.chars().any(char::is_whitespace), "whitespace left");
    let _ = canonical::digest(&text);
    for code in NoticeCode::find_all(&text) {
        assert_eq!(NoticeCode::parse(&code.to_string()).ok(), Some(code));
    }
    let _ = judge(&text, &NoticeKey::from_bytes(&[7; 32]), &[]);
    let assessment = RECOGNISER.assess(&text);
    let name = RECOGNISER.company_name();
    let _ = (assessment.reasons_ko(name), assessment.reasons_en(name));
    let _ = assessment.is_smishing();
});
