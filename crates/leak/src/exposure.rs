//! The exposure check: which normalised e-mails and phones Haechi knows to be exposed, served
//! by k-anonymity in the format of the Have I Been Pwned range API.
//!
//! An identifier's hash is SHA-1 over its normalised spelling (e-mail lower-cased, phone as
//! digits with a domestic `0`: `01023456789`), so HIBP client libraries compute it as they
//! compute a password's, once the caller has normalised the identifier. A client sends the
//! first five hex digits; the answer lists the other 35 digits of every exposed hash in that
//! range with a count, one `SUFFIX:COUNT` line each, CRLF between lines and none after the
//! last.
//!
//! **What the table holds.** Only these SHA-1 hashes, with counts and dates — no identifier,
//! no customer id. They are hashes of identifiers already exposed, the same thing HIBP serves:
//! anyone can enumerate the million ranges, and SHA-1 of a phone number is reversed by trying
//! the 10^8 mobile numbers, so the served set is effectively public. That is the point of the
//! service (people check themselves without telling anyone their e-mail), and the reason only
//! exposed identifiers go in: a customer never found in a leak is never in the table.

use async_trait::async_trait;
use haechi_events::{StoreError, Timestamp};
use sha1::{Digest, Sha1};

use crate::Error;

/// What an exposed identifier is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ExposureKind {
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
}

impl ExposureKind {
    /// `email` or `phone`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }

    /// The kind named by [`ExposureKind::as_str`].
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "email" => Some(Self::Email),
            "phone" => Some(Self::Phone),
            _ => None,
        }
    }
}

/// SHA-1 of a normalised identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExposureHash([u8; 20]);

impl ExposureHash {
    /// The hash of an already normalised identifier.
    pub fn of_normalised(normalised: &str) -> Self {
        Self(Sha1::digest(normalised.as_bytes()).into())
    }

    /// From stored bytes; `None` unless there are exactly 20.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        <[u8; 20]>::try_from(bytes).ok().map(Self)
    }

    /// The 20 bytes.
    pub fn as_bytes(&self) -> &[u8; 20] {
        &self.0
    }

    /// The range it is served in: its first 20 bits.
    pub fn prefix(&self) -> RangePrefix {
        RangePrefix(
            (u32::from(self.0[0]) << 12) | (u32::from(self.0[1]) << 4) | u32::from(self.0[2] >> 4),
        )
    }

    /// The last 35 hex digits, upper-case.
    pub fn suffix_hex(&self) -> String {
        upper_hex(&self.0)[5..].to_string()
    }
}

/// A range: the first five hex digits (20 bits) of a hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RangePrefix(u32);

impl RangePrefix {
    /// Parses five hex digits, either case.
    ///
    /// # Errors
    /// [`Error::BadRangePrefix`] for anything else.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() != 5 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::BadRangePrefix);
        }
        u32::from_str_radix(text, 16)
            .map(Self)
            .map_err(|_| Error::BadRangePrefix)
    }

    /// The 20-bit value.
    pub fn value(self) -> u32 {
        self.0
    }

    /// The prefix of a 20-bit value (higher bits are dropped).
    pub fn from_value(value: u32) -> Self {
        Self(value & 0xF_FFFF)
    }

    /// Five upper-case hex digits.
    pub fn to_hex(self) -> String {
        format!("{:05X}", self.0)
    }
}

/// One exposed hash in a range, with how many times it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExposedHash {
    /// The hash.
    pub hash: ExposureHash,
    /// Sightings: leak-match runs (and scope results) that found it.
    pub count: u64,
}

/// An identifier found exposed, to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Exposure {
    /// Its hash.
    pub hash: ExposureHash,
    /// What it is.
    pub kind: ExposureKind,
}

impl Exposure {
    /// The exposure of a normalised identifier.
    pub fn of_normalised(kind: ExposureKind, normalised: &str) -> Self {
        Self {
            hash: ExposureHash::of_normalised(normalised),
            kind,
        }
    }
}

/// Storage of exposed hashes.
#[async_trait]
pub trait ExposureStore: Send + Sync {
    /// Records one sighting of each exposure (new hashes start at 1, known ones count up),
    /// atomically. Returns how many hashes were new.
    async fn record_exposures(
        &self,
        exposures: &[Exposure],
        at: Timestamp,
    ) -> Result<u64, StoreError>;

    /// Every exposed hash in a range, in hash order.
    async fn exposure_range(&self, prefix: RangePrefix) -> Result<Vec<ExposedHash>, StoreError>;

    /// How many hashes are recorded.
    async fn exposure_count(&self) -> Result<u64, StoreError>;
}

/// Whether a range answer is padded with zero-count lines (`Add-Padding: true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Padding {
    /// Only the exposed hashes (but never an empty body: see [`render_range`]).
    Unpadded,
    /// At least [`PADDED_LINES`] lines, rounded up to a multiple of 100.
    Padded,
}

/// The least number of lines of a padded answer. HIBP pads its (much fuller) ranges to
/// 800–1,000 lines; a fixed floor and rounding make every answer below it the same size.
pub const PADDED_LINES: usize = 800;

