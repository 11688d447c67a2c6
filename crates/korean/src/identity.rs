//! Identity numbers: registration numbers, business numbers, card numbers (Luhn), passports and
//! driver licences. The vault stores none of these; the leak scanner looks for them.

use std::fmt;

use time::{Date, Month};

use crate::normalize::fold_code;
use crate::{Error, Field};

/// The result of a check-digit test that every valid number passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Checksum {
    /// The check digit matches.
    Valid,
    /// The check digit does not match: a typo, or not a number of this kind.
    Invalid,
}

/// The result of a registration number's check-digit test, which valid numbers may fail.
///
/// Numbers issued or changed since 2020-10-05 end in six random digits, with no region code and
/// no check digit; about one in ten of them passes by chance. A mismatch therefore lowers
/// confidence that a string is a registration number, and never proves it is not one (python-
/// stdnum's `kr.rrn` gets this wrong; Presidio keeps such matches at a lower score).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationChecksum {
    /// The pre-2020 check digit matches.
    Valid,
    /// The check digit does not match: a number issued after 2020-10-05, a typo, or an invented
    /// number.
    MismatchOrIssuedAfter2020,
}

/// Whose registration number it is, read from the seventh digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holder {
    /// A Korean citizen (주민등록번호): seventh digit 1–4, or 9 and 0 for people born in the
    /// 1800s.
    Citizen,
    /// A registered foreigner (외국인등록번호): seventh digit 5–8.
    Foreigner,
}

/// A resident (주민등록번호) or foreigner (외국인등록번호) registration number,
/// `YYMMDD-GNNNNNN`, whose first six digits are a real date in the century the seventh digit
/// gives.
///
/// `Debug` prints the masked form, `900101-1******`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RegistrationNumber {
    digits: [u8; 13],
    birth_date: Date,
}

impl RegistrationNumber {
    /// Parses 13 digits, with or without a hyphen (or space) after the sixth, and checks the
    /// date. The check digit is not required: see [`RegistrationNumber::checksum`].
    ///
    /// # Errors
    /// [`Error::Invalid`] for another shape or a date that does not exist.
    pub fn parse(input: &str) -> Result<Self, Error> {
        const FIELD: Field = Field::RegistrationNumber;
        let digits: [u8; 13] = digits_with_separators(&fold_code(input), &[6]).ok_or(
            Error::invalid(FIELD, "A registration number is 13 digits, YYMMDD-GNNNNNN."),
        )?;
        let century = match digits[6] {
            9 | 0 => 1800,
            1 | 2 | 5 | 6 => 1900,
            _ => 2000,
        };
        let year = century + i32::from(digits[0] * 10 + digits[1]);
        let month = Month::try_from(digits[2] * 10 + digits[3]).ok();
        let day = digits[4] * 10 + digits[5];
        let birth_date = month
            .and_then(|m| Date::from_calendar_date(year, m, day).ok())
            .ok_or(Error::invalid(
                FIELD,
                "The first six digits are not a real date of birth.",
            ))?;
        Ok(Self { digits, birth_date })
    }

    /// Whether a citizen's or a foreigner's number.
    pub fn holder(&self) -> Holder {
        if (5..=8).contains(&self.digits[6]) {
            Holder::Foreigner
        } else {
            Holder::Citizen
        }
    }

    /// The date of birth the number encodes.
    pub fn birth_date(&self) -> Date {
        self.birth_date
    }

    /// The pre-2020 check-digit test: weights 2,3,4,5,6,7,8,9,2,3,4,5 over the first 12
    /// digits; the check digit is (11 − S mod 11) mod 10 for citizens and (13 − S mod 11)
    /// mod 10 for foreigners.
    pub fn checksum(&self) -> RegistrationChecksum {
        const WEIGHTS: [u32; 12] = [2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5];
        let sum: u32 = WEIGHTS
            .iter()
            .zip(self.digits)
            .map(|(w, d)| w * u32::from(d))
            .sum();
        let base = match self.holder() {
            Holder::Citizen => 11,
            Holder::Foreigner => 13,
        };
        if (base - sum % 11) % 10 == u32::from(self.digits[12]) {
            RegistrationChecksum::Valid
        } else {
            RegistrationChecksum::MismatchOrIssuedAfter2020
        }
    }

