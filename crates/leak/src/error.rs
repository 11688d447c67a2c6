//! The crate's one error type.

use std::fmt;

/// What can go wrong in reading a dump's plan or an exposure range request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// `--columns` does not parse or names a header cell that does not exist.
    BadColumns(String),
    /// No column of a delimited dump looks like, or is named as, an e-mail, phone or name.
    NoRecognisableColumn {
        /// How many lines were sampled.
        sampled_lines: usize,
        /// How many fields the first record has.
        width: usize,
    },
    /// A range prefix is not exactly five hexadecimal digits.
    BadRangePrefix,
    /// An exposure-check bucket is not exactly four hexadecimal digits.
    BadBucket,
    /// An exposure check's blinded element is not one canonical ristretto255 element.
    BadBlindedElement,
    /// The exposure check's key could not be derived or used.
    CheckKey(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadColumns(message) => write!(f, "--columns: {message}"),
            Self::NoRecognisableColumn {
                sampled_lines,
                width,
            } => write!(
                f,
                "no column looks like an e-mail, phone or name (the first {sampled_lines} lines \
                 were sampled; their first record has {width} fields, none named or shaped like \
                 one): name the columns with --columns email=N,phone=N,name=N, or read the file \
                 as free text with --format text"
            ),
            Self::BadRangePrefix => {
                f.write_str("a range prefix is exactly 5 hexadecimal characters (0-9, A-F)")
            }
            Self::BadBucket => f.write_str(
                "a bucket is exactly 4 hexadecimal characters: the first 16 bits of the \
                 identifier's SHA-1",
            ),
            Self::BadBlindedElement => f.write_str(
                "the blinded element must be one ristretto255 element: 32 bytes, canonical, not \
                 the identity",
            ),
            Self::CheckKey(reason) => write!(f, "exposure check key: {reason}"),
        }
    }
}

impl std::error::Error for Error {}
