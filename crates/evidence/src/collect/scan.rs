//! The plaintext scan of a data directory: every byte of every file read through the leak
//! scanner's recognisers, so the report's "no plaintext personal data at rest" is a fresh
//! measurement, not a claim.
//!
//! Personal data written in plaintext is text: a run of printable UTF-8. So each read is cut
//! into such runs (as `strings(1)` does) and only runs of [`MIN_RUN`] bytes or more are
//! scanned: ciphertext and page headers are skipped at memory speed instead of being fed to
//! the regular expressions as replacement characters. Reads overlap by [`OVERLAP`] bytes and a
//! finding is counted by the read in whose middle part it starts, so a value across a read's end
//! is seen whole, with the context before it, exactly once. UTF-16 text (a spreadsheet export)
//! is decoded first; compressed files (zip, gzip, xlsx) cannot be read as text and are listed
//! as not scanned, as are links and special files. Only kinds and counts leave this module.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use haechi_leak::{PiiKind, Scanner, default_recognizers};

use crate::Error;
use crate::facts::{ScanHit, ScanResult};

const CHUNK: usize = 1 << 20;
/// Twice the context a finding needs on either side: a value and the words before it.
const OVERLAP: usize = 512;
/// The shortest run of text scanned: shorter than any value a recogniser matches.
const MIN_RUN: usize = 6;
/// Below this the recognisers' guesses are not evidence (a digit run without a valid prefix or
/// checksum); a bare mobile number with nothing around it scores 0.85, an e-mail 0.9.
const MINIMUM_CONFIDENCE: f32 = 0.8;
/// Kinds that only personal data has. Landlines and business numbers belong to companies,
/// addresses without their person are not evidence, and all three appear in configuration.
const KINDS: &[PiiKind] = &[
    PiiKind::ResidentRegistrationNumber,
    PiiKind::ForeignerRegistrationNumber,
    PiiKind::MobilePhone,
    PiiKind::Email,
    PiiKind::CustomsCode,
    PiiKind::CardNumber,
    PiiKind::Passport,
    PiiKind::DriverLicence,
];

/// Scans every regular file under `dir` (links are listed, not followed).
pub fn scan_data_dir(dir: &Path) -> Result<ScanResult, Error> {
    // Only the kinds that count: another kind's overlapping guess cannot displace a real one.
    let scanner = Scanner::new(
        default_recognizers()
            .into_iter()
            .filter(|recognizer| KINDS.contains(&recognizer.kind()))
            .collect(),
    )
    .with_minimum_confidence(MINIMUM_CONFIDENCE);
    let mut result = ScanResult::default();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let listing = match std::fs::read_dir(&current) {
            Ok(listing) => listing,
            Err(error) if current == dir => {
                return Err(Error::Io {
                    path: current.display().to_string(),
                    source: error,
                });
            }
            Err(error) => {
                result
                    .unreadable
                    .push(format!("{} ({error})", relative(dir, &current)));
                continue;
            }
        };
        let mut entries = Vec::new();
        for entry in listing {
            match entry {
                Ok(entry) => entries.push(entry),
                Err(error) => result
                    .unreadable
                    .push(format!("{} (an entry: {error})", relative(dir, &current))),
            }
        }
        entries.sort_by_key(|entry| entry.path());
        for entry in entries {
            let path = entry.path();
            let name = relative(dir, &path);
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(path),
                Ok(kind) if kind.is_file() => match scan_file(&scanner, &path) {
                    Ok(Scanned::Text { bytes, kinds }) => {
                        result.files += 1;
                        result.bytes += bytes;
                        if !kinds.is_empty() {
                            result.hits.push(ScanHit { file: name, kinds });
                        }
                    }
                    Ok(Scanned::Compressed(format)) => result
                        .unreadable
                        .push(format!("{name} (compressed: {format}; not scanned)")),
                    // A file removed between listing and reading (a rotated segment, a
                    // SQLite journal) is not a finding.
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                    Err(error) => result.unreadable.push(format!("{name} ({error})")),
                },
                Ok(kind) if kind.is_symlink() => result
                    .unreadable
                    .push(format!("{name} (a link; not followed)")),
                Ok(_) => result
                    .unreadable
                    .push(format!("{name} (not a regular file)")),
                Err(error) => result.unreadable.push(format!("{name} ({error})")),
            }
        }
    }
    Ok(result)
}

