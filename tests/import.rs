//! `haechi customers import`: the bulk path, from a file (resumable) and from a pipe.

use serde_json::Value;

use crate::util::{Instance, contains, files_under};

#[test]
fn no_plaintext_personal_data_reaches_the_disk_after_a_bulk_import() {
    let instance = Instance::new();
    let file = instance.dir.path().join("customers.jsonl");
    let (code, _, stderr) = instance.run(
        &[
            "customers",
            "generate",
            "--count",
            "200",
            "--seed",
            "7",
            "--out",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    // Add hostile lines among the good ones.
    let mut text = std::fs::read_to_string(&file).unwrap();
    text.push_str("{not json\n");
    text.push_str("{\"name\":\"x\"}\n");
    let first_line = text.lines().next().unwrap().to_string();
    text.push_str(&first_line);
    text.push('\n');
    std::fs::write(&file, &text).unwrap();
    let (code, stdout, stderr) =
        instance.run(&["customers", "import", file.to_str().unwrap()], None);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("imported 200, rejected 3"),
        "{stdout}{stderr}"
    );
    assert!(stderr.contains("line 201: rejected"), "{stderr}");
    assert!(
        stderr.contains("line 203: rejected: a customer with this e-mail"),
        "{stderr}"
    );
    // A rerun resumes after the last committed line: nothing is imported twice.
    let (code, stdout, _) = instance.run(&["customers", "import", file.to_str().unwrap()], None);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("imported 0, rejected 0, skipped 203"),
        "{stdout}"
    );

    let mut needles: Vec<String> = Vec::new();
    for line in text.lines().take(200) {
        let record: Value = serde_json::from_str(line).unwrap();
        needles.push(record["name"].as_str().unwrap().to_string());
        needles.push(record["email"].as_str().unwrap().to_string());
        needles.push(record["phone"].as_str().unwrap().to_string());
        needles.push(record["phone"].as_str().unwrap().replace('-', ""));
        needles.push(record["customs_code"].as_str().unwrap().to_string());
        for address in record["addresses"].as_array().unwrap() {
            needles.push(address["road_address"].as_str().unwrap().to_string());
            if let Some(note) = address["entrance_note"].as_str() {
                needles.push(note.to_string());
            }
        }
    }
    for file in files_under(&instance.data_dir()) {
        let bytes = std::fs::read(&file).unwrap();
        for needle in &needles {
            assert!(
                !contains(&bytes, needle.as_bytes()),
                "{} contains a plaintext value",
                file.display()
            );
        }
    }
}

#[test]
fn an_import_from_standard_input_lists_the_ids_of_the_customers_it_stored() {
    let instance = Instance::new();
    let (code, generated, stderr) = instance.run(
        &["customers", "generate", "--count", "50", "--seed", "11"],
        None,
    );
    assert_eq!(code, 0, "{stderr}");
    // A hostile line between good ones: rejected by its line, and absent from the ids.
    let mut lines: Vec<&str> = generated.lines().collect();
    lines.insert(10, "{\"name\":\"no contact\"}");
    let input = lines.join("\n") + "\n";
    let ids_file = instance.dir.path().join("ids.tsv");
    let args = [
        "customers",
        "import",
        "-",
        "--ids-out",
        ids_file.to_str().unwrap(),
    ];
    let (code, stdout, stderr) = instance.run(&args, Some(&input));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(
            "imported 50, rejected 1, skipped 0 (already imported) from (standard input)"
        ),
        "{stdout}{stderr}"
    );
    assert!(stderr.contains("line 11: rejected"), "{stderr}");
    let listed = std::fs::read_to_string(&ids_file).unwrap();
    let mut numbers = Vec::new();
    for row in listed.lines() {
        let (line, id) = row.split_once('\t').unwrap();
        numbers.push(line.parse::<u64>().unwrap());
        assert!(
            id.len() == 33 && id.starts_with('c') && id[1..].bytes().all(|b| b.is_ascii_hexdigit()),
            "{row}"
        );
    }
    numbers.sort_unstable();
    let expected: Vec<u64> = (1..=51).filter(|line| *line != 11).collect();
    assert_eq!(numbers, expected);
    // The listed ids are the customers the import recorded writing, one each.
    let listed_ids: std::collections::BTreeSet<String> = listed
        .lines()
        .map(|row| row.split_once('\t').unwrap().1.to_string())
        .collect();
    let (code, records, stderr) = instance.run(&["audit", "search", "--kind", "pii.write"], None);
    assert_eq!(code, 0, "{stderr}");
    let written: std::collections::BTreeSet<String> = records
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .filter(|event| event["purpose"] == "import")
        .map(|event| event["customer_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed_ids, written);
    // A pipe is never resumed: the same input again imports nothing new (every contact is
    // taken) and the ids file is rewritten empty, not appended to.
    let (code, stdout, stderr) = instance.run(&args, Some(&input));
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("imported 0, rejected 51, skipped 0"),
        "{stdout}{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&ids_file).unwrap(), "");
}
