//! Finds Korean personal data in free text: the library behind `haechi leak scan`.
//!
//! A [`Scanner`] runs a list of [`Recognizer`]s, one per kind of data ([`PiiKind`]): resident
//! and foreigner registration numbers, mobile and landline phones, e-mail addresses, customs
//! clearance codes, card numbers, business registration numbers, passports, driver licences
//! and road-name addresses. Each candidate becomes a [`Finding`] with a confidence between 0
//! and 1 and the [`Reason`]s behind it: the shape, a check digit that matched or failed, a
//! context word nearby (`주민번호`, `통관부호`, `여권` …) or one that points elsewhere
//! (`주문번호`, `송장` …). The scanner drops candidates below its threshold, lets the more
//! confident of two overlapping findings win, and returns them in text order with byte offsets
//! into the scanned text.
//!
//! ```
//! use haechi_leak::{PiiKind, mask, scan};
//!
//! let text = "주문자 홍길동 010-2345-6789, 주민번호 900101-1234568";
//! let findings = scan(text);
//! let kinds: Vec<PiiKind> = findings.iter().map(|f| f.kind).collect();
//! assert_eq!(kinds, [PiiKind::MobilePhone, PiiKind::ResidentRegistrationNumber]);
//! assert_eq!(mask(text, &findings[0]), "010-****-6789");
//! ```
//!
//! Text is folded before matching (full-width digits, Unicode dashes, decomposed Hangul), so
//! data pasted from other systems is found; offsets still refer to the caller's text.
//!
//! A failed registration-number check digit lowers confidence and never discards the match:
//! numbers issued since 2020-10-05 have no check digit.
//!
//! Beside the scanner, the crate holds the rest of leak watch's logic:
//!
//! - [`dump`]: reading leaked dumps — encoding detection (UTF-8 or CP949, line by line),
//!   format sniffing (CSV with any delimiter, JSON/JSONL, free text), column roles from
//!   Korean and English header names and from content, and the normalised e-mails, phones and
//!   names of each row, with problems that name line numbers and never quote the dump.
//! - [`matching`]: collecting the vault's confirmations into customers, fields and a
//!   confidence.
//! - [`exposure`]: SHA-1 hashes of exposed identifiers, their store trait, and the Have I
//!   Been Pwned range format they are served in.
//! - [`private_check`]: the anonymous check that publishes nothing — an oblivious PRF
//!   (RFC 9497) over those hashes, their tags by bucket, and the blinded evaluation.
//!
//! **Architecture invariant:** no IO. Reading files, threads, the vault, storage and printing
//! reports belong to `haechi-leakwatch` (the pipelines), the binary and the server; this
//! crate takes bytes and strings and returns values.
//!
//! Adding a kind of data is one file in `recognizers/` and one line in
//! [`default_recognizers`]; adding a dump format is one file in `dump/` and one line in
//! [`dump::FORMATS`].

#![forbid(unsafe_code)]

mod context;
pub mod dump;
mod error;
pub mod exposure;
mod finding;
mod fold;
mod mask;
pub mod matching;
pub mod private_check;
mod recognizers;
mod scanner;
pub mod watch_ledger;

pub use error::Error;
pub use finding::{Finding, PiiKind, Reason};
pub use mask::{mask, redact};
pub use recognizers::{
    AddressRecognizer, BusinessNumberRecognizer, CardNumberRecognizer, CustomsCodeRecognizer,
    DriverLicenceRecognizer, EmailRecognizer, ForeignerNumberRecognizer, LandlineRecognizer,
    MobilePhoneRecognizer, PassportRecognizer, Recognizer, ResidentNumberRecognizer,
    default_recognizers, looks_like_a_written_address,
};
pub use scanner::{DEFAULT_MINIMUM_CONFIDENCE, Scanner, scan};