    /// The 13 digits without a hyphen.
    pub fn digits(&self) -> String {
        self.digits.iter().map(|d| char::from(b'0' + d)).collect()
    }

    /// The masked form: date of birth and the seventh digit kept, `900101-1******`.
    pub fn masked(&self) -> String {
        let digits = self.digits();
        format!("{}-{}******", &digits[..6], &digits[6..7])
    }
}

impl fmt::Debug for RegistrationNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RegistrationNumber")
            .field(&self.masked())
            .finish()
    }
}

/// A business registration number (사업자등록번호), `XXX-XX-XXXXX`, with a matching check
/// digit. About one random 10-digit string in ten passes the check, so a scanner should also
/// look for context words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BusinessNumber([u8; 10]);

impl BusinessNumber {
    /// Parses 10 digits, with or without hyphens after the third and fifth, and requires the
    /// check digit.
    ///
    /// # Errors
    /// [`Error::Invalid`] for another shape or a check digit that does not match.
    pub fn parse(input: &str) -> Result<Self, Error> {
        const FIELD: Field = Field::BusinessNumber;
        let digits: [u8; 10] =
            digits_with_separators(&fold_code(input), &[3, 5]).ok_or(Error::invalid(
                FIELD,
                "A business registration number is 10 digits, XXX-XX-XXXXX.",
            ))?;
        match business_number_checksum(&digits) {
            Checksum::Valid => Ok(Self(digits)),
            Checksum::Invalid => Err(Error::invalid(FIELD, "The check digit does not match.")),
        }
    }

    /// The number as `XXX-XX-XXXXX`.
    pub fn formatted(&self) -> String {
        let d: String = self.0.iter().map(|d| char::from(b'0' + d)).collect();
        format!("{}-{}-{}", &d[..3], &d[3..5], &d[5..])
    }
}

/// The business registration check: weights 1,3,7,1,3,7,1,3,5 over the first nine digits,
/// S = Σ + ⌊d₉ × 5 / 10⌋, check digit (10 − S mod 10) mod 10. Digits are values 0–9.
pub fn business_number_checksum(digits: &[u8; 10]) -> Checksum {
    const WEIGHTS: [u32; 9] = [1, 3, 7, 1, 3, 7, 1, 3, 5];
    let weighted: u32 = WEIGHTS
        .iter()
        .zip(digits)
        .map(|(w, d)| w * u32::from(*d))
        .sum();
    let sum = weighted + u32::from(digits[8]) * 5 / 10;
    if (10 - sum % 10) % 10 == u32::from(digits[9]) {
        Checksum::Valid
    } else {
        Checksum::Invalid
    }
}

/// The Luhn check used by payment card numbers, over a string of ASCII digits (no
/// separators). An empty string or any other character is [`Checksum::Invalid`].
pub fn luhn(digits: &str) -> Checksum {
    if digits.is_empty() {
        return Checksum::Invalid;
    }
    let mut sum = 0_u32;
    for (position, byte) in digits.bytes().rev().enumerate() {
        if !byte.is_ascii_digit() {
            return Checksum::Invalid;
        }
        let mut digit = u32::from(byte - b'0');
        if position % 2 == 1 {
            digit *= 2;
            if digit > 9 {
                digit -= 9;
            }
        }
        sum += digit;
    }
    if sum.is_multiple_of(10) {
        Checksum::Valid
    } else {
        Checksum::Invalid
    }
}

/// Which of the two passport number formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassportFormat {
    /// Before 2021-12-21: a type letter and 8 digits, `M12345678`.
    Old,
    /// Since 2021-12-21: a type letter, 3 digits, a letter and 4 digits, `M123A4567`.
    Since2021,
}

