use std::collections::{HashMap, HashSet};

use haechi_korean::{
    BirthDate, CustomerGenerator, CustomsCode, DetailAddress, Email, EntranceNote, PersonName,
    PhoneKind, PhoneNumber, PostalCode, Province, RoadAddress,
};
use time::macros::date;

const POPULATION: u64 = 10_000;

#[test]
fn generated_customers_pass_the_validators_and_are_unique() {
    let generator = CustomerGenerator::new(20_251_122);
    let today = date!(2026 - 01 - 01);
    let mut emails = HashSet::new();
    let mut phones = HashSet::new();
    let mut customs_codes = HashSet::new();
    let mut surnames: HashMap<char, u64> = HashMap::new();
    let mut entrance_notes = 0;
    let mut addresses = 0;
    for index in 0..POPULATION {
        let customer = generator.customer(index);
        let name = PersonName::parse(&customer.name).unwrap();
        assert_eq!(name.as_str(), customer.name);
        *surnames
            .entry(customer.name.chars().next().unwrap())
            .or_default() += 1;
        let email = Email::parse(&customer.email).unwrap();
        assert_eq!(email.as_str(), customer.email, "already normalised");
        let phone = PhoneNumber::parse(&customer.phone).unwrap();
        assert_eq!(phone.kind(), PhoneKind::Mobile);
        assert_eq!(phone.formatted(), customer.phone);
        let birth = BirthDate::parse(&customer.birth_date, today).unwrap();
        assert!(
            (1950..=2006).contains(&birth.date().year()),
            "{}",
            customer.birth_date
        );
        let customs = CustomsCode::parse(&customer.customs_code).unwrap();
        assert_eq!(customs.as_str(), customer.customs_code);
        assert!(
            emails.insert(customer.email.clone()),
            "duplicate e-mail at {index}"
        );
        assert!(
            phones.insert(phone.as_str().to_owned()),
            "duplicate phone at {index}"
        );
        assert!(
            customs_codes.insert(customer.customs_code.clone()),
            "duplicate customs code at {index}"
        );

        assert!((1..=3).contains(&customer.addresses.len()));
        assert_eq!(customer.addresses[0].recipient, customer.name);
        for address in &customer.addresses {
            addresses += 1;
            PersonName::parse(&address.recipient).unwrap();
            PhoneNumber::parse(&address.phone).unwrap();
            let road = RoadAddress::parse(&address.road_address).unwrap();
            assert_eq!(road.as_str(), address.road_address);
            let province_name = address.road_address.split(' ').next().unwrap();
            let province = Province::from_name(province_name).unwrap();
            let postal = PostalCode::parse(&address.postal_code).unwrap();
            assert_eq!(postal.province(), province, "{address:?}");
            // The mask keeps the province and ends at the road name.
            let masked = road.masked();
            assert!(masked.starts_with(province.official_name()), "{masked}");
            assert!(
                !masked.contains("****"),
                "road name found in {}",
                address.road_address
            );
            assert!(!masked.chars().last().unwrap().is_ascii_digit(), "{masked}");
            DetailAddress::parse(&address.detail).unwrap();
            if let Some(note) = &address.entrance_note {
                EntranceNote::parse(note).unwrap();
                entrance_notes += 1;
            }
        }
    }
    // Realistic shares: 김 about a fifth, the top five surnames about half.
    let kim = surnames[&'김'] as f64 / POPULATION as f64;
    assert!((0.18..0.25).contains(&kim), "김 share {kim}");
    let note_share = f64::from(entrance_notes) / f64::from(addresses);
    assert!(
        (0.25..0.35).contains(&note_share),
        "entrance note share {note_share}"
    );
}

#[test]
fn generation_is_deterministic_and_random_access() {
    let a = CustomerGenerator::new(7);
    let b = CustomerGenerator::new(7);
    for index in [
        0,
        1,
        2,
        999,
        5_000_000,
        CustomerGenerator::UNIQUE_CUSTOMERS - 1,
    ] {
        assert_eq!(a.customer(index), b.customer(index));
    }
    // Order of generation does not matter.
    let forward: Vec<_> = (0..20).map(|i| a.customer(i)).collect();
    let backward: Vec<_> = (0..20).rev().map(|i| b.customer(i)).collect();
    assert!(forward.iter().eq(backward.iter().rev()));
    // Another seed, another population.
    let other = CustomerGenerator::new(8);
    assert_ne!(a.customer(0), other.customer(0));
}

#[test]
fn serialises_as_the_import_jsonl_shape() {
    let customer = CustomerGenerator::new(1).customer(42);
    let json: serde_json::Value = serde_json::to_value(&customer).unwrap();
    let object = json.as_object().unwrap();
    let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "addresses",
            "birth_date",
            "customs_code",
            "email",
            "name",
            "phone"
        ]
    );
    let address = json["addresses"][0].as_object().unwrap();
    let mut keys: Vec<_> = address.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "detail",
            "entrance_note",
            "phone",
            "postal_code",
            "recipient",
            "road_address"
        ]
    );
    assert!(serde_json::to_string(&customer).unwrap().lines().count() == 1);
}