/// The file's name relative to `dir`, with anything in it that looks like personal data
/// masked: an export named after a customer must not carry them into the report.
fn relative(dir: &Path, path: &Path) -> String {
    let name = path.strip_prefix(dir).unwrap_or(path).display().to_string();
    let findings = haechi_leak::scan(&name);
    if findings.is_empty() {
        name
    } else {
        haechi_leak::redact(&name, &findings)
    }
}

enum Scanned {
    Text {
        bytes: u64,
        kinds: BTreeMap<String, u64>,
    },
    Compressed(&'static str),
}

/// How a file's bytes become text.
#[derive(Clone, Copy)]
enum Encoding {
    /// UTF-8 (or anything else: runs of valid UTF-8 are what is read).
    Utf8,
    /// UTF-16, little- or big-endian.
    Utf16 { little_endian: bool },
}

fn sniff(head: &[u8]) -> Result<Encoding, &'static str> {
    match head {
        [b'P', b'K', 3, 4, ..] => Err("zip"),
        [0x1f, 0x8b, ..] => Err("gzip"),
        [b'(', 0xb5, 0x2f, 0xfd, ..] => Err("zstd"),
        [0xff, 0xfe, ..] => Ok(Encoding::Utf16 {
            little_endian: true,
        }),
        [0xfe, 0xff, ..] => Ok(Encoding::Utf16 {
            little_endian: false,
        }),
        // Text written as UTF-16 without a mark: ASCII with every other byte zero (and the
        // others text, so a file that merely begins with zeros is not taken for it).
        _ if head.len() >= 64
            && head.iter().skip(1).step_by(2).take(32).all(|b| *b == 0)
            && head
                .iter()
                .step_by(2)
                .take(32)
                .all(|b| b.is_ascii_graphic() || matches!(b, b' ' | b'\t' | b'\n' | b'\r')) =>
        {
            Ok(Encoding::Utf16 {
                little_endian: true,
            })
        }
        _ => Ok(Encoding::Utf8),
    }
}

/// One read of a file, handed to a worker.
struct Job {
    bytes: Vec<u8>,
    first: bool,
    last: bool,
    encoding: Encoding,
}

