//! Leak watch through the real binary: `leak match` on perturbed dumps with decoys, CP949,
//! bad input, and nothing of the dump left on disk or in output; `leak scan`; and the
//! exposure range API exercised by two HIBP client libraries.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::util::{Instance, contains, files_under};

/// The vault's customers for these tests (name, e-mail, phone).
pub(crate) const CUSTOMERS: [(&str, &str, &str); 6] = [
    ("김민준", "minjun.kim@example.com", "010-2345-6789"),
    ("이서연", "seoyeon@example.co.kr", "010-3456-7890"),
    ("박지호", "jiho.park@example.net", "010-4567-8901"),
    ("최수아", "sua@example.com", "010-5678-9012"),
    ("정도윤", "doyoon@example.org", "010-6789-0123"),
    ("강하은", "haeun@example.com", "010-7890-1234"),
];

/// An instance with the customers imported; returns it and their ids in `CUSTOMERS` order.
pub(crate) fn vault_with_customers() -> (Instance, Vec<String>) {
    let instance = Instance::new();
    import_customers(&instance);
    // The import records one pii.write event per customer, in line order.
    let (code, stdout, stderr) = instance.run(&["audit", "search", "--kind", "pii.write"], None);
    assert_eq!(code, 0, "{stderr}");
    let ids: Vec<String> = stdout
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|record| record["purpose"] == "import")
        .map(|record| record["customer_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), CUSTOMERS.len());
    (instance, ids)
}

/// Imports `CUSTOMERS` into `instance`'s vault (a node of a cluster's shared one too).
pub(crate) fn import_customers(instance: &Instance) {
    let file = instance.dir.path().join("customers.jsonl");
    let text: String = CUSTOMERS
        .iter()
        .map(|(name, email, phone)| {
            format!(
                "{}\n",
                json!({"name": name, "email": email, "phone": phone})
            )
        })
        .collect();
    std::fs::write(&file, text).unwrap();
    let (code, stdout, stderr) =
        instance.run(&["customers", "import", file.to_str().unwrap()], None);
    assert_eq!(code, 0, "{stdout}{stderr}");
    std::fs::remove_file(&file).unwrap();
}

/// Decomposes Hangul syllables into conjoining jamo (NFD), as pasted text often has them.
fn nfd(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        let code = u32::from(c);
        if (0xAC00..=0xD7A3).contains(&code) {
            let index = code - 0xAC00;
            out.push(char::from_u32(0x1100 + index / (21 * 28)).unwrap());
            out.push(char::from_u32(0x1161 + (index % (21 * 28)) / 28).unwrap());
            if index % 28 != 0 {
                out.push(char::from_u32(0x11A7 + index % 28).unwrap());
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn full_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '0'..='9' | '-' => char::from_u32(u32::from(c) + 0xFEE0).unwrap(),
            other => other,
        })
        .collect()
}

/// Runs `leak match` with `args`; returns (exit code, stdout, stderr).
pub(crate) fn leak_match(instance: &Instance, dump: &Path, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["leak", "match", dump.to_str().unwrap()];
    all.extend_from_slice(args);
    instance.run(&all, None)
}

/// The matches of a `--out` JSONL file, by customer id.
fn matches(path: &Path) -> std::collections::BTreeMap<String, Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|entry| (entry["customer_id"].as_str().unwrap().to_string(), entry))
        .collect()
}

/// Asserts that no byte under the data dir, and nothing in `texts`, holds any of `needles`.
fn assert_nowhere(instance: &Instance, texts: &[&str], needles: &[String]) {
    let files = files_under(&instance.data_dir());
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        for needle in needles {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{} holds a dump value {needle:?}",
                file.display()
            );
        }
    }
    for text in texts {
        for needle in needles {
            assert!(
                !text.contains(needle.as_str()),
                "output holds {needle:?}: {text}"
            );
        }
    }
}