/// The body of a range answer: `SUFFIX:COUNT` lines in suffix order, CRLF between lines, no
/// line ending after the last. `rows` must belong to `prefix`.
///
/// Padding lines have count 0 (which clients read as "not exposed") and suffixes from a fixed
/// list ([`padding_lines`], computed once), a window of it that starts at a place of the
/// prefix's, so the same data always gives the same body (and ETag) and a padded answer costs
/// a copy and a sort, not hundreds of hashes. An unpadded answer for a range with no exposed
/// hash still holds one zero-count line: HIBP never answers empty, and clients written for it
/// (the `pwnedpasswords` package) fail on an empty body.
pub fn render_range(prefix: RangePrefix, rows: &[ExposedHash], padding: Padding) -> String {
    let real: Vec<String> = rows
        .iter()
        .filter(|row| row.hash.prefix() == prefix)
        .map(|row| format!("{}:{}", row.hash.suffix_hex(), row.count))
        .collect();
    let target = match padding {
        Padding::Padded => PADDED_LINES.max(real.len().div_ceil(100) * 100),
        Padding::Unpadded => real.len().max(1),
    };
    let mut lines: Vec<&str> = real.iter().map(String::as_str).collect();
    let pool = padding_lines();
    let start = prefix.value() as usize % pool.len();
    let mut real_suffixes: Vec<&str> = real.iter().map(|line| &line[..SUFFIX_LEN]).collect();
    real_suffixes.sort_unstable();
    let is_real = |line: &str| real_suffixes.binary_search(&&line[..SUFFIX_LEN]).is_ok();
    for line in pool[start..].iter().chain(&pool[..start]) {
        if lines.len() >= target {
            break;
        }
        // A real hash equal to a padding one (odds 2^-140) keeps its own line.
        if !is_real(line) {
            lines.push(line);
        }
    }
    lines.sort_unstable();
    let mut body = String::with_capacity(lines.len() * (SUFFIX_LEN + 4));
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            body.push_str("\r\n");
        }
        body.push_str(line);
    }
    body
}

/// Hex digits of a suffix.
const SUFFIX_LEN: usize = 35;

/// The zero-count lines padding is drawn from: more than a padded answer can need (at most
/// 99 lines above [`PADDED_LINES`] real ones, or [`PADDED_LINES`] lines with none), each a
/// SHA-1 of a fixed label and a counter, rendered once per process.
fn padding_lines() -> &'static [String] {
    static LINES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    LINES.get_or_init(|| {
        (0..PADDED_LINES as u32 + 100)
            .map(|counter| {
                let mut hasher = Sha1::new();
                hasher.update(b"haechi exposure padding\0");
                hasher.update(counter.to_be_bytes());
                let digest: [u8; 20] = hasher.finalize().into();
                format!("{}:0", &upper_hex(&digest)[5..])
            })
            .collect()
    })
}

/// A strong entity tag for a range body: 16 hex digits of its SHA-1, quoted.
pub fn entity_tag(body: &str) -> String {
    let digest: [u8; 20] = Sha1::digest(body.as_bytes()).into();
    format!("\"{}\"", &upper_hex(&digest)[..16])
}

fn upper_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0xF)]));
    }
    out
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
    fn hashes_split_into_prefix_and_suffix() {
        // SHA-1("password") = 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8, the HIBP example.
        let hash = ExposureHash::of_normalised("password");
        assert_eq!(hash.prefix().to_hex(), "5BAA6");
        assert_eq!(hash.suffix_hex(), "1E4C9B93F3F0682250B6CF8331B7EE68FD8");
        assert_eq!(RangePrefix::parse("5baa6").unwrap(), hash.prefix());
    }

    #[test]
    fn hostile_prefixes_are_refused() {
        for bad in [
            "", "5BAA", "5BAA61", "GGGGG", "5BAA-", "５BAA6", "+1234", " 5BAA",
        ] {
            assert_eq!(
                RangePrefix::parse(bad),
                Err(Error::BadRangePrefix),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn range_bodies_follow_the_hibp_format() {
        let hash = ExposureHash::of_normalised("password");
        let other = ExposureHash::of_normalised("kim@example.com");
        let rows = [
            ExposedHash { hash, count: 3 },
            ExposedHash {
                hash: other,
                count: 1,
            },
        ];
        let body = render_range(hash.prefix(), &rows, Padding::Unpadded);
        assert_eq!(body, "1E4C9B93F3F0682250B6CF8331B7EE68FD8:3");
        let padded = render_range(hash.prefix(), &rows, Padding::Padded);
        let lines: Vec<&str> = padded.split("\r\n").collect();
        assert_eq!(lines.len(), PADDED_LINES);
        assert!(!padded.ends_with('\n'));
        assert!(lines.contains(&"1E4C9B93F3F0682250B6CF8331B7EE68FD8:3"));
        assert_eq!(
            lines.iter().filter(|l| l.ends_with(":0")).count(),
            PADDED_LINES - 1
        );
        assert!(lines.iter().all(|line| {
            let (suffix, count) = line.split_once(':').unwrap();
            suffix.len() == 35
                && suffix
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
                && count.parse::<u64>().is_ok()
        }));
        assert_eq!(padded, render_range(hash.prefix(), &rows, Padding::Padded));
        let empty = render_range(RangePrefix::from_value(0), &[], Padding::Unpadded);
        assert!(empty.ends_with(":0") && empty.len() == 37);
    }
}
