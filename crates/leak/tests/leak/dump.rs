//! Reading dumps: formats, encodings, column roles, perturbed spellings, bad lines. Each case
//! is `check(dump, options, expected rows)`, with rows as `(line, emails, phones, names)`.

use haechi_leak::Error;
use haechi_leak::dump::{
    ColumnOverrides, ColumnRole, DumpEvent, DumpFormat, DumpOptions, DumpParser, DumpPlan,
    ProblemKind, RequestedFormat, TextEncoding, decode_line,
};

type Row<'a> = (u64, &'a [&'a str], &'a [&'a str], &'a [&'a str]);
/// A row as parsed: line, e-mails, phones, names.
type Parsed = (u64, Vec<String>, Vec<String>, Vec<String>);

/// Parses `dump` line by line; returns the plan, the rows and the problem lines.
fn parse(dump: &str, options: &DumpOptions) -> (DumpPlan, Vec<DumpEvent>) {
    let lines: Vec<&str> = dump.split('\n').collect();
    let plan = DumpPlan::from_sample(&lines, options).unwrap();
    let mut parser = DumpParser::new(plan.clone());
    let mut events = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        parser.push_line(index as u64 + 1, line, &mut events);
    }
    parser.finish(&mut events);
    (plan, events)
}

fn check(dump: &str, options: &DumpOptions, expected: &[Row<'_>]) -> DumpPlan {
    let (plan, events) = parse(dump, options);
    let rows: Vec<Parsed> = events
        .iter()
        .filter_map(|event| match event {
            DumpEvent::Row(row) => Some((row.line, row.identifiers())),
            DumpEvent::Problem(_) => None,
        })
        .filter(|(_, identifiers)| identifiers.has_lookup_key())
        .map(|(line, identifiers)| {
            (
                line,
                identifiers.emails,
                identifiers.phones,
                identifiers.names,
            )
        })
        .collect();
    let expected: Vec<Parsed> = expected
        .iter()
        .map(|(line, emails, phones, names)| {
            let owned = |values: &[&str]| values.iter().map(|v| v.to_string()).collect();
            (*line, owned(emails), owned(phones), owned(names))
        })
        .collect();
    assert_eq!(rows, expected, "plan {plan:?}");
    plan
}

fn problems(dump: &str, options: &DumpOptions) -> Vec<String> {
    parse(dump, options)
        .1
        .iter()
        .filter_map(|event| match event {
            DumpEvent::Problem(problem) => Some(problem.to_string()),
            DumpEvent::Row(_) => None,
        })
        .collect()
}

fn sniffed() -> DumpOptions {
    DumpOptions::default()
}

#[test]
fn korean_headers_and_perturbed_spellings() {
    let dump = "성명,이메일,휴대폰 번호,주소\n\
                홍길동,Hong.GilDong@Example.COM,010-2345-6789,서울\n\
                \u{1112}\u{1169}\u{11BC}\u{1100}\u{1175}\u{11AF}\u{1103}\u{1169}\u{11BC},kim@example.com,+82 10 3456 7890,부산\n\
                이서연,lee@example.com,０１０－４５６７－８９０１,대구\n\
                박지호,park@example.com,01056789012,인천";
    let plan = check(
        dump,
        &sniffed(),
        &[
            (
                2,
                &["hong.gildong@example.com"],
                &["01023456789"],
                &["홍길동"],
            ),
            (3, &["kim@example.com"], &["01034567890"], &["홍길동"]),
            (4, &["lee@example.com"], &["01045678901"], &["이서연"]),
            (5, &["park@example.com"], &["01056789012"], &["박지호"]),
        ],
    );
    assert_eq!(
        plan.format,
        DumpFormat::Csv {
            delimiter: ',',
            header: true
        }
    );
    assert_eq!(plan.describe_columns().len(), 3);
}

#[test]
fn headerless_dumps_get_roles_from_content() {
    let dump = "1|kim@example.com|김민준|010.2345.6789|x\n2|lee@example.com|이서연|010 3456 7890|y";
    check(
        dump,
        &sniffed(),
        &[
            (1, &["kim@example.com"], &["01023456789"], &["김민준"]),
            (2, &["lee@example.com"], &["01034567890"], &["이서연"]),
        ],
    );
}

#[test]
fn combolists_and_tabs() {
    check(
        "kim@example.com:hunter2\nLEE@EXAMPLE.COM:pa:ss\npark@example.com:x",
        &sniffed(),
        &[
            (1, &["kim@example.com"], &[], &[]),
            (2, &["lee@example.com"], &[], &[]),
            (3, &["park@example.com"], &[], &[]),
        ],
    );
    check(
        "name\tphone\n김민준\t+821023456789",
        &sniffed(),
        &[(2, &[], &["01023456789"], &["김민준"])],
    );
}

#[test]
fn overrides_replace_guesses() {
    // Column 2 looks like nothing in particular; the operator says it is the phone.
    let options = DumpOptions {
        columns: Some(ColumnOverrides::parse("phone=2,email=3").unwrap()),
        ..DumpOptions::default()
    };
    check(
        "a,01023456789,kim@example.com\nb,01034567890,LEE@example.com",
        &options,
        &[
            (1, &["kim@example.com"], &["01023456789"], &[]),
            (2, &["lee@example.com"], &["01034567890"], &[]),
        ],
    );
}

#[test]
fn one_column_read_in_two_roles_gives_its_value_to_both() {
    // A column the operator names twice (a login that is an e-mail, also taken as the name)
    // reaches both roles: the name, read first, must not take the value from the e-mail. A
    // usable name has no `@`, so only the e-mail survives.
    let options = DumpOptions {
        columns: Some(ColumnOverrides::parse("name=1,email=1,phone=2").unwrap()),
        ..DumpOptions::default()
    };
    check(
        "kim@example.com,01023456789\nLEE@example.com,01034567890",
        &options,
        &[
            (1, &["kim@example.com"], &["01023456789"], &[]),
            (2, &["lee@example.com"], &["01034567890"], &[]),
        ],
    );
}

#[test]
fn json_lines_and_arrays() {
    check(
        "{\"user\": {\"email\": \"Kim@Example.com\", \"name\": \"김민준\"}, \"tel\": \"010-2345-6789\"}\n\
         {\"contact\": \"lee@example.com\", \"memo\": \"연락 바람\"}",
        &sniffed(),
        &[
            (1, &["kim@example.com"], &["01023456789"], &["김민준"]),
            (2, &["lee@example.com"], &[], &[]),
        ],
    );
    check(
        "[\n  {\n    \"이름\": \"박지호\",\n    \"휴대폰\": 1045678901\n  },\n  {\"이메일\": \"p@example.com\"}\n]",
        &sniffed(),
        &[
            (2, &[], &["01045678901"], &["박지호"]),
            (6, &["p@example.com"], &[], &[]),
        ],
    );
}

#[test]
fn free_text_uses_the_scanner() {
    check(
        "판매합니다: 김민준 kim@example.com 연락처 010-2345-6789\n아무 내용 없음\n문의 ０１０－３４５６－７８９０",
        &sniffed(),
        &[
            (1, &["kim@example.com"], &["01023456789"], &[]),
            (3, &[], &["01034567890"], &[]),
        ],
    );
}

#[test]
fn malformed_quoting_costs_one_line() {
    let dump = "email,phone\n\"kim@example.com,010-2345-6789\nlee@example.com,010-3456-7890\n\"park@example.com\"x,010-4567-8901\nchoi@example.com,010-5678-9012\njung@example.com,010-6789-0123";
    check(
        dump,
        &sniffed(),
        &[
            (3, &["lee@example.com"], &["01034567890"], &[]),
            (5, &["choi@example.com"], &["01056789012"], &[]),
            (6, &["jung@example.com"], &["01067890123"], &[]),
        ],
    );
    let problems = problems(dump, &sniffed());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with("lines 2-4: malformed CSV quoting"),
        "{problems:?}"
    );
    assert!(
        problems[1].starts_with("line 4: malformed CSV quoting"),
        "{problems:?}"
    );
    // Problems never quote the dump.
    assert!(problems.iter().all(|p| !p.contains("example")));
}

#[test]
fn a_dump_without_recognisable_columns_is_refused_clearly() {
    let dump = "order_id,price,sku\n1001,12000,A-1\n1002,8000,B-7";
    let error = DumpPlan::from_sample(&dump.lines().collect::<Vec<_>>(), &sniffed()).unwrap_err();
    assert!(matches!(
        error,
        Error::NoRecognisableColumn { width: 3, .. }
    ));
    let message = error.to_string();
    assert!(message.contains("--columns"), "{message}");
    assert!(!message.contains("1001"), "{message}");
}

#[test]
fn forced_formats() {
    let options = DumpOptions {
        format: Some(RequestedFormat::Text),
        ..DumpOptions::default()
    };
    let plan = check(
        "a,kim@example.com",
        &options,
        &[(1, &["kim@example.com"], &[], &[])],
    );
    assert_eq!(plan.format, DumpFormat::Text);
    assert_eq!(
        ColumnRole::ALL.map(|role| role.as_str()),
        ["email", "phone", "name"]
    );
}

#[test]
fn cp949_lines_decode() {
    let text = "성명,이메일\n김민준,kim@example.com";
    let bytes = encoding_rs_free_cp949(text);
    let decoded: Vec<String> = bytes
        .split(|b| *b == b'\n')
        .map(|line| {
            decode_line(line, TextEncoding::Cp949)
                .unwrap()
                .0
                .into_owned()
        })
        .collect();
    assert_eq!(decoded.join("\n"), text);
}

/// CP949 bytes of the test text, written out so the test needs no encoder.
fn encoding_rs_free_cp949(text: &str) -> Vec<u8> {
    assert_eq!(text, "성명,이메일\n김민준,kim@example.com");
    let mut bytes = vec![0xBC, 0xBA, 0xB8, 0xED, b','];
    bytes.extend([0xC0, 0xCC, 0xB8, 0xDE, 0xC0, 0xCF, b'\n']);
    bytes.extend([0xB1, 0xE8, 0xB9, 0xCE, 0xC1, 0xD8, b',']);
    bytes.extend(b"kim@example.com");
    bytes
}

#[test]
fn too_many_identifiers_on_a_line_are_capped() {
    let line: String = (0..100).map(|i| format!("user{i}@example.com ")).collect();
    let options = DumpOptions {
        format: Some(RequestedFormat::Text),
        ..DumpOptions::default()
    };
    let (_, events) = parse(&line, &options);
    assert!(events.iter().any(|e| matches!(
        e,
        DumpEvent::Problem(p) if p.kind == ProblemKind::TooManyIdentifiers
    )));
}
