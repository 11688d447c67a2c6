//! Which character encoding a dump is in, and decoding it line by line.
//!
//! Korean dumps are often CP949 (EUC-KR plus the Unified Hangul Code extension), not UTF-8.
//! A sample from the start of the file decides the dump's encoding; each line is then decoded
//! in that encoding, and a line that does not decode falls back to the other one, so a file
//! glued together from UTF-8 and CP949 parts is still read. A line that is neither, or that
//! holds control bytes no text has, is reported as undecodable and skipped.

use std::borrow::Cow;

/// An encoding a dump can be read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TextEncoding {
    /// UTF-8 (a leading byte-order mark is skipped).
    Utf8,
    /// CP949 / EUC-KR, decoded with the WHATWG `EUC-KR` decoder (which is CP949).
    Cp949,
}

impl TextEncoding {
    /// `utf-8` or `cp949`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Cp949 => "cp949",
        }
    }

    fn other(self) -> Self {
        match self {
            Self::Utf8 => Self::Cp949,
            Self::Cp949 => Self::Utf8,
        }
    }
}

/// What the start of a file looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncodingGuess {
    /// Text in this encoding.
    Text(TextEncoding),
    /// UTF-16 (it has a byte-order mark). Lines cannot be split on its bytes; convert it
    /// first (`iconv -f UTF-16 -t UTF-8`).
    Utf16,
    /// Not text: NUL bytes or other control bytes where text would have none, or bytes that
    /// are neither UTF-8 nor CP949.
    Binary,
}

/// Why a line was not read as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UndecodableLine {
    /// Its bytes are neither UTF-8 nor CP949.
    UnknownEncoding,
    /// It holds NUL or other control bytes that text does not contain.
    Binary,
}

/// Guesses the encoding of a file from its first bytes (64 KiB is plenty).
pub fn detect_encoding(sample: &[u8]) -> EncodingGuess {
    if sample.starts_with(&[0xFF, 0xFE]) || sample.starts_with(&[0xFE, 0xFF]) {
        return EncodingGuess::Utf16;
    }
    let sample = sample.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(sample);
    if sample.is_empty() {
        return EncodingGuess::Text(TextEncoding::Utf8);
    }
    let control = sample.iter().filter(|b| is_binary_byte(**b)).count();
    // Text has essentially none; a few stray bytes in a large sample are tolerated (they make
    // their own lines undecodable).
    if control * 200 > sample.len() {
        return EncodingGuess::Binary;
    }
    // Judge whole lines: a few bad lines (garbage glued into a dump) are the lines' problem;
    // a sample where one line in five is neither encoding is not text.
    let mut utf8 = 0usize;
    let mut cp949 = 0usize;
    let mut bad = 0usize;
    let mut lines = 0usize;
    for line in sample.split(|b| *b == b'\n') {
        lines += 1;
        if line.iter().any(|b| is_binary_byte(*b)) {
            bad += 1;
        } else if line.is_ascii() {
            continue;
        } else if std::str::from_utf8(line).is_ok() {
            utf8 += 1;
        } else if decode_cp949(line).is_some() {
            cp949 += 1;
        } else {
            bad += 1;
        }
    }
    if bad * 5 > lines {
        return EncodingGuess::Binary;
    }
    if cp949 > utf8 {
        EncodingGuess::Text(TextEncoding::Cp949)
    } else {
        EncodingGuess::Text(TextEncoding::Utf8)
    }
}

/// Decodes one line (without its line ending) in `encoding`, falling back to the other
/// encoding when the bytes are not valid in the first. Returns the text and the encoding that
/// read it. A trailing `\r` is removed.
pub fn decode_line(
    bytes: &[u8],
    encoding: TextEncoding,
) -> Result<(Cow<'_, str>, TextEncoding), UndecodableLine> {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    if bytes.iter().any(|b| is_binary_byte(*b)) {
        return Err(UndecodableLine::Binary);
    }
    for candidate in [encoding, encoding.other()] {
        let decoded = match candidate {
            TextEncoding::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
            TextEncoding::Cp949 => decode_cp949(bytes),
        };
        if let Some(text) = decoded {
            return Ok((text, candidate));
        }
    }
    Err(UndecodableLine::UnknownEncoding)
}

fn decode_cp949(bytes: &[u8]) -> Option<Cow<'_, str>> {
    encoding_rs::EUC_KR.decode_without_bom_handling_and_without_replacement(bytes)
}

/// NUL and the C0 controls other than tab, line feed, form feed, carriage return and escape
/// (which terminal captures contain), and DEL.
fn is_binary_byte(byte: u8) -> bool {
    matches!(byte, 0x00..=0x08 | 0x0B | 0x0E..=0x1A | 0x1C..=0x1F | 0x7F)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    fn cp949(text: &str) -> Vec<u8> {
        encoding_rs::EUC_KR.encode(text).0.into_owned()
    }

    #[test]
    fn utf8_and_cp949_are_told_apart() {
        let text = "이름,이메일\n홍길동,hong@example.com\n똠방각하,x@y.kr\n";
        assert_eq!(
            detect_encoding(text.as_bytes()),
            EncodingGuess::Text(TextEncoding::Utf8)
        );
        assert_eq!(
            detect_encoding(&cp949(text)),
            EncodingGuess::Text(TextEncoding::Cp949)
        );
        assert_eq!(
            detect_encoding(b"\xEF\xBB\xBFname\n"),
            EncodingGuess::Text(TextEncoding::Utf8)
        );
    }

    #[test]
    fn binary_and_utf16_are_refused() {
        let garbage: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 256) as u8).collect();
        assert_eq!(detect_encoding(&garbage), EncodingGuess::Binary);
        assert_eq!(detect_encoding(b"\xFF\xFEn\0a\0"), EncodingGuess::Utf16);
    }

    #[test]
    fn lines_fall_back_to_the_other_encoding() {
        let line = cp949("김철수,010-2345-6789");
        let (text, used) = decode_line(&line, TextEncoding::Utf8).unwrap();
        assert_eq!(text, "김철수,010-2345-6789");
        assert_eq!(used, TextEncoding::Cp949);
        let (text, used) = decode_line("홍길동\r".as_bytes(), TextEncoding::Cp949).unwrap();
        assert_eq!((text.as_ref(), used), ("홍길동", TextEncoding::Utf8));
        assert_eq!(
            decode_line(b"a\0b", TextEncoding::Utf8),
            Err(UndecodableLine::Binary)
        );
        assert_eq!(
            decode_line(b"\xFF\xFF\xFF", TextEncoding::Utf8),
            Err(UndecodableLine::UnknownEncoding)
        );
    }
}
