//! Measures scanning throughput over the labelled corpus repeated to about 32 MiB:
//! `cargo run --release -p haechi-leak --example throughput`.

use std::time::Instant;

use haechi_leak::scan;

fn main() -> std::io::Result<()> {
    let directory = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus");
    let mut corpus = String::new();
    let mut paths: Vec<_> = std::fs::read_dir(directory)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .collect();
    paths.sort();
    for path in paths {
        for line in std::fs::read_to_string(path)?.lines() {
            if !line.starts_with('#') {
                corpus.push_str(&line.replace("[[", "").replace("]]", ""));
                corpus.push('\n');
            }
        }
    }
    let mut text = String::new();
    while text.len() < 32 << 20 {
        text.push_str(&corpus);
    }
    for (label, chunk_lines) in [("line by line", 1), ("64 KiB chunks", usize::MAX)] {
        let started = Instant::now();
        let mut findings = 0;
        if chunk_lines == 1 {
            for line in text.lines() {
                findings += scan(line).len();
            }
        } else {
            let mut rest = text.as_str();
            while !rest.is_empty() {
                let mut cut = rest.len().min(64 << 10);
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                // Cut at a line end so no finding straddles two chunks.
                let cut = rest[..cut].rfind('\n').map_or(cut, |i| i + 1);
                findings += scan(&rest[..cut]).len();
                rest = &rest[cut..];
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "{label}: {:.1} MiB in {seconds:.2} s = {:.1} MiB/s, {findings} findings",
            text.len() as f64 / f64::from(1 << 20),
            text.len() as f64 / f64::from(1 << 20) / seconds
        );
    }
    // Hostile inputs: long digit runs and near-misses make the recognisers retry often.
    for (label, unit) in [
        ("digits", "0123456789"),
        ("near-miss phones", "010-2345-"),
        ("road names", "서울 송파구 올림픽로 1"),
        ("hyphenated digits", "9-"),
    ] {
        let hostile = unit.repeat((4 << 20) / unit.len());
        let started = Instant::now();
        let findings = scan(&hostile).len();
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "hostile {label}: 4 MiB in {seconds:.2} s = {:.1} MiB/s, {findings} findings",
            4.0 / seconds
        );
    }
    Ok(())
}
