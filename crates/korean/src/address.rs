//! Shipping addresses: postal codes, provinces, the road address, detail and entrance note.

use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::normalize::{fold_code, validated_text};
use crate::{Error, Field};

/// The longest road address accepted, in characters.
pub const ROAD_ADDRESS_MAX_LENGTH: usize = 200;
/// The longest detail address accepted, in characters.
pub const DETAIL_ADDRESS_MAX_LENGTH: usize = 200;
/// The longest entrance note accepted, in characters.
pub const ENTRANCE_NOTE_MAX_LENGTH: usize = 200;

/// A first-level division (시·도): the 17 provinces and metropolitan cities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Province {
    /// 서울특별시.
    Seoul,
    /// 경기도.
    Gyeonggi,
    /// 인천광역시.
    Incheon,
    /// 강원특별자치도 (강원도 until 2023).
    Gangwon,
    /// 충청북도.
    Chungbuk,
    /// 세종특별자치시.
    Sejong,
    /// 충청남도.
    Chungnam,
    /// 대전광역시.
    Daejeon,
    /// 경상북도.
    Gyeongbuk,
    /// 대구광역시.
    Daegu,
    /// 울산광역시.
    Ulsan,
    /// 부산광역시.
    Busan,
    /// 경상남도.
    Gyeongnam,
    /// 전북특별자치도 (전라북도 until 2024).
    Jeonbuk,
    /// 전라남도.
    Jeonnam,
    /// 광주광역시.
    Gwangju,
    /// 제주특별자치도.
    Jeju,
}

impl Province {
    /// Every province, in postal-code order.
    pub const ALL: [Self; 17] = [
        Self::Seoul,
        Self::Gyeonggi,
        Self::Incheon,
        Self::Gangwon,
        Self::Chungbuk,
        Self::Sejong,
        Self::Chungnam,
        Self::Daejeon,
        Self::Gyeongbuk,
        Self::Daegu,
        Self::Ulsan,
        Self::Busan,
        Self::Gyeongnam,
        Self::Jeonbuk,
        Self::Jeonnam,
        Self::Gwangju,
        Self::Jeju,
    ];

    /// The current official name, as written at the start of a road address.
    pub fn official_name(self) -> &'static str {
        self.names()[0]
    }

    /// Every spelling of the name seen at the start of addresses: the official name, former
    /// official names, and the short forms (`서울`, `경기`, `강원도`).
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Self::Seoul => &["서울특별시", "서울시", "서울"],
            Self::Gyeonggi => &["경기도", "경기"],
            Self::Incheon => &["인천광역시", "인천시", "인천"],
            Self::Gangwon => &["강원특별자치도", "강원도", "강원"],
            Self::Chungbuk => &["충청북도", "충북"],
            Self::Sejong => &["세종특별자치시", "세종시", "세종"],
            Self::Chungnam => &["충청남도", "충남"],
            Self::Daejeon => &["대전광역시", "대전시", "대전"],
            Self::Gyeongbuk => &["경상북도", "경북"],
            Self::Daegu => &["대구광역시", "대구시", "대구"],
            Self::Ulsan => &["울산광역시", "울산시", "울산"],
            Self::Busan => &["부산광역시", "부산시", "부산"],
            Self::Gyeongnam => &["경상남도", "경남"],
            Self::Jeonbuk => &["전북특별자치도", "전라북도", "전북"],
            Self::Jeonnam => &["전라남도", "전남"],
            Self::Gwangju => &["광주광역시", "광주시", "광주"],
            Self::Jeju => &["제주특별자치도", "제주도", "제주"],
        }
    }

    /// The province a name at the start of an address refers to, in any spelling of
    /// [`Province::names`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.names().contains(&name))
    }

    /// The range of the first two postal-code digits that belong to the province.
    pub fn postal_prefixes(self) -> RangeInclusive<u8> {
        match self {
            Self::Seoul => 1..=9,
            Self::Gyeonggi => 10..=20,
            Self::Incheon => 21..=23,
            Self::Gangwon => 24..=26,
            Self::Chungbuk => 27..=29,
            Self::Sejong => 30..=30,
            Self::Chungnam => 31..=33,
            Self::Daejeon => 34..=35,
            Self::Gyeongbuk => 36..=40,
            Self::Daegu => 41..=43,
            Self::Ulsan => 44..=45,
            Self::Busan => 46..=49,
            Self::Gyeongnam => 50..=53,
            Self::Jeonbuk => 54..=56,
            Self::Jeonnam => 57..=60,
            Self::Gwangju => 61..=62,
            Self::Jeju => 63..=63,
        }
    }

    /// The province a postal code's first two digits belong to.
    pub fn from_postal_prefix(prefix: u8) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|p| p.postal_prefixes().contains(&prefix))
    }
}