#[test]
fn leak_match_finds_customers_in_perturbed_dumps_with_decoys() {
    let (instance, ids) = vault_with_customers();
    let c = |i: usize| CUSTOMERS[i];
    let dump = instance.dir.path().join("dump.csv");
    let rows = [
        // 2: upper-case e-mail, digits-only phone, NFD name: all three agree.
        format!(
            "{},{},{}",
            nfd(c(0).0),
            c(0).1.to_uppercase(),
            c(0).2.replace('-', "")
        ),
        // 3: +82 spelling, no e-mail, name agrees.
        format!("{},,+82 10 3456 7890", c(1).0),
        // 4: full-width digits, e-mail agrees, name missing.
        format!(",{},{}", c(2).1, full_width(c(2).2)),
        // 5: a near-miss e-mail (decoy) with no other field.
        ",sua@example.co,".to_string(),
        // 6: someone else's phone with another name: matched on the phone, contradicted.
        format!("홍길동,stranger@example.com,{}", c(4).2),
        // 7: a stranger altogether.
        "김철수,chulsoo@example.com,010-2222-3333".to_string(),
        // 8: e-mail of customer 5, phone of customer 0: each found, each contradicted.
        format!("강하은,{},{}", c(5).1, c(0).2),
    ];
    let text = format!("이름,E-Mail,연락처\n{}\n", rows.join("\n"));
    std::fs::write(&dump, &text).unwrap();
    let out = instance.dir.path().join("matches.jsonl");
    let (code, stdout, stderr) = leak_match(
        &instance,
        &dump,
        &["--out", out.to_str().unwrap(), "--fail-on-findings"],
    );
    assert_eq!(
        code, 1,
        "--fail-on-findings exits 1 on matches: {stdout}{stderr}"
    );
    assert!(stderr.contains("name = column 1 (header name)"), "{stderr}");
    let found = matches(&out);
    let expect = |id: &str, fields: Value, confidence: &str, lines: Value| {
        let entry = found
            .get(id)
            .unwrap_or_else(|| panic!("{id} not matched: {found:#?}"));
        assert_eq!(entry["fields"], fields, "{entry}");
        assert_eq!(entry["confidence"], confidence, "{entry}");
        assert_eq!(entry["lines"], lines, "{entry}");
    };
    expect(
        &ids[0],
        json!(["email", "phone", "name"]),
        "high",
        json!([2, 8]),
    );
    expect(&ids[1], json!(["phone", "name"]), "high", json!([3]));
    expect(&ids[2], json!(["email", "phone"]), "high", json!([4]));
    expect(&ids[4], json!(["phone"]), "low", json!([6]));
    // E-mail and name agree, the phone (another customer's) contradicts.
    expect(&ids[5], json!(["email", "name"]), "medium", json!([8]));
    assert!(
        !found.contains_key(&ids[3]),
        "a near-miss e-mail matched: {found:#?}"
    );
    assert_eq!(found.len(), 5, "{found:#?}");
    assert!(stdout.contains("matched 5 customers"), "{stdout}");

    // One leak.matched event per customer, naming fields, never values.
    let (code, events, _) = instance.run(&["audit", "search", "--kind", "leak.matched"], None);
    assert_eq!(code, 0);
    let events: Vec<Value> = events
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(events.len(), 5);
    assert!(
        events.iter().all(|r| r["detail"]["source"] == "dump.csv"),
        "{events:#?}"
    );
    assert!(events.iter().all(|r| r["principal"] == "admin:cli"));

    // Nothing of the dump is on disk or in the output, not even the customers' own values as
    // the dump spelled them.
    let mut needles: Vec<String> = vec![
        "stranger@example.com".into(),
        "chulsoo@example.com".into(),
        "sua@example.co".into(),
        "010-2222-3333".into(),
        "01022223333".into(),
        "김철수".into(),
        "홍길동".into(),
    ];
    for (name, email, phone) in CUSTOMERS {
        needles.push(name.into());
        needles.push(email.into());
        needles.push(email.to_uppercase());
        needles.push(phone.into());
        needles.push(phone.replace('-', ""));
    }
    let out_text = std::fs::read_to_string(&out).unwrap();
    assert_nowhere(&instance, &[&stdout, &stderr, &out_text], &needles);
}

