use haechi_leak::{PiiKind, mask, redact, scan};

fn check(text: &str, expected: &str) {
    let findings = scan(text);
    assert_eq!(findings.len(), 1, "{text:?}: {findings:?}");
    assert_eq!(mask(text, &findings[0]), expected, "{text:?}");
}

#[test]
fn masks_per_kind() {
    check("900101-1234568", "900101-1******");
    check("9001011234568", "900101-1******");
    check("010-2345-6789", "010-****-6789");
    check("+82 10 2345 6789", "010-****-6789");
    check("02-123-4567", "02-***-4567");
    check("hong@example.com", "h***@example.com");
    check("통관 P123456789012", "P*********012");
    check("4111 1111 1111 1111", "**** **** **** 1111");
    check("사업자 104-86-56659", "104-**-*****");
    check("M123A4567", "M******67");
    check("11-12-345678-90", "11-12-******-**");
    check(
        "(05551) 서울특별시 송파구 올림픽로 300, 101동 1203호",
        "서울특별시 송파구 올림픽로 ****",
    );
    check("０１０－２３４５－６７８９", "010-****-6789");
}

#[test]
fn redaction_replaces_every_finding() {
    let text = "홍길동 900101-1234568 / 010-2345-6789 / hong@example.com";
    let findings = scan(text);
    assert_eq!(findings.len(), 3);
    assert_eq!(
        redact(text, &findings),
        "홍길동 900101-1****** / 010-****-6789 / h***@example.com"
    );
    assert!(findings.iter().any(|f| f.kind == PiiKind::Email));
}
