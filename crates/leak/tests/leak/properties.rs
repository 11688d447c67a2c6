use haechi_leak::{redact, scan};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn scanning_never_panics_and_offsets_are_sound(
        text in "\\PC{0,60}|[0-9０-９ \\-－.()+Pp@a-z가-힣\u{1100}-\u{1175}\u{11A8}-\u{11C2}]{0,60}"
    ) {
        let findings = scan(&text);
        for finding in &findings {
            prop_assert!(finding.start < finding.end);
            prop_assert!(text.is_char_boundary(finding.start));
            prop_assert!(text.is_char_boundary(finding.end));
            prop_assert!((0.0..=1.0).contains(&finding.confidence));
        }
        for pair in findings.windows(2) {
            prop_assert!(pair[0].end <= pair[1].start);
        }
        let _ = redact(&text, &findings);
    }

    #[test]
    fn phones_are_found_in_any_sentence(
        prefix in "[가-힣 ]{0,10}",
        suffix in "[가-힣 ]{0,10}",
        middle in 2000_u16..=9999,
        last in 0_u16..=9999,
    ) {
        let phone = format!("010-{middle:04}-{last:04}");
        let text = format!("{prefix} {phone} {suffix}");
        let findings = scan(&text);
        prop_assert_eq!(findings.len(), 1);
        prop_assert_eq!(findings[0].text(&text), phone.as_str());
        let redacted = redact(&text, &findings);
        let middle_digits = format!("-{middle:04}-");
        prop_assert!(!redacted.contains(&middle_digits));
    }
}
