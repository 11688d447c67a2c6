//! A person: name, date of birth, customs clearance code.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};
use time::{Date, Month};

use crate::normalize::{fold_code, validated_text};
use crate::{Error, Field};

/// The longest name accepted, in characters.
pub const NAME_MAX_LENGTH: usize = 50;
/// The earliest birth year accepted.
pub const BIRTH_YEAR_MIN: i32 = 1900;

/// A person's name, normalised with [`normalize_text`](crate::normalize_text), 1–50 characters,
/// without control or invisible characters. Korean names are usually 2–4 syllables; foreign
/// names with spaces are allowed.
///
/// `Debug` prints the masked form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    /// Parses a name.
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::TooLong`] or [`Error::ForbiddenCharacter`].
    pub fn parse(input: &str) -> Result<Self, Error> {
        validated_text(input, Field::Name, 1, NAME_MAX_LENGTH).map(Self)
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The masked form: `홍길동` → `홍*동`, two characters keep the first (`홍*`), four or more
    /// keep the first and last (`남궁**수`), and a single character is `*`.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        match chars.as_slice() {
            [] | [_] => "*".to_owned(),
            [first, _] => format!("{first}*"),
            [first, middle @ .., last] => {
                format!("{first}{}{last}", "*".repeat(middle.len()))
            }
        }
    }
}

impl fmt::Debug for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PersonName").field(&self.masked()).finish()
    }
}

impl FromStr for PersonName {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl Serialize for PersonName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// A date of birth: a real calendar date from 1900-01-01 up to the day the caller says is
/// today.
///
/// `Debug` prints the masked form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BirthDate(Date);

impl BirthDate {
    /// Parses `YYYY-MM-DD`. `today` comes from the caller's clock: the domain reads no clock of
    /// its own.
    ///
    /// # Errors
    /// [`Error::Empty`], or [`Error::Invalid`] for another shape, a day the calendar does not
    /// have (`1990-02-30`), a year before 1900, or a date after `today`.
    pub fn parse(input: &str, today: Date) -> Result<Self, Error> {
        const FIELD: Field = Field::BirthDate;
        let text = input.trim();
        if text.is_empty() {
            return Err(Error::Empty { field: FIELD });
        }
        let shape = Error::invalid(FIELD, "A birth date is written YYYY-MM-DD, as 1990-01-31.");
        let bytes = text.as_bytes();
        let digits_at = |range: std::ops::Range<usize>| {
            bytes
                .get(range)
                .filter(|part| part.iter().all(u8::is_ascii_digit))
                .map(|part| part.iter().fold(0_u32, |n, d| n * 10 + u32::from(d - b'0')))
        };
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(shape);
        }
        let (Some(year), Some(month), Some(day)) =
            (digits_at(0..4), digits_at(5..7), digits_at(8..10))
        else {
            return Err(shape);
        };
        let date = u8::try_from(month)
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .zip(u8::try_from(day).ok())
            .and_then(|(m, d)| Date::from_calendar_date(year as i32, m, d).ok())
            .ok_or(Error::invalid(
                FIELD,
                "That day does not exist in the calendar.",
            ))?;
        if date.year() < BIRTH_YEAR_MIN {
            return Err(Error::invalid(
                FIELD,
                "Birth dates before 1900 are not accepted.",
            ));
        }
        if date > today {
            return Err(Error::invalid(
                FIELD,
                "A birth date cannot be in the future.",
            ));
        }
        Ok(Self(date))
    }

    /// The date.
    pub fn date(&self) -> Date {
        self.0
    }

    /// `YYYY-MM-DD`.
    pub fn formatted(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}",
            self.0.year(),
            u8::from(self.0.month()),
            self.0.day()
        )
    }

    /// The masked form: the year only, `1990-**-**`.
    pub fn masked(&self) -> String {
        format!("{:04}-**-**", self.0.year())
    }
}

impl fmt::Debug for BirthDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BirthDate").field(&self.masked()).finish()
    }
}

impl Serialize for BirthDate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.formatted())
    }
}

/// A personal customs clearance code (개인통관고유부호): `P` and 12 digits.
///
/// No check-digit algorithm is published (blogs claim a year + serial + check digit layout,
/// unverified), so only the shape is checked.
///
/// `Debug` prints the masked form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CustomsCode(String);

impl CustomsCode {
    /// Parses `P` + 12 digits; a lower-case `p` and full-width characters are accepted and
    /// normalised.
    ///
    /// # Errors
    /// [`Error::Empty`] or [`Error::Invalid`].
    pub fn parse(input: &str) -> Result<Self, Error> {
        const FIELD: Field = Field::CustomsCode;
        let code = fold_code(input);
        if code.is_empty() {
            return Err(Error::Empty { field: FIELD });
        }
        let Some(digits) = code.strip_prefix(['P', 'p']) else {
            return Err(Error::invalid(
                FIELD,
                "A customs clearance code starts with P.",
            ));
        };
        if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::invalid(
                FIELD,
                "A customs clearance code is P followed by 12 digits.",
            ));
        }
        Ok(Self(format!("P{digits}")))
    }

    /// The normalised code, `P123456789012`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The masked form: the `P`, nine stars and the last three digits, `P*********012`.
    pub fn masked(&self) -> String {
        let last = self.0.get(10..).unwrap_or_default();
        format!("P*********{last}")
    }
}

impl fmt::Debug for CustomsCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CustomsCode").field(&self.masked()).finish()
    }
}

impl FromStr for CustomsCode {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl Serialize for CustomsCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}
