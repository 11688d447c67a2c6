//! Loading: every error names file, rule id and line; a bad rule never stops the others.

use haechi_detect::{Error, RuleError, load_path, load_str};

const GOOD: &str = "id: good.one
title: good
description: a good rule
false_positives: none
severity: low
detection:
  read: {kind: pii.read}
  condition: read
";

/// The single error of loading `text`, which must fail.
fn error_of(text: &str) -> RuleError {
    let report = load_str("rules/test.yaml", text);
    assert!(report.rules.is_empty(), "loaded: {text}");
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    match report.errors.into_iter().next() {
        Some(Error::Rule(error)) => error,
        other => panic!("not a rule error: {other:?}"),
    }
}

/// `GOOD` with `from` replaced by `to`.
fn good_with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "{from}");
    GOOD.replacen(from, to, 1)
}

#[test]
fn errors_name_file_rule_and_line() {
    // (rule text, expected line, words the message must contain)
    let cases: Vec<(String, usize, &[&str])> = vec![
        (
            good_with("severity: low", "severity: low\ncolour: red"),
            6,
            &["unknown key `colour`"],
        ),
        (
            good_with("severity: low", "severity: urgent"),
            5,
            &["unknown severity"],
        ),
        (
            good_with("{kind: pii.read}", "{kind: pii.read, colour: red}"),
            7,
            &["unknown field \"colour\""],
        ),
        (
            good_with("{kind: pii.read}", "{user_agent|re: '(?:a+){999}{999}'}"),
            7,
            &["bad regex"],
        ),
        (
            good_with("condition: read", "condition: read and nothing"),
            8,
            &["no selection named `nothing`"],
        ),
        (
            good_with("false_positives: none\n", ""),
            1,
            &["requires `false_positives`"],
        ),
        (
            good_with(
                "  condition: read\n",
                "  condition: read\ncorrelation:\n  type: event_count\n  group-by: [ip]\n  timespan: 30d\n  condition: {gte: 5}\n",
            ),
            12,
            &["timespan", "unbounded"],
        ),
        (
            good_with(
                "  condition: read\n",
                "  condition: read\ncorrelation:\n  type: event_count\n  group-by: [request_id]\n  timespan: 1h\n  condition: {gte: 5}\n",
            ),
            11,
            &["request_id", "max_groups"],
        ),
        (
            good_with(
                "  condition: read\n",
                "  condition: read\ncorrelation:\n  type: value_count\n  group-by: [ip]\n  timespan: 1h\n  condition: {gte: 5}\n",
            ),
            10,
            &["requires `field`"],
        ),
        (
            good_with(
                "  condition: read\n",
                "  condition: read\nresponse:\n  dry_run: false\n  actions:\n    - block_network: {prefix_len: 32, ttl: 1h}\n    - block_network: {prefix_len: 24, ttl: 1h}\n",
            ),
            13,
            &["conflicting"],
        ),
        (
            good_with(
                "  condition: read\n",
                "  condition: read\nresponse:\n  actions: [revoke_key]\n",
            ),
            10,
            &["dry_run"],
        ),
        (
            good_with(
                "  condition: read\n",
                "  condition: read\nresponse:\n  dry_run: false\n  actions:\n    - block_network: {prefix_len: 8, ttl: 1h}\n",
            ),
            12,
            &["prefix_len", "between 16 and 32"],
        ),
        (
            good_with(
                "  condition: read\n",
                "  condition: read\nresponse:\n  dry_run: false\n  actions: [revoke_key]\n  max_actions: 0\n",
            ),
            12,
            &["max_actions: 0"],
        ),
        (
            good_with(
                "  condition: read\n",
                "  condition: read\nresponse:\n  dry_run: false\n  actions: [launch_missiles]\n",
            ),
            11,
            &["unknown action"],
        ),
        // The parser notices the unclosed list on the next line.
        (
            good_with("title: good", "title: [good"),
            3,
            &["invalid YAML"],
        ),
        (
            good_with("title: good", "title: &anchor good"),
            2,
            &["anchors"],
        ),
    ];
    for (text, line, words) in cases {
        let error = error_of(&text);
        assert_eq!(error.file, "rules/test.yaml");
        assert_eq!(error.rule_id.as_deref(), Some("good.one"), "{error}");
        assert_eq!(error.line, line, "{error}\n{text}");
        let printed = error.to_string();
        assert!(
            printed.starts_with(&format!("rules/test.yaml:{line}:")),
            "{printed}"
        );
        assert!(printed.contains("rule good.one: "), "{printed}");
        for word in words {
            assert!(printed.contains(word), "{printed} lacks {word:?}");
        }
    }
}

