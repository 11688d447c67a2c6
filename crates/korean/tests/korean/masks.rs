use haechi_korean::{
    BirthDate, CustomsCode, DetailAddress, Email, EntranceNote, PersonName, PhoneNumber,
    RoadAddress,
};
use time::macros::date;

fn check_name(input: &str, expected: &str) {
    assert_eq!(
        PersonName::parse(input).unwrap().masked(),
        expected,
        "{input:?}"
    );
}

#[test]
fn name_masks() {
    check_name("홍길동", "홍*동");
    check_name("홍길", "홍*");
    check_name("홍", "*");
    check_name("남궁민수", "남**수");
    check_name("독고영재아", "독***아");
    check_name("John Smith", "J********h");
}

fn check_email(input: &str, expected: &str) {
    assert_eq!(Email::parse(input).unwrap().masked(), expected, "{input:?}");
}

#[test]
fn email_masks() {
    check_email("hong@example.com", "h***@example.com");
    check_email("h@example.com", "h***@example.com");
    check_email("Gildong.Hong1990@Naver.com", "g***@naver.com");
}

fn check_phone(input: &str, expected: &str) {
    assert_eq!(
        PhoneNumber::parse_any(input).unwrap().masked(),
        expected,
        "{input:?}"
    );
}

#[test]
fn phone_masks() {
    check_phone("010-2345-5678", "010-****-5678");
    check_phone("+82 10 2345 5678", "010-****-5678");
    check_phone("02-123-4567", "02-***-4567");
    check_phone("02-1234-4567", "02-****-4567");
    check_phone("031-123-4567", "031-***-4567");
    check_phone("0504-1234-5678", "0504-****-5678");
    check_phone("011-234-5678", "011-***-5678");
    check_phone("1588-1234", "1588-****");
}

fn check_road(input: &str, expected: &str) {
    assert_eq!(
        RoadAddress::parse(input).unwrap().masked(),
        expected,
        "{input:?}"
    );
}

#[test]
fn road_address_masks() {
    check_road(
        "서울특별시 송파구 올림픽로 300, 101동 1203호",
        "서울특별시 송파구 올림픽로",
    );
    check_road(
        "서울특별시 송파구 올림픽로 300 (신천동)",
        "서울특별시 송파구 올림픽로",
    );
    check_road(
        "서울특별시 송파구 올림픽로35길 12",
        "서울특별시 송파구 올림픽로35길",
    );
    check_road(
        "경기도 성남시 분당구 판교역로146번길 20",
        "경기도 성남시 분당구 판교역로146번길",
    );
    check_road(
        "경기도 양평군 양평읍 양근로 12",
        "경기도 양평군 양평읍 양근로",
    );
    check_road(
        "세종특별자치시 한누리대로 2130",
        "세종특별자치시 한누리대로",
    );
    check_road("서울 종로구 종로 1", "서울 종로구 종로");
    check_road(
        "서울특별시 중구 세종대로 지하 2",
        "서울특별시 중구 세종대로",
    );
    check_road(
        "부산광역시 해운대구 달맞이길 30",
        "부산광역시 해운대구 달맞이길",
    );
    check_road("세종특별자치시 도움6로 11", "세종특별자치시 도움6로");
    // No road name: the administrative names survive and the rest is marked as removed.
    check_road("서울특별시 송파구 신천동 7-18", "서울특별시 송파구 ****");
    check_road("서울특별시 송파구 12번지", "서울특별시 송파구 ****");
    check_road("잠실 롯데캐슬 101동", "****");
    check_road("123 Main Street", "****");
}

#[test]
fn detail_customs_birth_and_entrance_masks() {
    assert_eq!(
        DetailAddress::parse("101동 1203호").unwrap().masked(),
        "****"
    );
    assert_eq!(DetailAddress::parse("").unwrap().masked(), "");
    assert_eq!(
        CustomsCode::parse("P123456789012").unwrap().masked(),
        "P*********012"
    );
    assert_eq!(
        BirthDate::parse("1990-05-17", date!(2026 - 01 - 01))
            .unwrap()
            .masked(),
        "1990-**-**"
    );
    assert_eq!(
        EntranceNote::parse("공동현관 #1234*").unwrap().masked(),
        "****"
    );
}

#[test]
fn debug_output_is_masked() {
    let phone = PhoneNumber::parse("010-2345-5678").unwrap();
    assert_eq!(format!("{phone:?}"), "PhoneNumber(\"010-****-5678\")");
    let note = EntranceNote::parse("공동현관 #1234*").unwrap();
    assert!(!format!("{note:?}").contains("1234"));
    let name = PersonName::parse("홍길동").unwrap();
    assert!(!format!("{name:?}").contains("길"));
    let email = Email::parse("hong@example.com").unwrap();
    assert!(!format!("{email:?}").contains("hong"));
    let road = RoadAddress::parse("서울특별시 송파구 올림픽로 300").unwrap();
    assert!(!format!("{road:?}").contains("300"));
}
