//! The crate's one error type.

use std::fmt;

/// The field a rejected value was meant for. Its `Display` form is the field's name in prose
/// ("phone number", "postal code"), so error messages read as sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// A person's name (`name`, `recipient`).
    Name,
    /// An e-mail address.
    Email,
    /// A phone number.
    Phone,
    /// A five-digit postal code (우편번호).
    PostalCode,
    /// A personal customs clearance code (개인통관고유부호).
    CustomsCode,
    /// A date of birth.
    BirthDate,
    /// The road-name part of an address (도로명주소).
    RoadAddress,
    /// The detail part of an address (동/호).
    DetailAddress,
    /// An entrance note: door codes and how to get in.
    EntranceNote,
    /// A resident or foreigner registration number (주민등록번호, 외국인등록번호).
    RegistrationNumber,
    /// A business registration number (사업자등록번호).
    BusinessNumber,
    /// A passport number.
    PassportNumber,
    /// A driver licence number.
    DriverLicence,
}

impl Field {
    /// The field's name in prose, as used in error messages.
    pub fn description(self) -> &'static str {
        match self {
            Self::Name => "name",
            Self::Email => "e-mail address",
            Self::Phone => "phone number",
            Self::PostalCode => "postal code",
            Self::CustomsCode => "customs clearance code",
            Self::BirthDate => "birth date",
            Self::RoadAddress => "road address",
            Self::DetailAddress => "detail address",
            Self::EntranceNote => "entrance note",
            Self::RegistrationNumber => "registration number",
            Self::BusinessNumber => "business registration number",
            Self::PassportNumber => "passport number",
            Self::DriverLicence => "driver licence number",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// Why a value was refused. Every variant names the [`Field`]; the `Display` form is one
/// sentence fit to show to the person who typed the value.
///
/// Errors never contain the rejected value itself: it is personal data, and error messages end
/// up in logs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Nothing was left after trimming whitespace.
    #[error("The {field} is empty.")]
    Empty {
        /// The field the value was meant for.
        field: Field,
    },
    /// The value is longer than the field allows, counted in characters after normalisation.
    #[error("The {field} is {length} characters long; at most {max} are allowed.")]
    TooLong {
        /// The field the value was meant for.
        field: Field,
        /// The value's length in characters.
        length: usize,
        /// The most characters the field allows.
        max: usize,
    },
    /// The value contains a control character, or an invisible or bidirectional-override
    /// character that could make stored text display differently from what it is.
    #[error("The {field} contains a control or invisible character.")]
    ForbiddenCharacter {
        /// The field the value was meant for.
        field: Field,
    },
    /// The value does not have the field's shape or breaks one of its rules; `reason` says
    /// which, as a sentence.
    #[error("The {field} is not valid: {reason}")]
    Invalid {
        /// The field the value was meant for.
        field: Field,
        /// What is wrong, as a sentence ending in a full stop.
        reason: &'static str,
    },
}

impl Error {
    /// The field the rejected value was meant for.
    pub fn field(&self) -> Field {
        match self {
            Self::Empty { field }
            | Self::TooLong { field, .. }
            | Self::ForbiddenCharacter { field }
            | Self::Invalid { field, .. } => *field,
        }
    }

    pub(crate) fn invalid(field: Field, reason: &'static str) -> Self {
        Self::Invalid { field, reason }
    }
}
