use haechi_korean::{
    BirthDate, CustomsCode, DetailAddress, EntranceNote, Error, Field, PersonName, PhoneKind,
    PhoneNumber, PostalCode, Province, RoadAddress,
};
use time::macros::date;

/// `Ok(kind)` or `Err(())` for a refused number, through `parse_any`.
fn check_phone_kind(input: &str, expected: Option<PhoneKind>) {
    let actual = PhoneNumber::parse_any(input);
    assert_eq!(
        actual.as_ref().ok().map(PhoneNumber::kind),
        expected,
        "PhoneNumber::parse_any({input:?}) = {actual:?}"
    );
}

#[test]
fn phone_numbering_plan() {
    use PhoneKind::*;
    let table: &[(&str, Option<PhoneKind>)] = &[
        ("010-2000-0000", Some(Mobile)),
        ("010-9999-9999", Some(Mobile)),
        ("010-1999-5678", None),
        ("010-0123-5678", None),
        ("010-123-4567", None),
        ("011-123-4567", Some(LegacyMobile)),
        ("016-1234-5678", Some(LegacyMobile)),
        ("017-234-5678", Some(LegacyMobile)),
        ("018-234-5678", Some(LegacyMobile)),
        ("019-9234-5678", Some(LegacyMobile)),
        ("011-023-4567", None),
        ("012-234-5678", None),
        ("02-123-4567", Some(Landline)),
        ("02-1234-5678", Some(Landline)),
        ("02-012-4567", None),
        ("02-123-4567", Some(Landline)),
        ("02-12-4567", None),
        ("031-123-4567", Some(Landline)),
        ("033-1234-5678", Some(Landline)),
        ("044-123-4567", Some(Landline)),
        ("055-123-4567", Some(Landline)),
        ("064-123-4567", Some(Landline)),
        ("034-123-4567", None),
        ("045-123-4567", None),
        ("056-123-4567", None),
        ("065-123-4567", None),
        ("070-1234-5678", Some(InternetPhone)),
        ("070-0234-5678", None),
        ("070-4123-5678", Some(InternetPhone)),
        ("0504-1234-5678", Some(RelayNumber)),
        ("0505-123-4567", Some(RelayNumber)),
        ("0501-123-4567", None),
        ("080-123-4567", Some(TollFree)),
        ("1588-1234", Some(Business)),
        ("1644-1234", Some(Business)),
        ("1899-1234", Some(Business)),
        ("1700-1234", None),
        ("090-1234-5678", None),
    ];
    for (input, expected) in table {
        check_phone_kind(input, *expected);
    }
}

#[test]
fn personal_phone_parse_refuses_company_numbers() {
    assert!(PhoneNumber::parse("010-2345-6789").is_ok());
    assert!(PhoneNumber::parse("0504-1234-5678").is_ok());
    for company in ["1588-1234", "080-123-4567"] {
        let error = PhoneNumber::parse(company).unwrap_err();
        assert_eq!(error.field(), Field::Phone);
        assert!(error.to_string().contains("not personal"), "{error}");
    }
    assert!("02-123-4567".parse::<PhoneNumber>().is_ok());
}

fn check_formatted(input: &str, expected: &str) {
    let phone = PhoneNumber::parse_any(input).unwrap();
    assert_eq!(phone.formatted(), expected, "{input:?}");
}

#[test]
fn phone_display_format() {
    check_formatted("01023456789", "010-2345-6789");
    check_formatted("+82 10 9234 5678", "010-9234-5678");
    check_formatted("021234567", "02-123-4567");
    check_formatted("0212345678", "02-1234-5678");
    check_formatted("0311234567", "031-123-4567");
    check_formatted("05041234567", "0504-123-4567");
    check_formatted("050412345678", "0504-1234-5678");
    check_formatted("15881234", "1588-1234");
    check_formatted("0111234567", "011-123-4567");
}

