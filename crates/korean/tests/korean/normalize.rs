use haechi_korean::{Field, normalize_email, normalize_phone, normalize_text};

/// `Ok(normalised)` or `Err(field)` for a rejected input.
fn check_phone(input: &str, expected: Result<&str, Field>) {
    let actual = normalize_phone(input);
    assert_eq!(
        actual.as_deref().map_err(|e| e.field()),
        expected,
        "normalize_phone({input:?}) = {actual:?}"
    );
}

#[test]
fn phone_spellings() {
    let mobile = Ok("01012345678");
    for input in [
        "010-1234-5678",
        "01012345678",
        "010 1234 5678",
        "010.1234.5678",
        "+82 10-1234-5678",
        "+821012345678",
        "+82 010-1234-5678",
        "+82 (0)10 1234 5678",
        "+82-10-1234-5678",
        "0082-10-1234-5678",
        "821012345678",
        "  010-1234-5678\n",
        "０１０－１２３４－５６７８",
        "０１０１２３４５６７８",
        "＋８２ １０ １２３４ ５６７８",
        "010–1234–5678",
        "010\u{3000}1234\u{3000}5678",
        "(010) 1234-5678",
        "010/1234/5678",
    ] {
        check_phone(input, mobile);
    }
    check_phone("(02) 123-4567", Ok("021234567"));
    check_phone("02-1234-5678", Ok("0212345678"));
    check_phone("+82 2 123 4567", Ok("021234567"));
    check_phone("031-123-4567", Ok("0311234567"));
    check_phone("0504-1234-5678", Ok("050412345678"));
    check_phone("1588-1234", Ok("15881234"));
    check_phone("+82 1588 1234", Ok("15881234"));
    check_phone("070-1234-5678", Ok("07012345678"));
}

#[test]
fn phone_rejections() {
    for input in [
        "",
        "   ",
        "010-1234-567a",
        "phone: 010-1234-5678",
        "+1 415 555 1234",
        "010+1234",
        "12345",
        "0012345678",
        "010-1234-5678-9999",
        "++821012345678",
        "+82",
        "1588-123",
    ] {
        check_phone(input, Err(Field::Phone));
    }
}

fn check_email(input: &str, expected: Result<&str, Field>) {
    let actual = normalize_email(input);
    assert_eq!(
        actual.as_deref().map_err(|e| e.field()),
        expected,
        "normalize_email({input:?}) = {actual:?}"
    );
}

#[test]
fn email_spellings() {
    check_email("hong@example.com", Ok("hong@example.com"));
    check_email("  Hong.GilDong@Naver.COM ", Ok("hong.gildong@naver.com"));
    check_email("a+tag@sub.example.co.kr", Ok("a+tag@sub.example.co.kr"));
    check_email("o'brien_1@xn--3e0b707e.kr", Ok("o'brien_1@xn--3e0b707e.kr"));
    check_email("x@a-b.io", Ok("x@a-b.io"));
}

#[test]
fn email_rejections() {
    for input in [
        "",
        "hong",
        "hong@",
        "@example.com",
        "hong@example",
        "hong@@example.com",
        "hong@exa mple.com",
        "ho ng@example.com",
        "hong@example..com",
        "hong@-example.com",
        "hong@example-.com",
        ".hong@example.com",
        "hong.@example.com",
        "ho..ng@example.com",
        "hong@example.c",
        "hong@127.0.0.1",
        "홍길동@example.com",
        "hong@한국.kr",
        "ｈｏｎｇ@example.com",
        "hong\u{0}@example.com",
        "hong@exam(ple.com",
        "hong(comment)@example.com",
    ] {
        check_email(input, Err(Field::Email));
    }
    let long_local = format!("{}@example.com", "a".repeat(65));
    check_email(&long_local, Err(Field::Email));
    let long_address = format!("a@{}.com", "b".repeat(60).repeat(5));
    check_email(&long_address, Err(Field::Email));
}

fn check_text(input: &str, expected: &str) {
    assert_eq!(normalize_text(input), expected, "normalize_text({input:?})");
}

#[test]
fn text_normalisation() {
    check_text("  홍길동  ", "홍길동");
    // Decomposed jamo (as macOS and some web forms produce) becomes precomposed syllables.
    check_text(
        "\u{1112}\u{1169}\u{11BC}\u{1100}\u{1175}\u{11AF}\u{1103}\u{1169}\u{11BC}",
        "홍길동",
    );
    check_text(
        "서울특별시   송파구\t올림픽로\n300",
        "서울특별시 송파구 올림픽로 300",
    );
    check_text("서울특별시\u{3000}송파구", "서울특별시 송파구");
    check_text("", "");
    check_text(" \t\n ", "");
    check_text("Cafe\u{301}", "Café");
}
