//! Reading lines of unbounded input with bounded memory: a line longer than the cap keeps its
//! first `cap` bytes and the rest is skipped without being held.

use std::io::{self, BufRead};

/// What [`BoundedLines::next_line`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineRead {
    /// 1-based line number.
    pub number: u64,
    /// Whether the line was longer than the cap (its bytes are the first `cap`).
    pub truncated: bool,
    /// Bytes consumed from the input, line ending included.
    pub consumed: u64,
}

/// Splits a reader into lines of at most `cap` bytes.
pub(crate) struct BoundedLines<R> {
    reader: R,
    cap: usize,
    number: u64,
}

impl<R: BufRead> BoundedLines<R> {
    /// Lines of `reader`, each held to at most `cap` bytes.
    pub fn new(reader: R, cap: usize) -> Self {
        Self {
            reader,
            cap,
            number: 0,
        }
    }

    /// Reads the next line into `buffer` (cleared first; without the `\n`). `None` at the end.
    pub fn next_line(&mut self, buffer: &mut Vec<u8>) -> io::Result<Option<LineRead>> {
        buffer.clear();
        let mut consumed = 0u64;
        let mut truncated = false;
        loop {
            let available = match self.reader.fill_buf() {
                Ok(available) => available,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error),
            };
            if available.is_empty() {
                if consumed == 0 {
                    return Ok(None);
                }
                break;
            }
            let (chunk, found_end) = match available.iter().position(|b| *b == b'\n') {
                Some(end) => (&available[..end], true),
                None => (available, false),
            };
            let room = self.cap.saturating_sub(buffer.len());
            if chunk.len() > room {
                truncated = true;
            }
            buffer.extend_from_slice(&chunk[..chunk.len().min(room)]);
            let used = chunk.len() + usize::from(found_end);
            self.reader.consume(used);
            consumed += used as u64;
            if found_end {
                break;
            }
        }
        self.number += 1;
        Ok(Some(LineRead {
            number: self.number,
            truncated,
            consumed,
        }))
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_and_the_rest_skipped() {
        let input = format!("short\n{}\nafter\nlast", "x".repeat(100));
        let mut lines = BoundedLines::new(io::BufReader::with_capacity(7, input.as_bytes()), 10);
        let mut buffer = Vec::new();
        let mut seen = Vec::new();
        while let Some(read) = lines.next_line(&mut buffer).unwrap() {
            seen.push((
                read.number,
                String::from_utf8(buffer.clone()).unwrap(),
                read.truncated,
            ));
        }
        assert_eq!(
            seen,
            [
                (1, "short".to_string(), false),
                (2, "x".repeat(10), true),
                (3, "after".to_string(), false),
                (4, "last".to_string(), false),
            ]
        );
    }
}
