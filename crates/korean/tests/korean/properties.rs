use haechi_korean::{
    BirthDate, BusinessNumber, CustomerGenerator, CustomsCode, DetailAddress, DriverLicence, Email,
    EntranceNote, PassportNumber, PersonName, PhoneNumber, PostalCode, RegistrationNumber,
    RoadAddress, luhn, normalize_email, normalize_phone, normalize_text,
};
use proptest::prelude::*;
use time::macros::date;

/// The eight digits after 010 of a valid mobile number.
fn mobile_tail() -> impl Strategy<Value = (u16, u16)> {
    (2000_u16..=9999, 0_u16..=9999)
}

/// Writes 010-`middle`-`last` in one of the spellings people use.
fn spell(middle: u16, last: u16, style: u8) -> String {
    let m = format!("{middle:04}");
    let l = format!("{last:04}");
    let full_width = |s: String| {
        s.chars()
            .map(|c| match c {
                '0'..='9' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
                '-' => '－',
                _ => c,
            })
            .collect::<String>()
    };
    match style % 10 {
        0 => format!("010-{m}-{l}"),
        1 => format!("010{m}{l}"),
        2 => format!("010 {m} {l}"),
        3 => format!("010.{m}.{l}"),
        4 => format!("+82 10-{m}-{l}"),
        5 => format!("+8210{m}{l}"),
        6 => format!("(010) {m}-{l}"),
        7 => full_width(format!("010-{m}-{l}")),
        8 => format!("0082 10 {m} {l}"),
        _ => format!("  +82 (0)10.{m}.{l}\t"),
    }
}

proptest! {
    #[test]
    fn every_spelling_of_a_number_normalises_equal(
        (middle, last) in mobile_tail(),
        a in 0_u8..10,
        b in 0_u8..10,
    ) {
        let expected = format!("010{middle:04}{last:04}");
        prop_assert_eq!(normalize_phone(&spell(middle, last, a)).unwrap(), expected.clone());
        prop_assert_eq!(normalize_phone(&spell(middle, last, b)).unwrap(), expected);
    }

    #[test]
    fn phone_normalisation_is_idempotent(input in "[+]?[0-9 ().\\-]{0,20}") {
        if let Ok(once) = normalize_phone(&input) {
            prop_assert_eq!(normalize_phone(&once).unwrap(), once);
        }
    }

    #[test]
    fn text_normalisation_is_idempotent(input in "\\PC{0,40}|[\\s\u{1100}-\u{11FF}\u{0300}-\u{036F}a-z가-힣]{0,40}") {
        let once = normalize_text(&input);
        prop_assert_eq!(normalize_text(&once), once);
    }

    #[test]
    fn email_normalisation_is_idempotent(input in "[ ]?[A-Za-z0-9._+-]{1,12}@[A-Za-z0-9-]{1,10}\\.[A-Za-z]{2,5}[ ]?") {
        if let Ok(once) = normalize_email(&input) {
            prop_assert_eq!(normalize_email(&once).unwrap(), once);
        }
    }

    #[test]
    fn phone_masks_never_reveal_the_middle_group((middle, last) in mobile_tail(), style in 0_u8..10) {
        let phone = PhoneNumber::parse(&spell(middle, last, style)).unwrap();
        let masked = phone.masked();
        prop_assert_eq!(&masked, &format!("010-****-{last:04}"));
        // The middle group's digits are nowhere but where the last group shows them by design
        // (a number like 010-1234-1234 has them there).
        let middle_digits = format!("{middle:04}");
        let without_last = &masked[..masked.len() - 4];
        prop_assert!(!without_last.contains(&middle_digits));
    }

    #[test]
    fn name_masks_never_reveal_the_middle(name in "[가-힣]{3,10}") {
        let masked = PersonName::parse(&name).unwrap().masked();
        let chars: Vec<char> = name.chars().collect();
        let masked_chars: Vec<char> = masked.chars().collect();
        prop_assert_eq!(masked_chars.len(), chars.len());
        prop_assert_eq!(masked_chars[0], chars[0]);
        prop_assert_eq!(masked_chars[chars.len() - 1], chars[chars.len() - 1]);
        prop_assert!(masked_chars[1..chars.len() - 1].iter().all(|c| *c == '*'));
    }

    #[test]
    fn email_and_customs_masks_hide_the_middle(local in "[a-z]{2,12}", digits in "[0-9]{12}") {
        let email = Email::parse(&format!("{local}@example.com")).unwrap();
        let masked = email.masked();
        prop_assert_eq!(masked.split_once('@').map(|(l, _)| l.to_owned()), Some(format!("{}***", &local[..1])));
        let code = CustomsCode::parse(&format!("P{digits}")).unwrap();
        let hidden_digits = &digits[..9];
        prop_assert!(!code.masked().contains(hidden_digits));
        prop_assert!(code.masked().ends_with(&digits[9..]));
    }

    #[test]
    fn generation_is_deterministic(seed in any::<u64>(), index in 0_u64..100_000_000) {
        prop_assert_eq!(
            CustomerGenerator::new(seed).customer(index),
            CustomerGenerator::new(seed).customer(index)
        );
    }

    #[test]
    fn parsers_and_masks_never_panic(input in "\\PC{0,30}|[0-9 +().\\-Pp가-힣]{0,20}") {
        let today = date!(2026 - 01 - 01);
        let _ = normalize_phone(&input);
        let _ = normalize_email(&input);
        let _ = PhoneNumber::parse_any(&input).map(|p| (p.masked(), p.formatted()));
        let _ = Email::parse(&input).map(|e| e.masked());
        let _ = PersonName::parse(&input).map(|n| n.masked());
        let _ = RoadAddress::parse(&input).map(|a| a.masked());
        let _ = DetailAddress::parse(&input).map(|a| a.masked());
        let _ = EntranceNote::parse(&input).map(|a| a.masked());
        let _ = PostalCode::parse(&input);
        let _ = CustomsCode::parse(&input).map(|c| c.masked());
        let _ = BirthDate::parse(&input, today).map(|b| b.masked());
        let _ = RegistrationNumber::parse(&input).map(|r| (r.checksum(), r.masked()));
        let _ = BusinessNumber::parse(&input);
        let _ = PassportNumber::parse(&input).map(|p| p.masked());
        let _ = DriverLicence::parse(&input).map(|d| d.masked());
        let _ = luhn(&input);
    }

    #[test]
    fn road_masks_drop_the_building_number(seed in any::<u64>(), index in any::<u64>()) {
        for address in CustomerGenerator::new(seed).customer(index).addresses {
            let masked = RoadAddress::parse(&address.road_address).unwrap().masked();
            prop_assert!(address.road_address.starts_with(&masked));
            let removed = &address.road_address[masked.len()..];
            prop_assert!(removed.chars().any(|c| c.is_ascii_digit()), "{}", address.road_address);
            prop_assert!(!masked.ends_with(|c: char| c.is_ascii_digit()));
        }
    }
}
