//! A dump format as a component: one [`Format`] per file, listed once in [`FORMATS`].
//!
//! Sniffing walks the list: each format says how sure it is that the sampled lines are in it
//! ([`Confidence`]), and the surest wins (the first listed on a tie). The operator's
//! `--format` skips the contest. The winner then makes the [`DumpPlan`] from the sample, and
//! later a [`RowReader`] that turns the dump's lines into rows by that plan.
//!
//! Adding a format is one file beside `csv.rs`, `json.rs` and `text.rs`, one line in
//! [`FORMATS`], and its variant of [`DumpFormat`] (what a plan records and prints).

use std::fmt;

use super::{DumpEvent, DumpFormat, DumpOptions, DumpPlan, RequestedFormat, csv, json, text};
use crate::Error;

/// Every format a dump can be read in, in order of preference on a tie.
pub static FORMATS: &[&dyn Format] = &[&json::Json, &csv::Csv, &text::Text];

/// How sure a format is that a sample is written in it; the surest format wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Confidence {
    /// The sample is not in this format.
    No,
    /// Nothing else fits; read it this way.
    Fallback,
    /// The operator's options only make sense for this format.
    Possible,
    /// Most lines have this format's shape.
    Likely,
    /// The first line can only be this format.
    Certain,
    /// The operator's options name this format (a `--delimiter` names CSV).
    Told,
}

/// Whether sniffing, left to itself, chose the format that is making the plan (it may have
/// been named with `--format` instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SniffVerdict {
    /// Sniffing chose this format too.
    ThisFormat,
    /// Sniffing chose another format.
    Another,
}

/// The first decoded lines of a dump and the operator's options, as formats judge them.
#[derive(Debug)]
pub struct Sample<'a> {
    /// The lines as read.
    pub lines: &'a [&'a str],
    /// The non-blank lines, without a byte-order mark.
    pub non_blank: Vec<&'a str>,
    /// What the operator said.
    pub options: &'a DumpOptions,
}

impl<'a> Sample<'a> {
    /// The sample of `lines` under `options`.
    pub fn new(lines: &'a [&'a str], options: &'a DumpOptions) -> Self {
        let non_blank = lines
            .iter()
            .map(|line| line.trim_start_matches('\u{FEFF}'))
            .filter(|line| !line.trim().is_empty())
            .collect();
        Self {
            lines,
            non_blank,
            options,
        }
    }
}

/// One dump format: how to recognise it, plan it and read its rows.
pub trait Format: Send + Sync + fmt::Debug {
    /// Whether `--format` asks for this format.
    fn answers_to(&self, requested: RequestedFormat) -> bool;

    /// Whether a plan with `format` reads this format.
    fn reads(&self, format: &DumpFormat) -> bool;

    /// How sure the format is that `sample` is written in it.
    fn sniff(&self, sample: &Sample<'_>) -> Confidence;

    /// The plan for reading the dump this way.
    ///
    /// # Errors
    /// [`Error::NoRecognisableColumn`] or [`Error::BadColumns`] when the format needs
    /// columns and finds none, or the operator's are wrong.
    fn plan(&self, sample: &Sample<'_>, verdict: SniffVerdict) -> Result<DumpPlan, Error>;

    /// A reader of lines into rows following `plan` (one this format made).
    fn reader(&self, plan: &DumpPlan) -> Box<dyn RowReader>;
}

/// Turns a dump's decoded lines, in order, into rows and problems. It keeps whatever state
/// needs the lines in order (records over several lines, a header, JSON arrays).
pub trait RowReader: Send {
    /// Feeds one decoded line (1-based number, without its line ending).
    fn push_line(&mut self, line: u64, text: &str, out: &mut Vec<DumpEvent>);

    /// Ends the input; `last_line` is the number of the last line fed.
    fn finish(&mut self, last_line: u64, out: &mut Vec<DumpEvent>);
}

/// The format read when no other applies: free text reads anything.
pub(crate) const FALLBACK: &dyn Format = &text::Text;

/// The position in [`FORMATS`] of the format sniffing chooses for `sample`: the surest, the
/// first listed on a tie.
pub(crate) fn sniff(sample: &Sample<'_>) -> usize {
    let mut best: Option<(usize, Confidence)> = None;
    for (position, format) in FORMATS.iter().enumerate() {
        let confidence = format.sniff(sample);
        if best.is_none_or(|(_, surest)| confidence > surest) {
            best = Some((position, confidence));
        }
    }
    best.map_or(FORMATS.len(), |(position, _)| position)
}

/// The format a plan of `format` is read with.
pub(crate) fn reading(format: &DumpFormat) -> &'static dyn Format {
    FORMATS
        .iter()
        .copied()
        .find(|component| component.reads(format))
        // Plans are made only by listed formats.
        .unwrap_or(FALLBACK)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    /// What sniffing decided, as the tests state it.
    #[derive(Debug, PartialEq, Eq)]
    enum Sniffed {
        Json,
        Delimited(char),
        Text,
    }

    fn check(text: &str, expected: Sniffed) {
        let lines: Vec<&str> = text.lines().collect();
        let options = DumpOptions::default();
        let sample = Sample::new(&lines, &options);
        let chosen = FORMATS[sniff(&sample)];
        let sniffed = if chosen.reads(&DumpFormat::Json) {
            Sniffed::Json
        } else if chosen.reads(&DumpFormat::Text) {
            Sniffed::Text
        } else {
            Sniffed::Delimited(csv::best_delimiter(&sample.non_blank).unwrap())
        };
        assert_eq!(sniffed, expected, "{text:?}");
    }

    #[test]
    fn formats() {
        check("a,b,c\n1,2,3\n4,5,6", Sniffed::Delimited(','));
        check("a\tb\n1\t2", Sniffed::Delimited('\t'));
        check("이름;메일\n홍길동;h@x.kr", Sniffed::Delimited(';'));
        check("a|b|c\n1|2|3", Sniffed::Delimited('|'));
        check("kim@x.kr:hunter2\nlee@y.kr:pass", Sniffed::Delimited(':'));
        check("{\"a\":1}\n{\"a\":2}", Sniffed::Json);
        check("[\n{\"a\":1}\n]", Sniffed::Json);
        check(
            "안녕하세요 연락처는 010-2345-6789 입니다\n오늘 12:30에 만나요",
            Sniffed::Text,
        );
        check("", Sniffed::Text);
        // Commas in prose do not make a CSV.
        check(
            "Hello, this is a paste.\nNo commas here\nAnother line, with one, or two",
            Sniffed::Text,
        );
    }
}
