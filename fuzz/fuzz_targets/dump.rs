//! Leaked dumps: encoding sniffing (UTF-8 / CP949), per-line decoding, the format and column
//! plan (CSV with any delimiter, JSON/JSONL, text), and the row parser, as `haechi leak match`
//! drives them.
//!
//! Holds: no panic; every row and problem names a line number that exists.

#![no_main]

use haechi_leak::dump::{
    DumpEvent, DumpOptions, DumpParser, DumpPlan, EncodingGuess, TextEncoding, decode_line,
    detect_encoding,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let encoding = match detect_encoding(&data[..data.len().min(64 * 1024)]) {
        EncodingGuess::Text(encoding) => encoding,
        _ => TextEncoding::Utf8,
    };
    let lines: Vec<String> = data
        .split(|byte| *byte == b'\n')
        .filter_map(|line| decode_line(line, encoding).ok())
        .map(|(text, _)| text.into_owned())
        .collect();
    let sample: Vec<&str> = lines.iter().take(200).map(String::as_str).collect();
    let Ok(plan) = DumpPlan::from_sample(&sample, &DumpOptions::default()) else {
        return;
    };
    let _ = plan.describe_columns();
    let mut parser = DumpParser::new(plan);
    let mut events = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        parser.push_line(index as u64 + 1, line, &mut events);
    }
    parser.finish(&mut events);
    let last_line = lines.len() as u64 + 1;
    for event in &events {
        match event {
            DumpEvent::Row(row) => {
                assert!(row.line >= 1 && row.line <= last_line, "{}", row.line);
                let _ = row.identifiers();
            }
            DumpEvent::Problem(problem) => {
                assert!(problem.line <= last_line, "{}", problem.line);
                let _ = problem.to_string();
            }
        }
    }
});