/// The passport type, from the first letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PassportType {
    /// `M`: multiple-journey (the usual one).
    Multiple,
    /// `S`: single-journey.
    Single,
    /// `R`: for residents abroad.
    Resident,
    /// `G`: government official.
    Government,
    /// `D`: diplomatic.
    Diplomatic,
}

/// A passport number in either format. Only the shape can be checked.
///
/// `Debug` prints the masked form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PassportNumber {
    text: String,
    format: PassportFormat,
    passport_type: PassportType,
}

impl PassportNumber {
    /// Parses either format; lower-case letters and full-width characters are normalised.
    ///
    /// # Errors
    /// [`Error::Invalid`] for another shape or an unknown type letter.
    pub fn parse(input: &str) -> Result<Self, Error> {
        const FIELD: Field = Field::PassportNumber;
        let text = fold_code(input).to_ascii_uppercase();
        let bytes = text.as_bytes();
        let passport_type = match bytes.first() {
            Some(b'M') => PassportType::Multiple,
            Some(b'S') => PassportType::Single,
            Some(b'R') => PassportType::Resident,
            Some(b'G') => PassportType::Government,
            Some(b'D') => PassportType::Diplomatic,
            _ => {
                return Err(Error::invalid(
                    FIELD,
                    "A Korean passport number starts with M, S, R, G or D.",
                ));
            }
        };
        let digit = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_digit);
        let format = if bytes.len() == 9 && (1..9).all(digit) {
            PassportFormat::Old
        } else if bytes.len() == 9
            && (1..4).all(digit)
            && bytes[4].is_ascii_uppercase()
            && (5..9).all(digit)
        {
            PassportFormat::Since2021
        } else {
            return Err(Error::invalid(
                FIELD,
                "A passport number is a letter and 8 digits, or since 2021 a letter, 3 digits, a letter and 4 digits.",
            ));
        };
        Ok(Self {
            text,
            format,
            passport_type,
        })
    }

    /// The normalised number, upper case.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Which format the number has.
    pub fn format(&self) -> PassportFormat {
        self.format
    }

    /// The passport type.
    pub fn passport_type(&self) -> PassportType {
        self.passport_type
    }

    /// The masked form: the first letter and the last two characters, `M******67`.
    pub fn masked(&self) -> String {
        format!("{}******{}", &self.text[..1], &self.text[7..])
    }
}

impl fmt::Debug for PassportNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("PassportNumber")
            .field(&self.masked())
            .finish()
    }
}

/// The issuing regions of driver licences: the two-digit code and the Hangul name older cards
/// print instead of it.
pub const DRIVER_LICENCE_REGIONS: [(u8, &str); 17] = [
    (11, "서울"),
    (12, "부산"),
    (13, "경기"),
    (14, "강원"),
    (15, "충북"),
    (16, "충남"),
    (17, "전북"),
    (18, "전남"),
    (19, "경북"),
    (20, "경남"),
    (21, "제주"),
    (22, "대구"),
    (23, "인천"),
    (24, "광주"),
    (25, "대전"),
    (26, "울산"),
    (28, "경기북부"),
];

/// A driver licence number, `RR-YY-NNNNNN-CC`: 12 digits whose first two are an issuing region
/// (11–26 or 28). Older cards print the region's name instead (`서울 12-345678-90`); both are
/// accepted and stored as 12 digits. The meaning of the last two digits is disputed, so nothing
/// beyond the shape and region is checked.
///
/// `Debug` prints the masked form.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DriverLicence([u8; 12]);

