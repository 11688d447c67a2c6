use haechi_korean::{
    BusinessNumber, Checksum, DriverLicence, Field, Holder, PassportFormat, PassportNumber,
    PassportType, RegistrationChecksum, RegistrationNumber, luhn,
};

fn check_registration(input: &str, expected: Option<(Holder, &str, RegistrationChecksum)>) {
    let actual = RegistrationNumber::parse(input);
    let summary = actual
        .as_ref()
        .ok()
        .map(|n| (n.holder(), n.birth_date().to_string(), n.checksum()));
    assert_eq!(
        summary,
        expected.map(|(h, d, c)| (h, d.to_owned(), c)),
        "RegistrationNumber::parse({input:?}) = {actual:?}"
    );
}

#[test]
fn registration_numbers() {
    use Holder::{Citizen, Foreigner};
    use RegistrationChecksum::{MismatchOrIssuedAfter2020 as Mismatch, Valid};
    check_registration("900101-1234568", Some((Citizen, "1990-01-01", Valid)));
    check_registration("9001011234568", Some((Citizen, "1990-01-01", Valid)));
    check_registration("900101 1234568", Some((Citizen, "1990-01-01", Valid)));
    check_registration("850615-2345674", Some((Citizen, "1985-06-15", Valid)));
    check_registration("020304-3456784", Some((Citizen, "2002-03-04", Valid)));
    check_registration("991231-1000007", Some((Citizen, "1999-12-31", Valid)));
    check_registration("900101-5234561", Some((Foreigner, "1990-01-01", Valid)));
    check_registration("010203-7123453", Some((Foreigner, "2001-02-03", Valid)));
    // A wrong check digit, or a post-2020 number: still a registration number.
    check_registration("900101-1234567", Some((Citizen, "1990-01-01", Mismatch)));
    check_registration("210505-4829137", Some((Citizen, "2021-05-05", Mismatch)));
    // Born in the 1800s: seventh digit 9 or 0.
    check_registration("991231-9000000", Some((Citizen, "1899-12-31", Mismatch)));
    // Dates that do not exist in the century the seventh digit names.
    for bad in [
        "900230-1234567",
        "901301-1234567",
        "900100-1234567",
        "000229-1234567",
        "000229-3234567",
        "90010-11234567",
        "900101-123456",
        "900101--1234568",
        "9001011234568 ",
        "900101-123456a",
    ] {
        let result = RegistrationNumber::parse(bad);
        if bad == "000229-3234567" {
            // 2000 was a leap year, 1900 was not.
            assert!(result.is_ok(), "{bad:?}");
        } else if bad == "9001011234568 " {
            assert!(result.is_ok(), "trailing space is trimmed");
        } else {
            assert_eq!(
                result.map_err(|e| e.field()).err(),
                Some(Field::RegistrationNumber),
                "{bad:?}"
            );
        }
    }
    let number = RegistrationNumber::parse("900101-1234568").unwrap();
    assert_eq!(number.masked(), "900101-1******");
    assert_eq!(number.digits(), "9001011234568");
    assert!(!format!("{number:?}").contains("234568"));
}

#[test]
fn business_numbers() {
    for valid in ["104-86-56659", "116-82-00276", "1048656659", "220-81-62517"] {
        assert!(BusinessNumber::parse(valid).is_ok(), "{valid:?}");
    }
    assert_eq!(
        BusinessNumber::parse("1048656659").unwrap().formatted(),
        "104-86-56659"
    );
    for invalid in [
        "104-86-56658",
        "123-45-67890",
        "104-8656659",
        "104-86-5665",
        "10486566591",
    ] {
        assert!(BusinessNumber::parse(invalid).is_err(), "{invalid:?}");
    }
}

fn check_luhn(input: &str, expected: Checksum) {
    assert_eq!(luhn(input), expected, "luhn({input:?})");
}

#[test]
fn luhn_checks() {
    for valid in [
        "4111111111111111",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "0",
    ] {
        check_luhn(valid, Checksum::Valid);
    }
    for invalid in ["4111111111111112", "", "4111-1111-1111-1111", "12"] {
        check_luhn(invalid, Checksum::Invalid);
    }
}

fn check_passport(input: &str, expected: Option<(&str, PassportFormat, PassportType)>) {
    let actual = PassportNumber::parse(input);
    assert_eq!(
        actual
            .as_ref()
            .ok()
            .map(|p| (p.as_str(), p.format(), p.passport_type())),
        expected,
        "PassportNumber::parse({input:?})"
    );
}

#[test]
fn passports() {
    use PassportFormat::{Old, Since2021};
    use PassportType::*;
    check_passport("M12345678", Some(("M12345678", Old, Multiple)));
    check_passport("m12345678", Some(("M12345678", Old, Multiple)));
    check_passport("S12345678", Some(("S12345678", Old, Single)));
    check_passport("M123A4567", Some(("M123A4567", Since2021, Multiple)));
    check_passport("d123b4567", Some(("D123B4567", Since2021, Diplomatic)));
    check_passport("G001Z0001", Some(("G001Z0001", Since2021, Government)));
    check_passport("R12345678", Some(("R12345678", Old, Resident)));
    for bad in [
        "A12345678",
        "M1234567",
        "M123456789",
        "M12A34567",
        "M123AB567",
        "MM1234567",
        "M123A456",
    ] {
        check_passport(bad, None);
    }
    assert_eq!(
        PassportNumber::parse("M123A4567").unwrap().masked(),
        "M******67"
    );
}

#[test]
fn driver_licences() {
    /// Formatted number, region code and region name, or `None` for a refused input.
    type Expected = Option<(&'static str, u8, &'static str)>;
    let table: &[(&str, Expected)] = &[
        ("11-12-345678-90", Some(("11-12-345678-90", 11, "서울"))),
        ("111234567890", Some(("11-12-345678-90", 11, "서울"))),
        ("28-99-000001-11", Some(("28-99-000001-11", 28, "경기북부"))),
        ("26-01-123456-78", Some(("26-01-123456-78", 26, "울산"))),
        ("서울 12-345678-90", Some(("11-12-345678-90", 11, "서울"))),
        ("부산12-345678-90", Some(("12-12-345678-90", 12, "부산"))),
        (
            "경기북부 05-111111-22",
            Some(("28-05-111111-22", 28, "경기북부")),
        ),
        ("27-12-345678-90", None),
        ("10-12-345678-90", None),
        ("29-12-345678-90", None),
        ("11-12-34567-890", None),
        ("11-12-345678-9", None),
        ("평양 12-345678-90", None),
    ];
    for (input, expected) in table {
        let actual = DriverLicence::parse(input);
        assert_eq!(
            actual
                .as_ref()
                .ok()
                .map(|d| (d.formatted(), d.region_code(), d.region_name())),
            expected.map(|(f, c, n)| (f.to_owned(), c, n)),
            "DriverLicence::parse({input:?})"
        );
    }
    assert_eq!(
        DriverLicence::parse("11-12-345678-90").unwrap().masked(),
        "11-12-******-**"
    );
}