#[test]
fn leak_match_reads_cp949_json_and_free_text() {
    let (instance, ids) = vault_with_customers();
    // CP949, tab-separated, no header: roles from content.
    let text = format!(
        "{}\t{}\t{}\n{}\t{}\t{}\n",
        CUSTOMERS[0].0,
        CUSTOMERS[0].1,
        CUSTOMERS[0].2,
        CUSTOMERS[3].0,
        CUSTOMERS[3].1,
        CUSTOMERS[3].2
    );
    let (bytes, _, unmappable) = encoding_rs::EUC_KR.encode(&text);
    assert!(!unmappable);
    let dump = instance.dir.path().join("dump-cp949.tsv");
    std::fs::write(&dump, &bytes).unwrap();
    let out = instance.dir.path().join("m.csv");
    let (code, stdout, stderr) = leak_match(&instance, &dump, &["--out", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stderr.contains("encoding cp949"), "{stderr}");
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(
        csv.starts_with("customer_id,confidence,fields,rows,lines\n"),
        "{csv}"
    );
    for id in [&ids[0], &ids[3]] {
        assert!(
            csv.contains(&format!("{id},high,email;phone;name,1,")),
            "{csv}"
        );
    }

    // JSON lines with nested keys.
    let dump = instance.dir.path().join("dump.jsonl");
    std::fs::write(
        &dump,
        format!(
            "{}\n{}\n",
            json!({"user": {"mail": CUSTOMERS[2].1.to_uppercase()}, "tel": CUSTOMERS[2].2}),
            json!({"contact": CUSTOMERS[5].2.replace('-', ".")})
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = leak_match(&instance, &dump, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains(&format!("{}\thigh\temail,phone\t1\t1", ids[2])),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{}\tmedium\tphone\t1\t2", ids[5])),
        "{stdout}"
    );

    // A paste: the scanner pulls e-mails and phones out of prose.
    let dump = instance.dir.path().join("paste.txt");
    std::fs::write(
        &dump,
        format!(
            "팝니다 한국 계정 리스트\n연락처 {} / 메일 {}\n문의는 텔레그램\n",
            full_width(CUSTOMERS[4].2),
            CUSTOMERS[4].1
        ),
    )
    .unwrap();
    let (code, stdout, stderr) = leak_match(&instance, &dump, &["--fail-on-findings"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stderr.contains("free text"), "{stderr}");
    assert!(
        stdout.contains(&format!("{}\thigh\temail,phone\t1\t2", ids[4])),
        "{stdout}"
    );
}

#[test]
fn leak_match_survives_bad_input() {
    let (instance, ids) = vault_with_customers();
    let good = |i: usize| format!("{},{}", CUSTOMERS[i].1, CUSTOMERS[i].2);
    // Broken quoting, binary bytes, a 3 MiB line, a CP949 line in a UTF-8 file.
    let mut bytes = b"email,phone\n".to_vec();
    bytes.extend(format!("{}\n", good(0)).as_bytes());
    bytes.extend(b"\"unterminated,010-1111-2222\n");
    bytes.extend(format!("{}\n", good(1)).as_bytes());
    bytes.extend(b"\x00\x01\x02garbage\xff\xfe\n");
    bytes.extend("x".repeat(3 << 20).as_bytes());
    bytes.push(b'\n');
    bytes.extend(
        encoding_rs::EUC_KR
            .encode(&format!("{},김민준\n", CUSTOMERS[2].1))
            .0
            .as_ref(),
    );
    bytes.extend(format!("\"{}\"oops,{}\n", CUSTOMERS[3].1, CUSTOMERS[3].2).as_bytes());
    bytes.extend(format!("{}\n", good(4)).as_bytes());
    let dump = instance.dir.path().join("bad.csv");
    std::fs::write(&dump, &bytes).unwrap();
    let (code, stdout, stderr) = leak_match(&instance, &dump, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    for expected in [
        "line 5: binary data",
        "line 6: longer than 1024 KiB; skipped",
        "malformed CSV quoting",
    ] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }
    // Rows after every bad line were still read.
    for id in [&ids[0], &ids[1], &ids[2], &ids[4]] {
        assert!(stdout.contains(id.as_str()), "{id}: {stdout}");
    }
    assert!(stdout.contains("1 lines read as cp949"), "{stdout}");
    assert!(!stderr.contains("unterminated") && !stdout.contains("garbage"));

    // Binary garbage as a whole file: refused with a clear message, exit 2.
    let garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let file = instance.dir.path().join("garbage.bin");
    std::fs::write(&file, &garbage).unwrap();
    let (code, _, stderr) = leak_match(&instance, &file, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("does not look like text"), "{stderr}");

    // No recognisable column: exit 2, naming --columns, quoting nothing.
    let file = instance.dir.path().join("orders.csv");
    std::fs::write(
        &file,
        "order_id,price,sku\n1001,12000,A-77\n1002,8000,B-7\n",
    )
    .unwrap();
    let (code, _, stderr) = leak_match(&instance, &file, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("no column looks like an e-mail, phone or name"),
        "{stderr}"
    );
    assert!(stderr.contains("--columns"), "{stderr}");
    assert!(!stderr.contains("12000"), "{stderr}");
    // ... unless the operator names the columns.
    let file = instance.dir.path().join("numbers.csv");
    std::fs::write(&file, format!("a,{}\n", CUSTOMERS[5].2.replace('-', " "))).unwrap();
    let (code, stdout, stderr) = leak_match(
        &instance,
        &file,
        &["--format", "csv", "--columns", "phone=2"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains(ids[5].as_str()), "{stdout}{stderr}");
}

#[test]
fn leak_scan_masks_by_default_and_reveals_on_request() {
    let instance = Instance::new();
    let file = instance.dir.path().join("paste.txt");
    std::fs::write(
        &file,
        "주문자 홍길동 010-2345-6789\n주민번호 900101-1234568, 통관부호 P123456789012\n주문번호 2024031512345\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();
    let (code, stdout, stderr) = instance.run(&["leak", "scan", path, "--fail-on-findings"], None);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.contains(":1:9: mobile"), "{stdout}");
    assert!(stdout.contains(" 010-****-6789 (shape: "), "{stdout}");
    assert!(stdout.contains(":2:6: rrn"), "{stdout}");
    assert!(stdout.contains("checksum_valid"), "{stdout}");
    assert!(
        !stdout.contains("2345-6789") && !stdout.contains("1234568"),
        "{stdout}"
    );
    assert!(!stdout.contains("2024031512345"), "{stdout}");
    let (code, stdout, _) = instance.run(&["leak", "scan", path, "--reveal"], None);
    assert_eq!(code, 0);
    assert!(stdout.contains("010-2345-6789"), "{stdout}");
    let (code, stdout, _) = instance.run(
        &["leak", "scan", "-", "--format", "json"],
        Some("통관고유부호: P123456789012\n"),
    );
    assert_eq!(code, 0);
    let finding: Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(finding["kind"], "customs_code");
    assert_eq!(finding["line"], 1);
    assert_eq!(finding["masked"], true);
    assert!(
        finding["reasons"].as_array().unwrap().len() >= 2,
        "{finding}"
    );
}

/// SHA-1 of a normalised identifier, upper-case hex (what HIBP clients compute).
pub(crate) fn sha1_hex(identifier: &str) -> String {
    let digest = sha1_digest(identifier.as_bytes());
    digest.iter().map(|b| format!("{b:02X}")).collect()
}

/// A small SHA-1 for the test, so it checks the server against an independent computation.
fn sha1_digest(message: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut data = message.to_vec();
    let bit_length = (message.len() as u64) * 8;
    data.push(0x80);
    while data.len() % 64 != 56 {
        data.push(0);
    }
    data.extend(bit_length.to_be_bytes());
    for block in data.chunks(64) {
        let mut w = [0u32; 80];
        for i in 0..16 {
            w[i] = u32::from_be_bytes(block[i * 4..i * 4 + 4].try_into().unwrap());
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, word) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let next = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*word);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = next;
        }
        for (state, value) in h.iter_mut().zip([a, b, c, d, e]) {
            *state = state.wrapping_add(value);
        }
    }
    let mut out = [0u8; 20];
    for (i, word) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_be_bytes());
    }
    out
}

#[tokio::test]
async fn exposure_ranges_serve_hibp_clients() {
    let (instance, _) = vault_with_customers();
    // Off by default (they publish the list): a server without the setting says so.
    let server = instance.serve();
    let (status, answer) = crate::util::status_and_json(
        server
            .client
            .get(server.url("/v1/exposure/range/ABCDE"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 404, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap()
            .contains("dangerous_public_sha1_ranges"),
        "{answer}"
    );
    server.terminate();
    let instance = instance.with_env("HAECHI_EXPOSURE__DANGEROUS_PUBLIC_SHA1_RANGES", "true");
    // Customer 0 and 1 leak (e-mail of one, phone of the other).
    let dump = instance.dir.path().join("dump.csv");
    std::fs::write(
        &dump,
        format!("email,phone\n{},\n,{}\n", CUSTOMERS[0].1, CUSTOMERS[1].2),
    )
    .unwrap();
    let (code, stdout, stderr) = leak_match(&instance, &dump, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("2 exposed identifiers recorded (2 new)"),
        "{stdout}"
    );
    // A second sighting counts up.
    let (code, stdout, _) = leak_match(&instance, &dump, &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("(0 new)"), "{stdout}");

    let server = instance.serve();
    let exposed_email = CUSTOMERS[0].1;
    let exposed_phone = CUSTOMERS[1].2.replace('-', "");
    let hash = sha1_hex(exposed_email);
    let (prefix, suffix) = hash.split_at(5);
    let response = server
        .client
        .get(server.url(&format!("/v1/exposure/range/{}", prefix.to_lowercase())))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    let body = response.text().await.unwrap();
    assert!(
        body.split("\r\n").any(|line| line == format!("{suffix}:2")),
        "{body:?}"
    );
    assert!(!body.ends_with('\n') && !body.contains("\n\n"));
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let etag = headers["etag"].to_str().unwrap().to_string();
    // Revalidation: 304 with the same ETag, no body.
    let response = server
        .client
        .get(server.url(&format!("/v1/exposure/range/{prefix}")))
        .header("If-None-Match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 304);
    assert_eq!(response.headers()["etag"].to_str().unwrap(), etag);
    // Padding: at least 800 lines, ours among them, the rest count 0.
    let padded = server
        .client
        .get(server.url(&format!("/v1/exposure/range/{prefix}")))
        .header("Add-Padding", "true")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let lines: Vec<&str> = padded.split("\r\n").collect();
    assert!(lines.len() >= 800, "{}", lines.len());
    assert_eq!(lines.iter().filter(|l| !l.ends_with(":0")).count(), 1);

    // Two independent HIBP client libraries, by base URL only.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/hibp_range.py");
    let output = Command::new("python3")
        .arg(&script)
        .arg(&server.base)
        .args(["--exposed", exposed_email, &exposed_phone])
        .args([
            "--absent",
            CUSTOMERS[2].1,
            "01099998888",
            "nobody@example.com",
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "HIBP clients: {report}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(report.trim()).unwrap();
    assert_eq!(report["pwnedpasswords"][exposed_email], 2);
    assert_eq!(report["pyhibp_padded"][&exposed_phone], 2);

    // The server log carries no prefix and no identifier.
    let log = server.log().join("\n");
    assert!(
        !log.contains(prefix) && !log.contains(exposed_email),
        "{log}"
    );
    // And the table holds hashes, not identifiers.
    let database = std::fs::read(instance.data_dir().join("haechi.db")).unwrap();
    assert!(!contains(&database, exposed_email.as_bytes()));
}

#[tokio::test]
async fn hostile_range_requests_get_json_errors_and_a_rate_limit() {
    let instance =
        Instance::new().with_env("HAECHI_EXPOSURE__DANGEROUS_PUBLIC_SHA1_RANGES", "true");
    let server = instance.serve();
    for bad in [
        "ABCD",
        "ABCDEF",
        "GHIJK",
        "12%2034",
        "%00%00%00%00%00",
        "１２３４５",
        "12345%2F..",
        &"A".repeat(5000),
    ] {
        let response = server
            .client
            .get(server.url(&format!("/v1/exposure/range/{bad}")))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert!(status == 400 || status == 404, "{bad:?}: {status} {body}");
        assert!(body["error"].is_string(), "{bad:?}: {body}");
        if status == 400 {
            assert!(
                body["message"].as_str().unwrap().contains("5 hexadecimal"),
                "{body}"
            );
        }
    }
    // One source: the burst is admitted, then 429 with Retry-After.
    let mut limited = None;
    for _ in 0..200 {
        let response = server
            .client
            .get(server.url("/v1/exposure/range/00000"))
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
    }
    let limited = limited.expect("no 429 after 200 requests from one address");
    assert!(limited.headers().contains_key("retry-after"));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"], "rate_limited");
}

/// The snapshot of the blind index (`--index snapshot`) finds exactly what per-batch database
/// lookups (`--index lookups`) find, with the same vault counts, and opening the whole vault
/// (`--index vault`, what dumps of the vault's size get) finds the same again, on a
/// generated dump of customers in dump spellings, strangers, and strangers who carry a
/// customer's phone. Batches of 7 rows make many batches, so records opened by one batch are
/// reused by later ones.
#[test]
fn leak_match_over_a_snapshot_or_the_whole_vault_finds_what_lookups_find() {
    let instance = Instance::new();
    let surnames = ["김", "이", "박", "최", "정", "강", "조", "윤"];
    let given = [
        "민준", "서연", "지호", "수아", "도윤", "하은", "시우", "지유",
    ];
    let name = |i: usize| format!("{}{}", surnames[i % 8], given[(i / 8) % 8]);
    let email = |i: usize| format!("customer{i}@example.com");
    let phone = |i: usize| format!("010-{:04}-{:04}", 2000 + i, 7000 + i * 3);
    let customers: String = (0..150)
        .map(|i| {
            format!(
                "{}\n",
                json!({"name": name(i), "email": email(i), "phone": phone(i)})
            )
        })
        .collect();
    let file = instance.dir.path().join("customers.jsonl");
    std::fs::write(&file, customers).unwrap();
    let (code, stdout, stderr) =
        instance.run(&["customers", "import", file.to_str().unwrap()], None);
    assert_eq!(code, 0, "{stdout}{stderr}");

    let mut rows = vec!["성명,이메일,휴대폰".to_string()];
    for i in 0..150 {
        rows.push(match i % 5 {
            // Every spelling a dump uses; each customer's name agrees or is another's.
            0 => format!(
                "{},{},{}",
                name(i),
                email(i).to_uppercase(),
                phone(i).replace('-', "")
            ),
            1 => format!("{},,+82 {}", nfd(&name(i)), &phone(i)[1..]),
            2 => format!(",{},{}", email(i), full_width(&phone(i))),
            // A stranger with a customer's phone: found, contradicted by e-mail and name.
            3 => format!("홍길동,stranger{i}@example.org,{}", phone(i)),
            // A stranger altogether.
            _ => format!("{},nobody{i}@example.net,010-9{i:03}-1{i:03}", name(i + 1)),
        });
    }
    // The same customers again on later lines: a record opened once serves every batch.
    for i in (0..150).step_by(4) {
        rows.push(format!("{},{},", name(i), email(i)));
    }
    let dump = instance.dir.path().join("dump.csv");
    std::fs::write(&dump, rows.join("\n") + "\n").unwrap();

    let run = |index: &str| {
        let out = instance.dir.path().join(format!("matches-{index}.jsonl"));
        let (code, stdout, stderr) = leak_match(
            &instance,
            &dump,
            &[
                "--index",
                index,
                "--batch",
                "7",
                "--out",
                out.to_str().unwrap(),
                "--fail-on-findings",
            ],
        );
        assert_eq!(code, 1, "{stdout}{stderr}");
        let vault = stdout
            .lines()
            .find(|line| line.starts_with("vault ("))
            .and_then(|line| line.split_once("): "))
            .map(|(_, counts)| counts)
            .unwrap_or_else(|| panic!("{stdout}"));
        // Exposures recorded for the first time differ between the runs, and so can the
        // decryption count (batches in flight together may both decrypt a candidate neither
        // has cached yet); lookups and candidates must not.
        let vault = vault
            .split(';')
            .next()
            .unwrap()
            .split(", ")
            .filter(|part| !part.contains("records decrypted"))
            .collect::<Vec<_>>()
            .join(", ");
        let matched = stdout
            .lines()
            .find(|line| line.starts_with("matched "))
            .unwrap()
            .to_string();
        (matches(&out), matched, vault)
    };
    let (by_snapshot, matched_snapshot, vault_snapshot) = run("snapshot");
    let (by_lookups, matched_lookups, vault_lookups) = run("lookups");
    assert_eq!(by_snapshot, by_lookups);
    assert_eq!(matched_snapshot, matched_lookups);
    assert_eq!(vault_snapshot, vault_lookups);
    // Opening every record once finds the same, without a single blind-index lookup.
    let (by_vault, matched_vault, vault_vault) = run("vault");
    assert_eq!(by_vault, by_lookups);
    assert_eq!(matched_vault, matched_lookups);
    assert!(
        vault_vault.starts_with("0 blind-index lookups"),
        "{vault_vault}"
    );
    // 120 customers from the first 150 rows (all but the strangers'), and the 8 of the
    // strangers' lines found by the later rows (i ≡ 4 mod 20). Of the 30 found through a
    // stranger's row, which contradicts them, the 8 with a later row of their own (i ≡ 8 mod
    // 20) are high; 22 stay low.
    assert_eq!(by_snapshot.len(), 128, "{by_snapshot:#?}");
    let low = by_snapshot
        .values()
        .filter(|entry| entry["confidence"] == "low")
        .count();
    assert_eq!(low, 22, "{matched_snapshot}");
}

/// A record whose sealed e-mail was swapped with another customer's in the database fails
/// authentication when the pass over the whole vault opens it: the run stops with a message
/// naming the problem (no panic, no partial report), and never matches the swapped value.
#[test]
fn leak_match_over_the_whole_vault_refuses_a_tampered_record() {
    let (instance, ids) = vault_with_customers();
    let database = instance.data_dir().join("haechi.db");
    let swap = "import sqlite3, sys\n\
         db = sqlite3.connect(sys.argv[1])\n\
         a, b = sys.argv[2], sys.argv[3]\n\
         ea = db.execute('SELECT email FROM customers WHERE customer_id = ?', (a,)).fetchone()[0]\n\
         eb = db.execute('SELECT email FROM customers WHERE customer_id = ?', (b,)).fetchone()[0]\n\
         db.execute('UPDATE customers SET email = ? WHERE customer_id = ?', (eb, a))\n\
         db.execute('UPDATE customers SET email = ? WHERE customer_id = ?', (ea, b))\n\
         db.commit()\n";
    let status = std::process::Command::new("python3")
        .args(["-c", swap, database.to_str().unwrap(), &ids[0], &ids[1]])
        .status()
        .unwrap();
    assert!(status.success());
    let dump = instance.dir.path().join("dump.csv");
    std::fs::write(
        &dump,
        format!("이메일,휴대폰\n{},{}\n", CUSTOMERS[1].1, CUSTOMERS[1].2),
    )
    .unwrap();
    let (code, stdout, stderr) = leak_match(&instance, &dump, &["--index", "vault"]);
    assert_eq!(code, 2, "{stdout}{stderr}");
    assert!(
        stderr.contains("cannot open the vault's records")
            && stderr.contains("failed authentication"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stdout.contains(&ids[0]) && !stdout.contains(&ids[1]),
        "{stdout}"
    );
}

/// `leak scan --smishing`: a paste of messages, one per paragraph; those that look like
/// smishing in the company's name are reported by place and signals, never by text.
#[test]
fn a_paste_of_messages_is_read_for_smishing_in_the_companys_name() {
    let instance = crate::util::Instance::new();
    let paste = instance.dir.path().join("paste.txt");
    std::fs::write(
        &paste,
        "[Web발신]\n[해치몰] 개인정보 유출 피해보상금 신청 대상입니다.\nhttps://haechimall-refund.top\n\n\
         [해치몰] 개인정보 노출 안내 HC-7K2M-9QXD 확인: https://portal.haechi-mall.co.kr\n\n\
         엄마 폰 액정이 깨져서 이 번호로 문자해. 상품권 사야 하는데 카드번호랑 비밀번호 보내줄래?\n\n\
         내일 점심 같이 먹어요\n",
    )
    .unwrap();
    let (code, _, stderr) = instance.run(
        &["leak", "scan", "--smishing", paste.to_str().unwrap()],
        None,
    );
    assert_eq!(code, 2, "without [notice] the company is unknown");
    assert!(stderr.contains("[notice]"), "{stderr}");
    let instance = instance
        .with_env("HAECHI_NOTICE__COMPANY", "해치몰")
        .with_env(
            "HAECHI_NOTICE__PORTAL_ORIGIN",
            "https://portal.haechi-mall.co.kr",
        )
        .with_env("HAECHI_NOTICE__CONTACT_NUMBERS", "[\"1588-1234\"]");
    let (code, stdout, stderr) = instance.run(
        &[
            "leak",
            "scan",
            "--smishing",
            "--format",
            "json",
            "--fail-on-findings",
            paste.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("4 messages, 2 look like smishing"),
        "{stderr}"
    );
    let flagged: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(flagged[0]["message"], 1);
    assert_eq!(flagged[0]["first_line"], 1);
    assert_eq!(flagged[1]["message"], 3);
    assert!(
        stdout.contains("look_alike_domain") && stdout.contains("asks_for_secret"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("피해보상금") && !stdout.contains("엄마"),
        "texts are not printed"
    );
}