/// A five-digit postal code (우편번호, in use since 2015-08-01) whose first two digits name a
/// province.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PostalCode {
    digits: [u8; 5],
    province: Province,
}

impl PostalCode {
    /// Parses five digits (full-width digits are folded) whose first two are a province prefix,
    /// `01` to `63`.
    ///
    /// # Errors
    /// [`Error::Empty`] or [`Error::Invalid`]; the old six-digit `NNN-NNN` codes are refused
    /// with a message saying so.
    pub fn parse(input: &str) -> Result<Self, Error> {
        const FIELD: Field = Field::PostalCode;
        let code = fold_code(input);
        if code.is_empty() {
            return Err(Error::Empty { field: FIELD });
        }
        let bytes = code.as_bytes();
        let old_shape = match bytes.len() {
            6 => bytes.iter().all(u8::is_ascii_digit),
            7 => bytes[3] == b'-',
            _ => false,
        };
        if old_shape {
            return Err(Error::invalid(
                FIELD,
                "Six-digit postal codes were retired in 2015; use the five-digit code.",
            ));
        }
        let digits: [u8; 5] = bytes
            .try_into()
            .ok()
            .filter(|d: &[u8; 5]| d.iter().all(u8::is_ascii_digit))
            .ok_or(Error::invalid(FIELD, "A postal code is five digits."))?;
        let prefix = (digits[0] - b'0') * 10 + (digits[1] - b'0');
        let province = Province::from_postal_prefix(prefix).ok_or(Error::invalid(
            FIELD,
            "The first two digits are not a province prefix (01 to 63).",
        ))?;
        Ok(Self { digits, province })
    }

    /// The five digits.
    pub fn as_str(&self) -> &str {
        // The digits were checked to be ASCII in `parse`.
        std::str::from_utf8(&self.digits).unwrap_or_default()
    }

    /// The province the code belongs to.
    pub fn province(&self) -> Province {
        self.province
    }
}