fn check_postal(input: &str, expected: Result<Province, Field>) {
    let actual = PostalCode::parse(input);
    assert_eq!(
        actual
            .as_ref()
            .map(PostalCode::province)
            .map_err(Error::field),
        expected,
        "PostalCode::parse({input:?})"
    );
}

#[test]
fn postal_codes() {
    check_postal("05551", Ok(Province::Seoul));
    check_postal("01000", Ok(Province::Seoul));
    check_postal("13494", Ok(Province::Gyeonggi));
    check_postal("21999", Ok(Province::Incheon));
    check_postal("30103", Ok(Province::Sejong));
    check_postal("48058", Ok(Province::Busan));
    check_postal("63309", Ok(Province::Jeju));
    check_postal(" ０５５５１ ", Ok(Province::Seoul));
    for bad in [
        "", "00123", "64000", "99999", "1234", "123456", "138-240", "0555a", "055 51",
    ] {
        check_postal(bad, Err(Field::PostalCode));
    }
    assert_eq!(PostalCode::parse("05551").unwrap().as_str(), "05551");
    let retired = PostalCode::parse("138-240").unwrap_err();
    assert!(retired.to_string().contains("retired"), "{retired}");
}

#[test]
fn province_tables_agree() {
    for prefix in 0..=99_u8 {
        let province = Province::from_postal_prefix(prefix);
        assert_eq!(
            province.is_some(),
            (1..=63).contains(&prefix),
            "prefix {prefix}"
        );
        if let Some(p) = province {
            assert!(p.postal_prefixes().contains(&prefix));
            assert_eq!(Province::from_name(p.official_name()), Some(p));
        }
    }
    assert_eq!(Province::from_name("강원도"), Some(Province::Gangwon));
    assert_eq!(Province::from_name("전라북도"), Some(Province::Jeonbuk));
    assert_eq!(Province::from_name("서울"), Some(Province::Seoul));
    assert_eq!(Province::from_name("송파구"), None);
}

fn check_customs(input: &str, expected: Result<&str, Field>) {
    let actual = CustomsCode::parse(input);
    assert_eq!(
        actual
            .as_ref()
            .map(CustomsCode::as_str)
            .map_err(Error::field),
        expected,
        "CustomsCode::parse({input:?})"
    );
}

#[test]
fn customs_codes() {
    check_customs("P123456789012", Ok("P123456789012"));
    check_customs("p123456789012", Ok("P123456789012"));
    check_customs(" Ｐ１２３４５６７８９０１２ ", Ok("P123456789012"));
    for bad in [
        "",
        "123456789012",
        "P12345678901",
        "P1234567890123",
        "Q123456789012",
        "P12345678901a",
        "P-123456789012",
        "PP23456789012",
    ] {
        check_customs(bad, Err(Field::CustomsCode));
    }
}

fn check_birth(input: &str, expected: Result<&str, &str>) {
    let today = date!(2026 - 03 - 01);
    let actual = BirthDate::parse(input, today);
    match (&actual, expected) {
        (Ok(birth), Ok(formatted)) => assert_eq!(birth.formatted(), formatted, "{input:?}"),
        (Err(error), Err(fragment)) => {
            assert_eq!(error.field(), Field::BirthDate);
            assert!(error.to_string().contains(fragment), "{input:?}: {error}");
        }
        _ => panic!("BirthDate::parse({input:?}) = {actual:?}, expected {expected:?}"),
    }
}

#[test]
fn birth_dates() {
    check_birth("1990-01-31", Ok("1990-01-31"));
    check_birth(" 2000-02-29 ", Ok("2000-02-29"));
    check_birth("1900-01-01", Ok("1900-01-01"));
    check_birth("2026-03-01", Ok("2026-03-01"));
    check_birth("2026-03-02", Err("future"));
    check_birth("1899-12-31", Err("before 1900"));
    check_birth("1990-02-30", Err("does not exist"));
    check_birth("1900-02-29", Err("does not exist"));
    check_birth("1990-13-01", Err("does not exist"));
    check_birth("1990-00-10", Err("does not exist"));
    check_birth("1990-01-00", Err("does not exist"));
    check_birth("", Err("empty"));
    for shape in [
        "1990/01/31",
        "19900131",
        "1990-1-31",
        "90-01-31",
        "1990-01-31T00:00",
        "１９９０-01-31",
        "+990-01-31",
    ] {
        check_birth(shape, Err("YYYY-MM-DD"));
    }
}

