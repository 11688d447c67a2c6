//! Telling a dump's format from its first lines.

use super::csv::field_count;

/// Delimiters tried, in order of preference when several fit equally well.
pub const CANDIDATE_DELIMITERS: [char; 5] = ['\t', ',', ';', '|', ':'];

/// What the first lines look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sniffed {
    /// JSON objects (JSONL or an array).
    Json,
    /// Delimited text with this delimiter.
    Delimited(char),
    /// Anything else: free text.
    Text,
}

/// Sniffs the format of `lines` (the first non-blank lines of the dump).
pub(crate) fn sniff(lines: &[&str]) -> Sniffed {
    let lines: Vec<&str> = lines
        .iter()
        .map(|line| line.trim_start_matches('\u{FEFF}'))
        .filter(|line| !line.trim().is_empty())
        .collect();
    let Some(first) = lines.first() else {
        return Sniffed::Text;
    };
    let start = first.trim_start();
    if start.starts_with('{') || (start.starts_with('[') && !start.starts_with("[[")) {
        return Sniffed::Json;
    }
    match best_delimiter(&lines) {
        Some(delimiter) => Sniffed::Delimited(delimiter),
        None => Sniffed::Text,
    }
}

/// The delimiter that splits the most lines into the same number (at least two) of fields.
/// A delimiter must split at least 80 % of the lines the same way to count; `:` must split
/// 95 % (times and URLs put colons in ordinary text). Lines whose quoting is broken do not
/// count either way, as long as they are a minority.
pub(crate) fn best_delimiter(lines: &[&str]) -> Option<char> {
    let mut best: Option<(char, usize)> = None;
    for delimiter in CANDIDATE_DELIMITERS {
        let counts: Vec<usize> = lines
            .iter()
            .filter_map(|line| field_count(line, delimiter))
            .collect();
        let mut tally: Vec<(usize, usize)> = Vec::new();
        for count in counts.iter().copied().filter(|count| *count >= 2) {
            match tally.iter_mut().find(|(fields, _)| *fields == count) {
                Some((_, seen)) => *seen += 1,
                None => tally.push((count, 1)),
            }
        }
        let Some((_, agreeing)) = tally.iter().max_by_key(|(_, seen)| *seen).copied() else {
            continue;
        };
        let required = if delimiter == ':' { 95 } else { 80 };
        if counts.len() * 2 < lines.len() || agreeing * 100 < counts.len() * required {
            continue;
        }
        if best.is_none_or(|(_, most)| agreeing > most) {
            best = Some((delimiter, agreeing));
        }
    }
    best.map(|(delimiter, _)| delimiter)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    fn check(text: &str, expected: Sniffed) {
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(sniff(&lines), expected, "{text:?}");
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