fn scan_file(scanner: &Scanner, path: &Path) -> std::io::Result<Scanned> {
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; CHUNK + OVERLAP];
    let read = read_full(&mut file, &mut buffer)?;
    let encoding = match sniff(&buffer[..read]) {
        Ok(found) => found,
        Err(format) => return Ok(Scanned::Compressed(format)),
    };
    let mut kinds = BTreeMap::new();
    if read < buffer.len() {
        // One read is the whole file (most files of a data directory): no threads for it.
        let job = Job {
            bytes: buffer[..read].to_vec(),
            first: true,
            last: true,
            encoding,
        };
        count_findings(scanner, &job, &mut kinds);
        return Ok(Scanned::Text {
            bytes: read as u64,
            kinds,
        });
    }
    // One thread reads, the others find: the recognisers are most of the time.
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    let (send, receive) = std::sync::mpsc::sync_channel::<Job>(workers);
    // Each worker holds the receiver: when the last one is gone (a panic included), sending
    // fails instead of waiting for a reader that will never come.
    let receive = std::sync::Arc::new(std::sync::Mutex::new(receive));
    std::thread::scope(|scope| {
        let finders: Vec<_> = (0..workers)
            .map(|_| {
                let receive = std::sync::Arc::clone(&receive);
                scope.spawn(move || {
                    let mut kinds = BTreeMap::new();
                    loop {
                        let next = match receive.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => break,
                        };
                        let Ok(job) = next else { break };
                        count_findings(scanner, &job, &mut kinds);
                    }
                    kinds
                })
            })
            .collect();
        drop(receive);
        let mut filled = read;
        let mut bytes = read as u64;
        let mut first = true;
        let outcome = loop {
            let last = filled < buffer.len();
            let job = Job {
                bytes: buffer[..filled].to_vec(),
                first,
                last,
                encoding,
            };
            if send.send(job).is_err() {
                break Err(std::io::Error::other("the scan's workers stopped"));
            }
            if last {
                break Ok(());
            }
            buffer.copy_within(filled - OVERLAP..filled, 0);
            first = false;
            match read_full(&mut file, &mut buffer[OVERLAP..]) {
                Ok(more) => {
                    bytes += more as u64;
                    filled = OVERLAP + more;
                }
                Err(error) => break Err(error),
            }
        };
        drop(send);
        for finder in finders {
            match finder.join() {
                Ok(found) => {
                    for (kind, count) in found {
                        *kinds.entry(kind).or_insert(0) += count;
                    }
                }
                // A worker that panicked counted some reads for nobody: the file is unread.
                Err(_) => return Err(std::io::Error::other("a scan worker failed")),
            }
        }
        outcome.map(|()| Scanned::Text { bytes, kinds })
    })
}

/// Whether a finding is evidence of plaintext here. An e-mail address must also look written
/// by a person: the data directory is mostly ciphertext, whose printable runs match the e-mail
/// pattern about 45 times a gigabyte (`x@Q.rZ`), which would otherwise put every large vault in
/// red (`haechi_leak::looks_like_a_written_address`).
fn counts(finding: &haechi_leak::Finding, text: &str) -> bool {
    KINDS.contains(&finding.kind)
        && (finding.kind != PiiKind::Email
            || haechi_leak::looks_like_a_written_address(finding.text(text)))
}

/// Counts the findings of one read that it owns. The middle rule: a read counts findings
/// starting from half an overlap in (the read before counted those before) to half an overlap
/// before its end (the next one counts those after), so each has at least half an overlap of
/// context on both sides and is counted once.
fn count_findings(scanner: &Scanner, read: &Job, kinds: &mut BTreeMap<String, u64>) {
    let counted_from = if read.first { 0 } else { OVERLAP / 2 };
    let counted_to = if read.last {
        usize::MAX
    } else {
        read.bytes.len() - OVERLAP / 2
    };
    let (text, starts) = text_runs(&read.bytes, read.encoding);
    for finding in scanner.scan(&text) {
        let at = byte_offset(&text, &starts, read.encoding, finding.start);
        if at >= counted_from && at < counted_to && counts(&finding, &text) {
            *kinds.entry(finding.kind.label().to_string()).or_insert(0) += 1;
        }
    }
}

/// The runs of text of `bytes` of [`MIN_RUN`] or more, joined by newlines, with each run's
/// `(offset in the text, offset in bytes)`.
fn text_runs(bytes: &[u8], encoding: Encoding) -> (String, Vec<(usize, usize)>) {
    let mut text = String::new();
    let mut starts = Vec::new();
    let mut push = |run: &str, at: usize| {
        if run.len() >= MIN_RUN {
            starts.push((text.len(), at));
            text.push_str(run);
            text.push('\n');
        }
    };
    match encoding {
        Encoding::Utf8 => {
            let mut index = 0;
            while index < bytes.len() {
                let start = index;
                while index < bytes.len() {
                    match printable_width(&bytes[index..]) {
                        Some(width) => index += width,
                        None => break,
                    }
                }
                if index > start {
                    // Every byte of the run was checked to be UTF-8 above.
                    if let Ok(run) = std::str::from_utf8(&bytes[start..index]) {
                        push(run, start);
                    }
                } else {
                    index += 1;
                }
            }
        }
        Encoding::Utf16 { little_endian } => {
            let units = bytes.chunks_exact(2).map(|pair| {
                if little_endian {
                    u16::from_le_bytes([pair[0], pair[1]])
                } else {
                    u16::from_be_bytes([pair[0], pair[1]])
                }
            });
            let mut run = String::new();
            let mut run_start = 0;
            // The position in the read, in bytes: a unit is two, a surrogate pair four.
            let mut at = 0;
            for decoded in char::decode_utf16(units) {
                let width = decoded.as_ref().map_or(2, |c| 2 * c.len_utf16());
                match decoded {
                    Ok(c) if !c.is_control() || c == '\t' => {
                        if run.is_empty() {
                            run_start = at;
                        }
                        run.push(c);
                    }
                    _ => {
                        push(&run, run_start);
                        run.clear();
                    }
                }
                at += width;
            }
            push(&run, run_start);
        }
    }
    (text, starts)
}