impl DriverLicence {
    /// Parses `11-12-345678-90`, `111234567890` or `서울 12-345678-90`.
    ///
    /// # Errors
    /// [`Error::Invalid`] for another shape or an unknown region.
    pub fn parse(input: &str) -> Result<Self, Error> {
        const FIELD: Field = Field::DriverLicence;
        let text = fold_code(input);
        let named_region = DRIVER_LICENCE_REGIONS
            .iter()
            .filter_map(|(code, name)| text.strip_prefix(name).map(|rest| (*code, rest)))
            // 경기북부 before 경기: the longest name that matches.
            .max_by_key(|(code, _)| *code == 28);
        let digits: [u8; 12] = match named_region {
            Some((code, rest)) => {
                let rest: [u8; 10] = digits_with_separators(rest.trim_start(), &[2, 8]).ok_or(
                    Error::invalid(FIELD, "After the region name come 10 digits, YY-NNNNNN-CC."),
                )?;
                let mut all = [code / 10, code % 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
                all[2..].copy_from_slice(&rest);
                all
            }
            None => digits_with_separators(&text, &[2, 4, 10]).ok_or(Error::invalid(
                FIELD,
                "A driver licence number is 12 digits, RR-YY-NNNNNN-CC.",
            ))?,
        };
        let region = digits[0] * 10 + digits[1];
        if !DRIVER_LICENCE_REGIONS
            .iter()
            .any(|(code, _)| *code == region)
        {
            return Err(Error::invalid(
                FIELD,
                "The first two digits are not an issuing region (11 to 26, or 28).",
            ));
        }
        Ok(Self(digits))
    }

    /// The issuing region's code, 11–26 or 28.
    pub fn region_code(&self) -> u8 {
        self.0[0] * 10 + self.0[1]
    }

    /// The issuing region's Hangul name.
    pub fn region_name(&self) -> &'static str {
        let code = self.region_code();
        DRIVER_LICENCE_REGIONS
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, name)| *name)
            .unwrap_or_default()
    }

    /// The number as `RR-YY-NNNNNN-CC`.
    pub fn formatted(&self) -> String {
        let d: String = self.0.iter().map(|d| char::from(b'0' + d)).collect();
        format!("{}-{}-{}-{}", &d[..2], &d[2..4], &d[4..10], &d[10..])
    }

    /// The masked form: region and year kept, `11-12-******-**`.
    pub fn masked(&self) -> String {
        let d = self.formatted();
        format!("{}******-**", &d[..6])
    }
}

impl fmt::Debug for DriverLicence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DriverLicence")
            .field(&self.masked())
            .finish()
    }
}

/// Reads exactly `N` ASCII digits as values 0–9, allowing one hyphen or space at each of the
/// digit positions in `breaks` (before the digit with that index). Either every break has a
/// separator or none does, except that spaces and hyphens may be mixed.
fn digits_with_separators<const N: usize>(text: &str, breaks: &[usize]) -> Option<[u8; N]> {
    let mut digits = [0_u8; N];
    let mut count = 0;
    let mut separators = 0;
    let mut previous_was_separator = false;
    for byte in text.bytes() {
        match byte {
            b'0'..=b'9' => {
                if count == N {
                    return None;
                }
                digits[count] = byte - b'0';
                count += 1;
                previous_was_separator = false;
            }
            b'-' | b' ' if !previous_was_separator && breaks.contains(&count) => {
                separators += 1;
                previous_was_separator = true;
            }
            _ => return None,
        }
    }
    let consistent = separators == 0 || separators == breaks.len();
    (count == N && consistent && !previous_was_separator).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separators_must_be_all_or_nothing() {
        assert_eq!(
            digits_with_separators::<10>("104-86-56659", &[3, 5]),
            Some([1, 0, 4, 8, 6, 5, 6, 6, 5, 9])
        );
        assert!(digits_with_separators::<10>("1048656659", &[3, 5]).is_some());
        assert!(digits_with_separators::<10>("104-8656659", &[3, 5]).is_none());
        assert!(digits_with_separators::<10>("10-486-56659", &[3, 5]).is_none());
        assert!(digits_with_separators::<10>("104--86-56659", &[3, 5]).is_none());
    }
}
