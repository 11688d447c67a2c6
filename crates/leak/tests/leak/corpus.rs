//! Precision and recall per kind over `tests/corpus/*.txt`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use haechi_leak::{PiiKind, scan};

/// The bar the whole corpus must clear.
const MINIMUM_PRECISION: f64 = 0.95;
const MINIMUM_RECALL: f64 = 0.95;

/// One expected finding: its kind and byte span in the unmarked line.
#[derive(Debug, Clone)]
struct Label {
    kind: PiiKind,
    start: usize,
    end: usize,
}

/// Strips `[[kind:text]]` markers from a corpus line, returning the plain text and labels.
fn parse_line(line: &str) -> (String, Vec<Label>) {
    let mut text = String::with_capacity(line.len());
    let mut labels = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find("[[") {
        text.push_str(&rest[..open]);
        let after = &rest[open + 2..];
        let close = after.find("]]").expect("a label closes with ]]");
        let (kind, value) = after[..close]
            .split_once(':')
            .expect("a label is [[kind:text]]");
        let kind = PiiKind::from_label(kind).unwrap_or_else(|| panic!("unknown kind {kind:?}"));
        labels.push(Label {
            kind,
            start: text.len(),
            end: text.len() + value.len(),
        });
        text.push_str(value);
        rest = &after[close + 2..];
    }
    text.push_str(rest);
    (text, labels)
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    true_positives: u32,
    false_positives: u32,
    false_negatives: u32,
    exact_spans: u32,
}

impl Counts {
    fn precision(self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    fn recall(self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }

    fn add(&mut self, other: Counts) {
        self.true_positives += other.true_positives;
        self.false_positives += other.false_positives;
        self.false_negatives += other.false_negatives;
        self.exact_spans += other.exact_spans;
    }
}

fn ratio(numerator: u32, denominator: u32) -> f64 {
    if denominator == 0 {
        1.0
    } else {
        f64::from(numerator) / f64::from(denominator)
    }
}

#[test]
fn corpus_precision_and_recall() {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "txt"))
        .collect();
    files.sort();
    let mut per_kind: BTreeMap<PiiKind, Counts> = BTreeMap::new();
    let mut mistakes = String::new();
    let mut lines = 0;
    for file in &files {
        let content = std::fs::read_to_string(file).unwrap();
        for line in content.lines() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            lines += 1;
            let (text, labels) = parse_line(line);
            let findings = scan(&text);
            let mut matched = vec![false; labels.len()];
            for finding in &findings {
                let label = labels.iter().enumerate().find(|(i, label)| {
                    !matched[*i]
                        && label.kind == finding.kind
                        && label.start < finding.end
                        && finding.start < label.end
                });
                let counts = per_kind.entry(finding.kind).or_default();
                match label {
                    Some((i, label)) => {
                        matched[i] = true;
                        counts.true_positives += 1;
                        if label.start == finding.start && label.end == finding.end {
                            counts.exact_spans += 1;
                        } else {
                            let _ = writeln!(
                                mistakes,
                                "span {}: {:?} found as {:?} in {text}",
                                finding.kind,
                                &text[label.start..label.end],
                                finding.text(&text)
                            );
                        }
                    }
                    None => {
                        counts.false_positives += 1;
                        let _ = writeln!(
                            mistakes,
                            "FP {} {:.2} {:?} {:?} in {text}",
                            finding.kind,
                            finding.confidence,
                            finding.text(&text),
                            finding.reasons
                        );
                    }
                }
            }
            for (label, found) in labels.iter().zip(&matched) {
                if !found {
                    per_kind.entry(label.kind).or_default().false_negatives += 1;
                    let _ = writeln!(
                        mistakes,
                        "FN {} {:?} in {text}",
                        label.kind,
                        &text[label.start..label.end]
                    );
                }
            }
        }
    }

    let mut total = Counts::default();
    println!("{lines} corpus lines");
    println!("kind        TP   FP   FN  exact  precision  recall");
    for (kind, counts) in &per_kind {
        total.add(*counts);
        println!(
            "{:<10} {:>4} {:>4} {:>4} {:>6}  {:>9.3}  {:>6.3}",
            kind.label(),
            counts.true_positives,
            counts.false_positives,
            counts.false_negatives,
            counts.exact_spans,
            counts.precision(),
            counts.recall()
        );
    }
    println!(
        "{:<10} {:>4} {:>4} {:>4} {:>6}  {:>9.3}  {:>6.3}",
        "overall",
        total.true_positives,
        total.false_positives,
        total.false_negatives,
        total.exact_spans,
        total.precision(),
        total.recall()
    );
    print!("{mistakes}");
    assert!(lines >= 300, "the corpus has only {lines} lines");
    assert!(
        total.precision() >= MINIMUM_PRECISION,
        "precision {:.3} below {MINIMUM_PRECISION}",
        total.precision()
    );
    assert!(
        total.recall() >= MINIMUM_RECALL,
        "recall {:.3} below {MINIMUM_RECALL}",
        total.recall()
    );
    // Every kind is in the corpus and found at least most of the time.
    for kind in PiiKind::ALL {
        let counts = per_kind.get(&kind).copied().unwrap_or_default();
        assert!(counts.true_positives > 0, "no {kind} in the corpus");
        assert!(
            counts.recall() >= 0.8,
            "{kind} recall {:.3}",
            counts.recall()
        );
        assert!(
            counts.precision() >= 0.8,
            "{kind} precision {:.3}",
            counts.precision()
        );
    }
}

#[test]
fn labels_parse() {
    let (text, labels) = parse_line("전화 [[mobile:010-2345-6789]] 끝");
    assert_eq!(text, "전화 010-2345-6789 끝");
    assert_eq!(labels.len(), 1);
    assert_eq!(&text[labels[0].start..labels[0].end], "010-2345-6789");
}