/// The width of the printable character `bytes` begins with, if it begins with one: ASCII
/// printable or tab, or a whole, valid multi-byte UTF-8 sequence that is not a C1 control.
/// Checked byte by byte (RFC 3629's table): this runs once per byte of the data directory.
fn printable_width(bytes: &[u8]) -> Option<usize> {
    let continuation = |index: usize, low: u8, high: u8| {
        bytes
            .get(index)
            .is_some_and(|byte| (low..=high).contains(byte))
    };
    let tail = |index: usize| continuation(index, 0x80, 0xbf);
    match *bytes.first()? {
        b'\t' | 0x20..=0x7e => Some(1),
        // U+0080..U+009F are controls.
        0xc2 => continuation(1, 0xa0, 0xbf).then_some(2),
        0xc3..=0xdf => tail(1).then_some(2),
        0xe0 => (continuation(1, 0xa0, 0xbf) && tail(2)).then_some(3),
        0xed => (continuation(1, 0x80, 0x9f) && tail(2)).then_some(3),
        0xe1..=0xec | 0xee..=0xef => (tail(1) && tail(2)).then_some(3),
        0xf0 => (continuation(1, 0x90, 0xbf) && tail(2) && tail(3)).then_some(4),
        0xf1..=0xf3 => (tail(1) && tail(2) && tail(3)).then_some(4),
        0xf4 => (continuation(1, 0x80, 0x8f) && tail(2) && tail(3)).then_some(4),
        _ => None,
    }
}

/// The byte offset in the read of a text offset: within a run, UTF-8 text is the read's own
/// bytes; UTF-16 text is two bytes a unit.
fn byte_offset(
    text: &str,
    starts: &[(usize, usize)],
    encoding: Encoding,
    text_offset: usize,
) -> usize {
    let run = starts.partition_point(|(text_start, _)| *text_start <= text_offset);
    match run.checked_sub(1).and_then(|index| starts.get(index)) {
        Some((text_start, byte_start)) => match encoding {
            Encoding::Utf8 => byte_start + (text_offset - text_start),
            Encoding::Utf16 { .. } => {
                let within = text.get(*text_start..text_offset).unwrap_or_default();
                byte_start + 2 * within.encode_utf16().count()
            }
        },
        None => 0,
    }
}

