//! Table-driven checks: `check(text, expected)` where expected lists `(kind, found text)`.

use haechi_leak::{
    Finding, PiiKind, PiiKind::*, Reason, Recognizer, ResidentNumberRecognizer, Scanner,
    looks_like_a_written_address, scan,
};

fn check(text: &str, expected: &[(PiiKind, &str)]) {
    let findings = scan(text);
    let actual: Vec<(PiiKind, &str)> = findings.iter().map(|f| (f.kind, f.text(text))).collect();
    assert_eq!(actual, expected, "scan({text:?}) = {findings:#?}");
}

#[test]
fn registration_numbers() {
    check(
        "주민번호 900101-1234568",
        &[(ResidentRegistrationNumber, "900101-1234568")],
    );
    check(
        "9001011234568",
        &[(ResidentRegistrationNumber, "9001011234568")],
    );
    // A post-2020 number has no check digit: found with a hyphen, or with a context word.
    check(
        "210505-4829137",
        &[(ResidentRegistrationNumber, "210505-4829137")],
    );
    check(
        "주민등록번호 2105054829137",
        &[(ResidentRegistrationNumber, "2105054829137")],
    );
    check("2105054829137", &[]);
    check(
        "외국인등록번호 900101-5234561",
        &[(ForeignerRegistrationNumber, "900101-5234561")],
    );
    // Impossible dates and the 1800s are not registration numbers.
    check("900230-1234567", &[]);
    check("991231-9000000", &[]);
    // Glued to more digits: part of something longer.
    check("19001011234568", &[]);
    check("1-900101-1234568", &[]);
}

#[test]
fn registration_confidence_reflects_the_checksum() {
    let confidence = |text: &str| scan(text).first().map(|f| f.confidence).unwrap_or(0.0);
    let valid = confidence("900101-1234568");
    let mismatch = confidence("900101-1234567");
    assert!(valid > mismatch, "{valid} vs {mismatch}");
    assert!(
        mismatch >= 0.5,
        "a failed checksum lowers confidence, never discards"
    );
    let findings = scan("900101-1234567");
    assert!(findings[0].reasons.contains(&Reason::ChecksumFailed));
}

#[test]
fn phones() {
    for spelling in [
        "010-2345-6789",
        "010.2345.6789",
        "010 2345 6789",
        "01023456789",
        "+82 10-2345-6789",
        "+821023456789",
        "+82 (0)10 2345 6789",
        "０１０－２３４５－６７８９",
    ] {
        check(
            &format!("연락처 {spelling} 입니다"),
            &[(MobilePhone, spelling)],
        );
    }
    check("(010-2345-6789)", &[(MobilePhone, "010-2345-6789")]);
    check("집 02-123-4567", &[(Landline, "02-123-4567")]);
    check("(02) 123-4567", &[(Landline, "(02) 123-4567")]);
    check("0504-1234-5678", &[(Landline, "0504-1234-5678")]);
    check("070-4123-5678", &[(Landline, "070-4123-5678")]);
    // Company, toll-free and unallocated numbers are not personal phones.
    check("1588-1234 080-123-4567 010-1234-5678 010-0000-0000", &[]);
}

#[test]
fn other_kinds() {
    check("hong@example.com", &[(Email, "hong@example.com")]);
    check("logo@2x.png", &[]);
    check("통관부호 P123456789012", &[(CustomsCode, "P123456789012")]);
    check("상품코드 P202401150001", &[]);
    check(
        "4111-1111-1111-1111",
        &[(CardNumber, "4111-1111-1111-1111")],
    );
    check("4111-1111-1111-1112", &[]);
    check(
        "사업자등록번호 104-86-56659",
        &[(BusinessNumber, "104-86-56659")],
    );
    check("104-86-56658", &[]);
    check("여권번호 M12345678", &[(Passport, "M12345678")]);
    check("M123A4567", &[(Passport, "M123A4567")]);
    check("11-12-345678-90", &[(DriverLicence, "11-12-345678-90")]);
    check("부산 12-345678-90", &[(DriverLicence, "부산 12-345678-90")]);
    check("27-12-345678-90", &[]);
    check(
        "주소: 서울특별시 송파구 올림픽로 300, 101동 1203호 (05551)",
        &[(
            Address,
            "서울특별시 송파구 올림픽로 300, 101동 1203호 (05551)",
        )],
    );
    check(
        "(05551) 서울특별시 송파구 올림픽로35길 12",
        &[(Address, "(05551) 서울특별시 송파구 올림픽로35길 12")],
    );
    check("롯데월드타워는 서울특별시 송파구 올림픽로 300에 있다", &[]);
}

#[test]
fn findings_are_sorted_and_do_not_overlap() {
    let text = "홍길동 900101-1234568 010-2345-6789 hong@example.com 4111 1111 1111 1111";
    let findings = scan(text);
    assert_eq!(findings.len(), 4);
    for pair in findings.windows(2) {
        assert!(pair[0].end <= pair[1].start);
    }
}

#[test]
fn offsets_refer_to_the_original_text() {
    let text = "전화 ０１０－２３４５－６７８９ 끝";
    let findings = scan(text);
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].text(text), "０１０－２３４５－６７８９");
}

#[test]
fn addresses_cut_from_random_bytes_do_not_look_written() {
    for written in [
        "kim@naver.com",
        "Kim@Example.com",
        "KIM@NAVER.COM",
        "hong.gildong@163.com",
        "lee@dept.snu.ac.kr",
        // Stored without a separator, the next column runs into the top-level domain.
        "kim@naver.comKim",
    ] {
        assert!(looks_like_a_written_address(written), "{written}");
    }
    // What printable runs of ciphertext look like when they match the pattern; and short or
    // oddly cased addresses, which a scan of text still finds (below).
    for unlikely in [
        "x@Q.rZ",
        "aH@ez.QC",
        "J3@N.rr",
        "%@gq.Iz",
        "Lq@TT.qEYz",
        "ab@c.com",
        "hk@sk.com",
        "jane@iCloud.com",
    ] {
        assert!(!looks_like_a_written_address(unlikely), "{unlikely}");
        assert_eq!(scan(unlikely).len(), 1, "{unlikely}");
    }
}

#[test]
fn the_scanner_takes_any_list_of_recognizers() {
    let only_rrn: Vec<Box<dyn Recognizer>> = vec![Box::new(ResidentNumberRecognizer::new())];
    let scanner = Scanner::new(only_rrn);
    let findings = scanner.scan("900101-1234568 010-2345-6789");
    assert_eq!(findings.len(), 1);
    let hunting = Scanner::default().with_minimum_confidence(0.3);
    assert_eq!(hunting.scan("2105054829137").len(), 1);
    let findings: Vec<Finding> = Scanner::default()
        .with_minimum_confidence(1.1)
        .scan("900101-1234568");
    assert!(findings.is_empty());
}

#[test]
fn findings_serialise_for_reports() {
    let findings = scan("주민번호 900101-1234568");
    let json = serde_json::to_value(&findings).unwrap();
    assert_eq!(json[0]["kind"], "resident_registration_number");
    assert_eq!(json[0]["reasons"][1]["reason"], "checksum_valid");
}
