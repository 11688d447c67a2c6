//! `haechi leak scan --smishing`: a paste of text messages (one message per paragraph — messages
//! separated by a blank line — as analysts collect them from reports and forums) read for
//! smishing that borrows the company's name, with the recogniser the portal's "is this from
//! us?" check uses. What is reported is the message's place and its signals (hosts, the kind
//! of request, the lure words), never its text: a paste may carry victims' data.

use std::io::Write;

use haechi_smishing::{Recogniser, Signal};
use serde::Serialize;

use super::FindingFormat;
use crate::Error;
use crate::input::{Input, choose_encoding, decode};

/// The most bytes of one message kept for the assessment (the recogniser reads 8 KiB).
const MESSAGE_CAP: usize = 16 * 1024;

/// What a smishing pass found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmishingSummary {
    /// The input's name.
    pub name: String,
    /// Messages read.
    pub messages: u64,
    /// Messages judged smishing.
    pub flagged: u64,
}

impl std::fmt::Display for SmishingSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: {} messages, {} look like smishing",
            self.name, self.messages, self.flagged
        )
    }
}

#[derive(Serialize)]
struct Flagged<'a> {
    message: u64,
    first_line: u64,
    last_line: u64,
    score: u32,
    signals: &'a [Signal],
}

/// Reads `input` message by message and writes each one the recogniser judges smishing.
pub fn scan_messages<W: Write>(
    mut input: Input,
    recogniser: &Recogniser,
    format: FindingFormat,
    mut out: W,
) -> Result<SmishingSummary, Error> {
    let sample = input.read_sample()?;
    let encoding = choose_encoding(&input.name, &sample, None)?;
    let mut summary = SmishingSummary {
        name: input.name.clone(),
        ..SmishingSummary::default()
    };
    let mut message = String::new();
    let mut first_line = 0;
    let mut last_line = 0;
    let mut finish = |message: &mut String, first: u64, last: u64| -> Result<(), Error> {
        if message.trim().is_empty() {
            message.clear();
            return Ok(());
        }
        summary.messages += 1;
        let assessment = recogniser.assess(message);
        message.clear();
        if !assessment.is_smishing() {
            return Ok(());
        }
        summary.flagged += 1;
        let flagged = Flagged {
            message: summary.messages,
            first_line: first,
            last_line: last,
            score: assessment.score(),
            signals: &assessment.signals,
        };
        match format {
            FindingFormat::Json => {
                serde_json::to_writer(&mut out, &flagged)
                    .map_err(|error| Error::Write(error.into()))?;
                writeln!(out)?;
            }
            FindingFormat::Text => {
                let codes: Vec<&str> = assessment.signals.iter().map(Signal::code).collect();
                writeln!(
                    out,
                    "message {} (lines {first}-{last}): smishing, score {}: {}",
                    flagged.message,
                    flagged.score,
                    codes.join(", ")
                )?;
            }
        }
        Ok(())
    };
    let mut lines = sample.into_iter();
    let mut buffer = Vec::new();
    loop {
        let (read, bytes) = match lines.next() {
            Some(kept) => kept,
            None => {
                buffer.clear();
                match input
                    .lines
                    .next_line(&mut buffer)
                    .map_err(|source| Error::Read {
                        name: input.name.clone(),
                        source,
                    })? {
                    Some(read) => (read, std::mem::take(&mut buffer)),
                    None => break,
                }
            }
        };
        let text = decode(&bytes, read, encoding)
            .map(|(text, _)| text.into_owned())
            .unwrap_or_default();
        if text.trim().is_empty() {
            finish(&mut message, first_line, last_line)?;
            continue;
        }
        if message.is_empty() {
            first_line = read.number;
        }
        last_line = read.number;
        if message.len() < MESSAGE_CAP {
            message.push_str(&text);
            message.push('\n');
        }
    }
    finish(&mut message, first_line, last_line)?;
    out.flush()?;
    Ok(summary)
}