#[test]
fn names() {
    assert_eq!(PersonName::parse(" 홍길동 ").unwrap().as_str(), "홍길동");
    assert_eq!(
        PersonName::parse("남궁  민수").unwrap().as_str(),
        "남궁 민수"
    );
    assert_eq!(
        PersonName::parse("John Smith").unwrap().as_str(),
        "John Smith"
    );
    assert_eq!(
        PersonName::parse(&"가".repeat(50))
            .unwrap()
            .as_str()
            .chars()
            .count(),
        50
    );
    type IsExpected = fn(&Error) -> bool;
    let checks: &[(&str, IsExpected)] = &[
        ("", |e| matches!(e, Error::Empty { .. })),
        ("   ", |e| matches!(e, Error::Empty { .. })),
        ("홍\u{200B}길동", |e| {
            matches!(e, Error::ForbiddenCharacter { .. })
        }),
        ("\u{3164}", |e| {
            matches!(e, Error::ForbiddenCharacter { .. })
        }),
        ("홍길동\u{202E}", |e| {
            matches!(e, Error::ForbiddenCharacter { .. })
        }),
        ("홍\u{7}길동", |e| {
            matches!(e, Error::ForbiddenCharacter { .. })
        }),
    ];
    for (input, expected) in checks {
        let error = PersonName::parse(input).unwrap_err();
        assert!(expected(&error), "{input:?}: {error:?}");
        assert_eq!(error.field(), Field::Name);
    }
    let long = PersonName::parse(&"가".repeat(51)).unwrap_err();
    assert_eq!(
        long,
        Error::TooLong {
            field: Field::Name,
            length: 51,
            max: 50
        }
    );
}

#[test]
fn address_parts() {
    assert_eq!(
        RoadAddress::parse(" 서울특별시  송파구 올림픽로 300 ")
            .unwrap()
            .as_str(),
        "서울특별시 송파구 올림픽로 300"
    );
    assert!(RoadAddress::parse("").is_err());
    assert!(RoadAddress::parse(&"가".repeat(200)).is_ok());
    assert!(RoadAddress::parse(&"가".repeat(201)).is_err());
    assert_eq!(DetailAddress::parse("").unwrap().as_str(), "");
    assert_eq!(
        DetailAddress::parse(" 101동  1203호").unwrap().as_str(),
        "101동 1203호"
    );
    assert!(DetailAddress::parse(&"가".repeat(201)).is_err());
    assert!(EntranceNote::parse("공동현관 #1234*").is_ok());
    assert!(EntranceNote::parse(" ").is_err());
    assert!(EntranceNote::parse(&"#".repeat(201)).is_err());
    assert_eq!(
        EntranceNote::parse("\u{2066}1234").unwrap_err(),
        Error::ForbiddenCharacter {
            field: Field::EntranceNote
        }
    );
}

#[test]
fn error_messages_are_sentences_without_the_value() {
    let secret = "010-1999-5678";
    let error = PhoneNumber::parse(secret).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with("The phone number is not valid: "),
        "{message}"
    );
    assert!(message.ends_with('.'), "{message}");
    assert!(!message.contains("1999-5678"), "{message}");
    let email_error = haechi_korean::Email::parse("secret-person@").unwrap_err();
    assert!(!email_error.to_string().contains("secret-person"));
    assert_eq!(
        Error::Empty {
            field: Field::CustomsCode
        }
        .to_string(),
        "The customs clearance code is empty."
    );
}