impl FromStr for PostalCode {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl Serialize for PostalCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// The road-name part of an address (`서울특별시 송파구 올림픽로 300`), normalised with
/// [`normalize_text`](crate::normalize_text), 1–200 characters.
///
/// `Debug` prints the masked form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RoadAddress(String);

impl RoadAddress {
    /// Parses a road address. Only length and characters are checked: customers type
    /// addresses in too many valid shapes for a stricter rule to be safe.
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::TooLong`] or [`Error::ForbiddenCharacter`].
    pub fn parse(input: &str) -> Result<Self, Error> {
        validated_text(input, Field::RoadAddress, 1, ROAD_ADDRESS_MAX_LENGTH).map(Self)
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The masked form: 시/도, 시/군/구 (and 읍/면) and the road name, with the building
    /// number and everything after it removed. `서울특별시 송파구 올림픽로 300, 101동 1203호`
    /// becomes `서울특별시 송파구 올림픽로`.
    ///
    /// When no road name is found (a lot-number address, free text), only the leading
    /// administrative names are kept; when there are none either, the result is `****`.
    pub fn masked(&self) -> String {
        mask_road_address(&self.0)
    }
}

impl fmt::Debug for RoadAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RoadAddress").field(&self.masked()).finish()
    }
}

impl FromStr for RoadAddress {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl Serialize for RoadAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The detail part of an address (`101동 1203호`), normalised, 0–200 characters (a house has
/// none).
///
/// `Debug` prints the masked form.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DetailAddress(String);

impl DetailAddress {
    /// Parses a detail address; an empty one is allowed.
    ///
    /// # Errors
    /// [`Error::TooLong`] or [`Error::ForbiddenCharacter`].
    pub fn parse(input: &str) -> Result<Self, Error> {
        validated_text(input, Field::DetailAddress, 0, DETAIL_ADDRESS_MAX_LENGTH).map(Self)
    }

    /// The normalised detail.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Fully masked: `****` whatever its length (so the length does not leak either), or
    /// empty when the detail is empty.
    pub fn masked(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            FULL_MASK.to_owned()
        }
    }
}

impl fmt::Debug for DetailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DetailAddress")
            .field(&self.masked())
            .finish()
    }
}

impl FromStr for DetailAddress {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl Serialize for DetailAddress {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// An entrance note: door codes (공동현관 비밀번호) and how to get in, 1–200 characters. The
/// most sensitive field of an address: its mask reveals nothing, not even its length.
///
/// `Debug` prints `****`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct EntranceNote(String);

impl EntranceNote {
    /// Parses an entrance note.
    ///
    /// # Errors
    /// [`Error::Empty`], [`Error::TooLong`] or [`Error::ForbiddenCharacter`].
    pub fn parse(input: &str) -> Result<Self, Error> {
        validated_text(input, Field::EntranceNote, 1, ENTRANCE_NOTE_MAX_LENGTH).map(Self)
    }

    /// The normalised note.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Always `****`.
    pub fn masked(&self) -> String {
        FULL_MASK.to_owned()
    }
}

impl fmt::Debug for EntranceNote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EntranceNote").field(&FULL_MASK).finish()
    }
}

impl FromStr for EntranceNote {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse(input)
    }
}

impl Serialize for EntranceNote {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// The mask of a field that reveals nothing.
const FULL_MASK: &str = "****";

/// Keeps the administrative names and the road name at the start of a road address.
fn mask_road_address(address: &str) -> String {
    // The building number, unit and reference note follow the road name; a comma or an
    // opening parenthesis starts the parts that never survive.
    let head = address.split([',', '(']).next().unwrap_or_default();
    let mut kept: Vec<&str> = Vec::new();
    let mut found_road = false;
    for token in head.split_whitespace() {
        if is_road_name(token) {
            kept.push(token);
            found_road = true;
            break;
        }
        if is_administrative_name(token, kept.is_empty()) {
            kept.push(token);
        } else {
            break;
        }
    }
    if kept.is_empty() {
        return FULL_MASK.to_owned();
    }
    let mut masked = kept.join(" ");
    if !found_road {
        // Say that something was removed, so a partial address is not mistaken for a whole.
        masked.push_str(" ****");
    }
    masked
}

/// A road name ends in 로 or 길 (대로, 번길, 가길 included) and contains Hangul before it.
pub(crate) fn is_road_name(token: &str) -> bool {
    let Some(stem) = token
        .strip_suffix('로')
        .or_else(|| token.strip_suffix('길'))
    else {
        return false;
    };
    stem.chars().any(is_hangul_syllable)
        && token
            .chars()
            .all(|c| is_hangul_syllable(c) || c.is_ascii_digit() || c == '.')
}

/// A 시·도, 시·군·구 or 읍·면 name: Hangul ending in one of those suffixes, or a province name
/// in any spelling when it comes first.
fn is_administrative_name(token: &str, first: bool) -> bool {
    if first && Province::from_name(token).is_some() {
        return true;
    }
    let all_hangul = token.chars().all(is_hangul_syllable);
    let suffix_ok = ['시', '도', '군', '구', '읍', '면']
        .iter()
        .any(|s| token.ends_with(*s));
    all_hangul && suffix_ok && token.chars().count() >= 2
}

pub(crate) fn is_hangul_syllable(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}
