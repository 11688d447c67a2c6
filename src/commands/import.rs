//! `haechi customers import FILE.jsonl` and `haechi customers generate`.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write as _};
use std::path::Path;

use anyhow::Context as _;
use haechi_korean::CustomerGenerator;
use haechi_vault::CustomerInput;
use indicatif::{ProgressBar, ProgressStyle};

use crate::Outcome;
use crate::commands::block_on;
use crate::config::Config;
use crate::runtime::Runtime;

/// Longest line accepted; longer lines are rejected without being parsed.
const MAX_LINE_BYTES: usize = 64 * 1024;

pub fn run(file: &Path, batch: usize, config: &Config) -> anyhow::Result<Outcome> {
    let batch = batch.clamp(1, 100_000);
    let handle = File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let total_bytes = handle.metadata().map(|m| m.len()).unwrap_or(0);
    let source = std::fs::canonicalize(file)
        .unwrap_or_else(|_| file.to_path_buf())
        .display()
        .to_string();
    block_on(async {
        let runtime = Runtime::open(config).await?;
        let vault = &runtime.vault;
        let resume_after = vault
            .bulk_import()
            .import_progress(&source)
            .await?
            .unwrap_or(0);
        if resume_after > 0 {
            eprintln!("resuming {source} after line {resume_after}");
        }
        let progress = ProgressBar::new(total_bytes).with_style(
            ProgressStyle::with_template(
                "{spinner} {bytes}/{total_bytes} {wide_bar} {per_sec} eta {eta} {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        let grant = runtime.authority.operator_grant()?;
        let mut reader = BufReader::new(handle);
        let mut line_number = 0u64;
        let mut pending = Vec::with_capacity(batch);
        let (mut imported, mut rejected, mut skipped) = (0u64, 0u64, 0u64);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            let read = reader.read_until(b'\n', &mut buffer)?;
            if read == 0 {
                break;
            }
            line_number += 1;
            progress.inc(read as u64);
            if line_number <= resume_after {
                skipped += 1;
                continue;
            }
            let parsed = parse_line(&buffer);
            match parsed {
                None => continue,
                Some(parsed) => pending.push((line_number, parsed)),
            }
            if pending.len() >= batch {
                let outcome = vault
                    .bulk_import()
                    .import_batch(&source, std::mem::take(&mut pending), &grant)
                    .await?;
                imported += outcome.imported.len() as u64;
                rejected += outcome.rejected.len() as u64;
                report(&progress, &outcome.rejected);
                progress.set_message(format!("{imported} imported, {rejected} rejected"));
            }
        }
        if !pending.is_empty() {
            let outcome = vault
                .bulk_import()
                .import_batch(&source, pending, &grant)
                .await?;
            imported += outcome.imported.len() as u64;
            rejected += outcome.rejected.len() as u64;
            report(&progress, &outcome.rejected);
        }
        progress.finish_and_clear();
        runtime.close().await?;
        println!(
            "imported {imported}, rejected {rejected}, skipped {skipped} (already imported) from {source}"
        );
        Ok(Outcome::Clean)
    })?
}

/// Parses one line; `None` for blank lines. Errors name the problem, never the content.
fn parse_line(bytes: &[u8]) -> Option<Result<CustomerInput, String>> {
    if bytes.len() > MAX_LINE_BYTES {
        return Some(Err(format!("line longer than {MAX_LINE_BYTES} bytes")));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return Some(Err("not valid UTF-8".into()));
    };
    if text.trim().is_empty() {
        return None;
    }
    Some(
        serde_json::from_str::<CustomerInput>(text).map_err(|error| {
            // serde's messages name fields and types, not values.
            format!("not a customer record: {error}")
        }),
    )
}

fn report(progress: &ProgressBar, rejected: &[(u64, String)]) {
    for (line, reason) in rejected {
        progress.suspend(|| eprintln!("line {line}: rejected: {reason}"));
    }
}

pub fn generate(count: u64, seed: u64, out: Option<&Path>) -> anyhow::Result<Outcome> {
    let generator = CustomerGenerator::new(seed);
    let mut writer: Box<dyn std::io::Write> = match out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    for index in 0..count {
        serde_json::to_writer(&mut writer, &generator.customer(index))?;
        writer.write_all(b"\n")?;
    }
    writer.flush()?;
    Ok(Outcome::Clean)
}