#[test]
fn a_bad_rule_never_stops_the_others() {
    let text = format!(
        "{GOOD}---\n{}---\n{}",
        GOOD.replace("good.one", "bad.two")
            .replace("pii.read", "pii.reads"),
        GOOD.replace("good.one", "good.three")
    );
    let report = load_str("mixed.yaml", &text);
    let ids: Vec<&str> = report.rules.iter().map(|rule| rule.id()).collect();
    assert_eq!(ids, vec!["good.one", "good.three"]);
    assert_eq!(report.errors.len(), 1);
    let message = report.errors[0].to_string();
    assert!(message.starts_with("mixed.yaml:16:"), "{message}");
    assert!(message.contains("rule bad.two"), "{message}");
    assert!(
        message.contains("unknown event kind \"pii.reads\""),
        "{message}"
    );
}

#[test]
fn duplicate_ids_are_refused() {
    let report = load_str("dup.yaml", &format!("{GOOD}---\n{GOOD}"));
    assert_eq!(report.rules.len(), 1);
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].to_string().contains("already has this id"));
}

#[test]
fn hostile_files_are_refused_quickly() {
    let huge = "a".repeat(haechi_detect::MAX_RULE_FILE_BYTES + 1);
    assert_eq!(load_str("huge.yaml", &huge).errors.len(), 1);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert_eq!(load_str("deep.yaml", &deep).errors.len(), 1);
    let laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n";
    assert!(
        load_str("laughs.yaml", laughs).errors[0]
            .to_string()
            .contains("anchors")
    );
}

#[test]
fn directories_load_in_name_order() {
    let directory = std::env::temp_dir().join(format!("haechi-detect-{}", std::process::id()));
    std::fs::create_dir_all(&directory).unwrap();
    std::fs::write(directory.join("b.yaml"), GOOD.replace("good.one", "b.rule")).unwrap();
    std::fs::write(directory.join("a.yml"), GOOD.replace("good.one", "a.rule")).unwrap();
    std::fs::write(directory.join("c.yaml"), "id: c.rule\ntitle: [").unwrap();
    std::fs::write(directory.join("notes.txt"), "not a rule").unwrap();
    let report = load_path(&directory);
    let ids: Vec<&str> = report.rules.iter().map(|rule| rule.id()).collect();
    assert_eq!(ids, vec!["a.rule", "b.rule"]);
    assert_eq!(report.errors.len(), 1);
    let message = report.errors[0].to_string();
    // The YAML error is found at the end of the file, line 3.
    assert!(message.contains("c.yaml:3:"), "{message}");
    assert!(message.contains("rule c.rule"), "{message}");
    std::fs::remove_dir_all(&directory).unwrap();

    let missing = load_path(&directory);
    assert!(matches!(missing.errors.as_slice(), [Error::Io { .. }]));
}

#[test]
fn a_probation_needs_a_value_count_and_a_retention_at_least_as_long() {
    let with = |extra: &str| {
        format!(
            "{GOOD}correlation:\n  type: value_count\n  group-by: [principal]\n  timespan: 1m\n  \
             condition: {{field: customer_id, gte: 5}}\n{extra}"
        )
    };
    let report = load_str(
        "rules/test.yaml",
        &with("  probation: 1d\n  retention: 30d\n"),
    );
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let report = load_str("rules/test.yaml", &with("  probation: 1d\n"));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        report.rules[0].history_needed(),
        std::time::Duration::from_secs(30 * 86_400)
    );
    let error = error_of(&with("  retention: 30d\n"));
    assert!(error.message.contains("goes with `probation`"), "{error:?}");
    assert_eq!(error.line, 14);
    let error = error_of(&with("  probation: 2d\n  retention: 1d\n"));
    assert!(
        error.message.contains("at least the `probation`"),
        "{error:?}"
    );
    let error = error_of(&good_with(
        "severity: low\n",
        "severity: low\ncorrelation:\n  type: event_count\n  group-by: [ip]\n  timespan: 1m\n  \
         condition: {gte: 5}\n  probation: 1d\n",
    ));
    assert!(error.message.contains("probation"), "{error:?}");
}
