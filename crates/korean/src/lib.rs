//! Korean personal data: what it looks like, how to spell it one way, how to show it masked.
//!
//! This crate is the domain knowledge behind Haechi's PII vault, its leak scanner and its test
//! data, written from the facts in `shared/product/KOREAN-DATA.md`:
//!
//! - **Normalisers** ([`normalize_email`], [`normalize_phone`], [`normalize_text`]) give every
//!   value one canonical spelling. Their output is what the vault's keyed-hash blind indexes
//!   hash, so it is exact and stable: changing it means re-indexing every record.
//! - **Typed values** ([`Email`], [`PhoneNumber`], [`PersonName`], [`BirthDate`],
//!   [`CustomsCode`], [`PostalCode`], [`RoadAddress`], [`DetailAddress`], [`EntranceNote`])
//!   can only be built by parsing, so holding one proves the value was checked. Each has a
//!   `masked()` form as the spec defines it, and its `Debug` output is that masked form, so a
//!   stray `{:?}` never writes personal data to a log.
//! - **Identity numbers** ([`RegistrationNumber`], [`BusinessNumber`], [`PassportNumber`],
//!   [`DriverLicence`], [`luhn`]) for the leak scanner. A registration number's failed check
//!   digit lowers confidence and never rejects it: numbers issued since 2020-10-05 have none.
//! - **Test data**: [`CustomerGenerator`] makes realistic customers by seed and index.
//!
//! Every error is an [`Error`] that names the [`Field`] and says what is wrong in a sentence,
//! without repeating the value.
//!
//! ```
//! use haechi_korean::{PhoneKind, PhoneNumber, RoadAddress, normalize_phone};
//!
//! assert_eq!(normalize_phone("+82 10-2345-6789")?, "01023456789");
//! let phone = PhoneNumber::parse("０１０－２３４５－６７８９")?;
//! assert_eq!(phone.kind(), PhoneKind::Mobile);
//! assert_eq!(phone.formatted(), "010-2345-6789");
//! assert_eq!(phone.masked(), "010-****-6789");
//! assert!(PhoneNumber::parse("1588-1234").is_err()); // a company number, not a person's
//!
//! let road = RoadAddress::parse("서울특별시 송파구 올림픽로 300, 101동 1203호")?;
//! assert_eq!(road.masked(), "서울특별시 송파구 올림픽로");
//! # Ok::<(), haechi_korean::Error>(())
//! ```
//!
//! **Architecture invariant:** the crate does no IO and reads no clock and no ambient
//! randomness. "Today" is a parameter of [`BirthDate::parse`]; the generator's randomness
//! comes from its seed alone.

#![forbid(unsafe_code)]

mod address;
mod email;
mod error;
mod generate;
mod identity;
mod normalize;
mod person;
mod phone;

pub use address::{
    DETAIL_ADDRESS_MAX_LENGTH, DetailAddress, ENTRANCE_NOTE_MAX_LENGTH, EntranceNote, PostalCode,
    Province, ROAD_ADDRESS_MAX_LENGTH, RoadAddress,
};
pub use email::Email;
pub use error::{Error, Field};
pub use generate::{CustomerGenerator, GeneratedAddress, GeneratedCustomer};
pub use identity::{
    BusinessNumber, Checksum, DRIVER_LICENCE_REGIONS, DriverLicence, Holder, PassportFormat,
    PassportNumber, PassportType, RegistrationChecksum, RegistrationNumber,
    business_number_checksum, luhn,
};
pub use normalize::{normalize_email, normalize_phone, normalize_text};
pub use person::{BIRTH_YEAR_MIN, BirthDate, CustomsCode, NAME_MAX_LENGTH, PersonName};
pub use phone::{PhoneKind, PhoneNumber};