fn read_full(file: &mut std::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(length: usize) -> Vec<u8> {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        (0..length)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect()
    }

    fn mobile_count(bytes: &[u8]) -> Option<u64> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), bytes).unwrap();
        let result = scan_data_dir(dir.path()).unwrap();
        result
            .hits
            .first()
            .and_then(|hit| hit.kinds.get("mobile").copied())
    }

    #[test]
    fn random_bytes_hold_nothing_and_every_byte_is_read() {
        // 64 MiB: printable runs of random bytes match the e-mail pattern about 45 times a
        // gigabyte (seven here before the scan weighed an address's shape).
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("cipher.bin"), noise(64 * CHUNK)).unwrap();
        let result = scan_data_dir(dir.path()).unwrap();
        assert_eq!(result.files, 1);
        assert_eq!(result.bytes, 64 * CHUNK as u64);
        assert!(result.hits.is_empty(), "{result:?}");
    }

    #[test]
    fn addresses_stored_back_to_back_among_ciphertext_are_found() {
        // A table of (e-mail, name) in plaintext, as a database page lays it out: each value
        // right after the last, a length byte between rows, in the middle of random bytes.
        let mut bytes = noise(CHUNK);
        let mut at = CHUNK / 2;
        for row in [
            &b"\x00\x19kim@naver.comKim Minjun"[..],
            b"\x17lee@daum.netLee Seoyeon",
            b"\x02PARK@HANMAIL.NETPark\x00",
        ] {
            bytes[at..at + row.len()].copy_from_slice(row);
            at += row.len();
        }
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("page.db"), &bytes).unwrap();
        let result = scan_data_dir(dir.path()).unwrap();
        assert_eq!(result.hits.len(), 1, "{result:?}");
        assert_eq!(result.hits[0].kinds.get("email"), Some(&3), "{result:?}");
    }

    #[test]
    fn a_value_is_counted_once_wherever_the_reads_cut_it() {
        // Every place around the first and second cuts: inside the overlap, across the end
        // of a read, across the middle of the overlap.
        for cut in [
            CHUNK,
            CHUNK + OVERLAP / 2,
            CHUNK + OVERLAP,
            2 * CHUNK + OVERLAP / 2,
        ] {
            for shift in [0, 1, 3, 6, 7, 12, 13, 20] {
                let mut bytes = vec![b' '; 3 * CHUNK];
                let at = cut - shift;
                bytes[at..at + 13].copy_from_slice(b"010-2345-6789");
                assert_eq!(mobile_count(&bytes), Some(1), "cut {cut}, shift {shift}");
            }
        }
        // An e-mail straddling the start of the overlap is not counted twice as its suffix.
        let mut bytes = noise(3 * CHUNK);
        let email = b"hayun.lee@example.com";
        bytes[CHUNK - 5..CHUNK - 5 + email.len()].copy_from_slice(email);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), &bytes).unwrap();
        let result = scan_data_dir(dir.path()).unwrap();
        assert_eq!(result.hits[0].kinds.get("email"), Some(&1), "{result:?}");
    }

    #[test]
    fn utf16_values_are_counted_once_wherever_the_reads_cut_them() {
        let utf16 =
            |text: &str| -> Vec<u8> { text.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        // One long line of ASCII (or of Hangul, three bytes as text and two in the file), a
        // number placed at many offsets around the first read's end.
        for filler in ["a", "가"] {
            for at in [
                CHUNK - 40,
                CHUNK + 100,
                CHUNK + 250,
                CHUNK + 260,
                CHUNK + 500,
                CHUNK + 506,
            ] {
                let prefix = filler.repeat(at / 2 - 1);
                let mut bytes = vec![0xff, 0xfe];
                bytes.extend(utf16(&prefix));
                bytes.extend(utf16(" 010-2345-6789 "));
                bytes.extend(utf16(&filler.repeat(CHUNK)));
                assert_eq!(mobile_count(&bytes), Some(1), "{filler} at {at}");
            }
        }
    }

    #[test]
    fn a_file_that_begins_with_zeros_is_not_taken_for_utf16() {
        let mut bytes = vec![0u8; 64];
        bytes.extend_from_slice(b"phone 010-2345-6789\n");
        assert_eq!(mobile_count(&bytes), Some(1));
    }

    #[test]
    fn context_before_a_cut_still_counts() {
        // A post-2020 registration number needs its label to reach the threshold.
        let mut bytes = vec![b' '; 3 * CHUNK];
        let label = "주민등록번호: ".as_bytes();
        let number = b"900101-3234567";
        let at = CHUNK + OVERLAP / 2 - label.len() - 2;
        bytes[at..at + label.len()].copy_from_slice(label);
        bytes[at + label.len()..at + label.len() + number.len()].copy_from_slice(number);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file"), &bytes).unwrap();
        let plain = scan_data_dir(dir.path()).unwrap();
        let mut alone = vec![b' '; 64];
        alone[2..2 + label.len()].copy_from_slice(label);
        alone[2 + label.len()..2 + label.len() + number.len()].copy_from_slice(number);
        std::fs::write(dir.path().join("file"), &alone).unwrap();
        let reference = scan_data_dir(dir.path()).unwrap();
        assert_eq!(
            reference.hits.len(),
            1,
            "found with its label: {reference:?}"
        );
        assert_eq!(
            plain.hits, reference.hits,
            "the same finding as away from any cut"
        );
    }

    #[test]
    fn text_in_binary_and_utf16_is_found_and_compressed_files_are_named() {
        let mut bytes = noise(CHUNK);
        let record = "name=홍길동 phone=010-2345-6789 email=gildong@example.com".as_bytes();
        bytes[1000..1000 + record.len()].copy_from_slice(record);
        assert_eq!(mobile_count(&bytes), Some(1));

        let csv = "\u{feff}name,phone\n홍길동,010-2345-6789\n";
        let utf16: Vec<u8> = csv.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(mobile_count(&utf16), Some(1), "a UTF-16 export");

        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("export.zip"), b"PK\x03\x04 whatever").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link")).unwrap();
        let result = scan_data_dir(dir.path()).unwrap();
        assert_eq!(result.files, 0);
        assert!(
            result
                .unreadable
                .iter()
                .any(|line| line.starts_with("export.zip (compressed: zip"))
        );
        assert!(
            result
                .unreadable
                .iter()
                .any(|line| line.starts_with("link (a link"))
        );

        std::fs::write(dir.path().join("홍길동_010-2345-6789.csv"), b"nothing").unwrap();
        let result = scan_data_dir(dir.path()).unwrap();
        let names = format!("{result:?}");
        assert!(!names.contains("010-2345-6789"), "{names}");
    }

    #[test]
    fn runs_are_cut_at_non_text_and_keep_their_offsets() {
        let bytes = b"\x00\x01abc\xffphone 010-2345-6789\x00xy";
        let (text, starts) = text_runs(bytes, Encoding::Utf8);
        assert_eq!(text, "phone 010-2345-6789\n");
        assert_eq!(starts, vec![(0, 6)]);
        assert_eq!(byte_offset(&text, &starts, Encoding::Utf8, 6), 12);
        let korean = "연락처 010".as_bytes();
        assert_eq!(printable_width(korean), Some(3));
        assert_eq!(
            printable_width(&korean[..2]),
            None,
            "a cut sequence is not text"
        );
        assert_eq!(printable_width(b"\x7f"), None);
        assert_eq!(printable_width("\u{85}".as_bytes()), None, "a C1 control");
        assert_eq!(printable_width("é".as_bytes()), Some(2));
        assert_eq!(printable_width("😀".as_bytes()), Some(4));
        assert_eq!(printable_width(b"\xed\xa0\x80"), None, "a surrogate");
        assert_eq!(printable_width(b"\xc0\x80"), None, "an overlong form");
        // Every byte sequence the table accepts is UTF-8 without controls, and the other way.
        for first in 0u8..=255 {
            for second in [0x00, 0x80, 0x9f, 0xa0, 0xbf, 0xc0] {
                let bytes = [first, second, 0x80, 0x80];
                let width = printable_width(&bytes);
                let expected = (1..=4).find_map(|width| {
                    std::str::from_utf8(&bytes[..width])
                        .ok()
                        .filter(|text| text.chars().count() == 1)
                        .filter(|text| !text.chars().any(|c| c.is_control() && c != '\t'))
                        .map(|_| width)
                });
                assert_eq!(width, expected, "{bytes:02x?}");
            }
        }
    }
}
