//! The labelled corpus (`corpus/labelled.jsonl`): every line parses, and the recogniser keeps
//! its quality floors on it. `cargo test -p haechi-smishing --test corpus -- --nocapture`
//! prints the numbers and the misclassified lines (for BENCHMARKS.md).

#![allow(clippy::expect_used, reason = "tests fail loudly")]

use haechi_smishing::{Profile, Recogniser};
use serde::Deserialize;

const CORPUS: &str = include_str!("../corpus/labelled.jsonl");

/// Quality floors on this fixed corpus, not timings.
const MINIMUM_PRECISION: f64 = 0.95;
const MINIMUM_RECALL: f64 = 0.90;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    label: Label,
    style: String,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Label {
    Smishing,
    Benign,
}

/// The profile the corpus was written for: 해치몰's domain, names and numbers (its opt-out
/// number is on its advertisements).
fn recogniser() -> Recogniser {
    let profile = Profile {
        company_domains: vec!["haechi-mall.co.kr".into()],
        brand_names: vec!["해치몰".into(), "haechi mall".into(), "haechimall".into()],
        callback_numbers: vec![
            "1588-1234".into(),
            "02-123-4567".into(),
            "080-890-1234".into(),
        ],
    };
    Recogniser::new(profile).expect("the corpus profile is valid")
}

fn examples() -> Vec<(usize, Example)> {
    CORPUS
        .lines()
        .enumerate()
        .map(|(index, line)| {
            let example = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("line {}: {error}", index + 1));
            (index + 1, example)
        })
        .collect()
}

struct Confusion {
    true_positives: usize,
    false_positives: usize,
    true_negatives: usize,
    false_negatives: usize,
    misclassified: Vec<String>,
}

impl Confusion {
    fn precision(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_positives,
        )
    }

    fn recall(&self) -> f64 {
        ratio(
            self.true_positives,
            self.true_positives + self.false_negatives,
        )
    }
}

fn ratio(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    part as f64 / whole as f64
}

fn measure() -> Confusion {
    let recogniser = recogniser();
    let mut confusion = Confusion {
        true_positives: 0,
        false_positives: 0,
        true_negatives: 0,
        false_negatives: 0,
        misclassified: Vec::new(),
    };
    for (line, example) in examples() {
        let assessment = recogniser.assess(&example.text);
        let flagged = assessment.is_smishing();
        let counter = match (example.label, flagged) {
            (Label::Smishing, true) => &mut confusion.true_positives,
            (Label::Benign, true) => &mut confusion.false_positives,
            (Label::Benign, false) => &mut confusion.true_negatives,
            (Label::Smishing, false) => &mut confusion.false_negatives,
        };
        *counter += 1;
        if flagged != (example.label == Label::Smishing) {
            let codes: Vec<String> = assessment
                .signals
                .iter()
                .map(|signal| format!("{signal:?}"))
                .collect();
            confusion.misclassified.push(format!(
                "line {line} [{:?}/{}] score {}: {:?}\n    signals: {}",
                example.label,
                example.style,
                assessment.score(),
                example.text,
                codes.join(", ")
            ));
        }
    }
    confusion
}

#[test]
fn every_line_parses_and_both_labels_are_well_represented() {
    let examples = examples();
    let smishing = examples
        .iter()
        .filter(|(_, example)| example.label == Label::Smishing)
        .count();
    let benign = examples.len() - smishing;
    assert!(smishing >= 150, "{smishing} smishing texts");
    assert!(benign >= 120, "{benign} benign texts");
    for (line, example) in &examples {
        assert!(!example.text.trim().is_empty(), "line {line} is empty");
        assert!(!example.style.is_empty(), "line {line} has no style");
    }
}

#[test]
fn precision_and_recall_stay_above_their_floors() {
    let confusion = measure();
    println!(
        "corpus: {} texts; true positives {}, false positives {}, true negatives {}, false negatives {}",
        confusion.true_positives
            + confusion.false_positives
            + confusion.true_negatives
            + confusion.false_negatives,
        confusion.true_positives,
        confusion.false_positives,
        confusion.true_negatives,
        confusion.false_negatives,
    );
    println!(
        "precision {:.3}, recall {:.3}",
        confusion.precision(),
        confusion.recall()
    );
    for line in &confusion.misclassified {
        println!("{line}");
    }
    assert!(
        confusion.precision() >= MINIMUM_PRECISION,
        "precision {:.3} below {MINIMUM_PRECISION}",
        confusion.precision()
    );
    assert!(
        confusion.recall() >= MINIMUM_RECALL,
        "recall {:.3} below {MINIMUM_RECALL}",
        confusion.recall()
    );
}
