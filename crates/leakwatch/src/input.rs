//! An opened input: its lines, held to a bounded length, its first lines sampled to decide
//! how to read it, and each line decoded.

use std::borrow::Cow;
use std::io::BufRead;

use haechi_leak::dump::{EncodingGuess, ProblemKind, TextEncoding, decode_line, detect_encoding};

use crate::Error;
use crate::lines::{BoundedLines, LineRead};

/// Longest line held in memory; longer lines are cut (free text) or skipped (CSV, JSON).
pub const LINE_CAP: usize = 1024 * 1024;
/// Lines sampled from the start of an input to decide its encoding, format and columns.
const SAMPLE_LINES: usize = 200;
/// Bytes sampled at most.
const SAMPLE_BYTES: usize = 256 * 1024;

/// An opened input: its lines, its size (0 when unknown) and the name reports use.
pub struct Input {
    pub(crate) lines: BoundedLines<Box<dyn BufRead + Send>>,
    pub(crate) size: u64,
    pub(crate) name: String,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input")
            .field("name", &self.name)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl Input {
    /// The input read from `reader`, of `size` bytes (0 when unknown, as for standard input),
    /// called `name` in reports.
    pub fn new(reader: Box<dyn BufRead + Send>, size: u64, name: String) -> Self {
        Self {
            lines: BoundedLines::new(reader, LINE_CAP),
            size,
            name,
        }
    }

    /// The name reports use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first lines, kept to be parsed again after the plan is made.
    pub(crate) fn read_sample(&mut self) -> Result<Vec<(LineRead, Vec<u8>)>, Error> {
        let mut sample = Vec::new();
        let mut bytes = 0usize;
        while sample.len() < SAMPLE_LINES && bytes < SAMPLE_BYTES {
            let mut buffer = Vec::new();
            let Some(read) = self
                .lines
                .next_line(&mut buffer)
                .map_err(|source| Error::Read {
                    name: self.name.clone(),
                    source,
                })?
            else {
                break;
            };
            bytes += buffer.len() + 1;
            sample.push((read, buffer));
        }
        Ok(sample)
    }
}

/// The encoding to read the input in: `requested` (`--encoding`), or the sample's.
pub(crate) fn choose_encoding(
    name: &str,
    sample: &[(LineRead, Vec<u8>)],
    requested: Option<TextEncoding>,
) -> Result<TextEncoding, Error> {
    if let Some(requested) = requested {
        return Ok(requested);
    }
    let mut joined = Vec::new();
    for (_, bytes) in sample {
        joined.extend_from_slice(bytes);
        joined.push(b'\n');
    }
    match detect_encoding(&joined) {
        EncodingGuess::Text(encoding) => Ok(encoding),
        EncodingGuess::Utf16 => Err(Error::Utf16 {
            name: name.to_string(),
        }),
        EncodingGuess::Binary => Err(Error::NotText {
            name: name.to_string(),
            sampled_lines: sample.len(),
        }),
    }
}

/// Decodes one line; a truncated line keeps its longest decodable start.
pub(crate) fn decode(
    bytes: &[u8],
    read: LineRead,
    encoding: TextEncoding,
) -> Result<(Cow<'_, str>, TextEncoding), ProblemKind> {
    let bytes = if read.truncated {
        // The cut may fall inside a character: drop up to 3 bytes until something decodes.
        let mut end = bytes.len();
        loop {
            if let Ok(decoded) = decode_line(&bytes[..end], encoding) {
                return Ok(decoded);
            }
            if end + 3 <= bytes.len() || end == 0 {
                break;
            }
            end -= 1;
        }
        bytes
    } else {
        bytes
    };
    decode_line(bytes, encoding).map_err(ProblemKind::Undecodable)
}
