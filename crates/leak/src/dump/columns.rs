//! What each column of a dump holds: guessed from header names (Korean and English) and from
//! the values themselves, and overridable by the operator.

use std::fmt;

use haechi_korean::{PhoneNumber, normalize_email, normalize_text};

use crate::Error;

/// What a column (or a JSON key) holds, as far as matching is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ColumnRole {
    /// E-mail addresses.
    Email,
    /// Phone numbers.
    Phone,
    /// Person names.
    Name,
}

impl ColumnRole {
    /// Every role, in report order.
    pub const ALL: [Self; 3] = [Self::Email, Self::Phone, Self::Name];

    /// `email`, `phone` or `name`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
            Self::Name => "name",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

impl fmt::Display for ColumnRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a column got its role: shown to the operator so a wrong guess is easy to spot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleSource {
    /// The operator named it with `--columns`.
    Override,
    /// Its header name (`이메일`, `phone`, `성명` …).
    Header,
    /// This share of its sampled values, in percent, have the role's shape.
    Content(u8),
}

/// One column with a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleColumn {
    /// Zero-based column index.
    pub index: usize,
    /// What it holds.
    pub role: ColumnRole,
    /// Why.
    pub source: RoleSource,
}

/// `--columns email=2,phone=5,name=1`: columns by 1-based number or by header name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnOverrides {
    entries: Vec<(ColumnRole, ColumnRef)>,
}

/// How an override names a column.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ColumnRef {
    Number(usize),
    Header(String),
}

impl ColumnOverrides {
    /// Parses `role=column,…` where a column is a 1-based number or a header name and a role
    /// is `email`, `phone` or `name`. A role may be given several times (two phone columns).
    ///
    /// # Errors
    /// [`Error::BadColumns`] naming the part that does not parse.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut entries = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((role, column)) = part.split_once('=') else {
                return Err(Error::BadColumns(format!(
                    "{part:?} is not role=column (for example email=2)"
                )));
            };
            let Some(role) = ColumnRole::parse(&role.trim().to_ascii_lowercase()) else {
                return Err(Error::BadColumns(format!(
                    "unknown role {:?}: use email, phone or name",
                    role.trim()
                )));
            };
            let column = column.trim();
            let reference = match column.parse::<usize>() {
                Ok(0) => {
                    return Err(Error::BadColumns("columns are numbered from 1".to_string()));
                }
                Ok(number) => ColumnRef::Number(number - 1),
                Err(_) if column.is_empty() => {
                    return Err(Error::BadColumns(format!("{part:?} names no column")));
                }
                Err(_) => ColumnRef::Header(header_key(column)),
            };
            entries.push((role, reference));
        }
        if entries.is_empty() {
            return Err(Error::BadColumns("no column given".to_string()));
        }
        Ok(Self { entries })
    }

    /// Whether nothing was given.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The roles the overrides set.
    pub fn roles(&self) -> impl Iterator<Item = ColumnRole> + '_ {
        self.entries.iter().map(|(role, _)| *role)
    }

    /// Resolves the overrides against a header (if the dump has one).
    pub(crate) fn resolve(&self, header: Option<&[String]>) -> Result<Vec<RoleColumn>, Error> {
        let mut columns = Vec::new();
        for (role, reference) in &self.entries {
            let index = match reference {
                ColumnRef::Number(index) => *index,
                ColumnRef::Header(name) => header
                    .and_then(|cells| cells.iter().position(|cell| header_key(cell) == *name))
                    .ok_or_else(|| {
                        Error::BadColumns(format!(
                            "no header cell is named {name:?} (use column numbers for a dump without a header)"
                        ))
                    })?,
            };
            columns.push(RoleColumn {
                index,
                role: *role,
                source: RoleSource::Override,
            });
        }
        Ok(columns)
    }
}

/// Header cells compared without case, spaces, `_`, `-` or `.`.
pub(crate) fn header_key(cell: &str) -> String {
    normalize_text(cell.trim().trim_matches('"'))
        .chars()
        .filter(|c| !matches!(c, ' ' | '_' | '-' | '.'))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Words in header names (already through [`header_key`]) that give a column its role.
const EMAIL_WORDS: &[&str] = &["email", "mail", "이메일", "메일", "전자우편"];
/// Phone header words that must be the whole cell (`hp`), and words a cell may contain.
const PHONE_EXACT: &[&str] = &["hp", "tel", "cell", "폰"];
const PHONE_WORDS: &[&str] = &[
    "phone",
    "mobile",
    "휴대",
    "핸드폰",
    "전화",
    "연락처",
    "폰번호",
];
const NAME_WORDS: &[&str] = &[
    "name",
    "이름",
    "성명",
    "성함",
    "고객명",
    "회원명",
    "수령인",
    "수취인",
    "받는분",
    "받는사람",
    "주문자",
    "예금주",
];
/// Header words that contain a role's word but mean something else.
/// Part names (`first_name`) are left out too: compared with a full name they would only
/// ever disagree.
const NOT_NAME_WORDS: &[&str] = &[
    "username",
    "nickname",
    "filename",
    "hostname",
    "domainname",
    "productname",
    "itemname",
    "firstname",
    "lastname",
    "givenname",
    "familyname",
    "surname",
    "middlename",
    "상품명",
    "닉네임",
    "아이디",
    "영문",
];

/// The role a header cell names, if any.
pub fn role_from_header(cell: &str) -> Option<ColumnRole> {
    let key = header_key(cell);
    if key.is_empty() {
        return None;
    }
    if EMAIL_WORDS.iter().any(|word| key.contains(word)) {
        return Some(ColumnRole::Email);
    }
    if PHONE_EXACT.contains(&key.as_str()) || PHONE_WORDS.iter().any(|word| key.contains(word)) {
        return Some(ColumnRole::Phone);
    }
    if NOT_NAME_WORDS.iter().any(|word| key.contains(word)) {
        return None;
    }
    if NAME_WORDS
        .iter()
        .any(|word| key == *word || key.ends_with(word))
    {
        return Some(ColumnRole::Name);
    }
    None
}

/// The role a single value has by its shape, if it clearly has one. Names are recognised only
/// as 2–4 Hangul syllables (the shape of almost every Korean name); anything looser would
/// call cities and product words names.
pub fn role_from_content(value: &str) -> Option<ColumnRole> {
    let value = value.trim();
    if value.is_empty() || value.len() > 256 {
        return None;
    }
    if value.contains('@') {
        return normalize_email(value).ok().map(|_| ColumnRole::Email);
    }
    if value.bytes().any(|b| b.is_ascii_digit()) || value.contains(['０', '１', '２']) {
        return PhoneNumber::parse(value).ok().map(|_| ColumnRole::Phone);
    }
    looks_like_korean_name(value).then_some(ColumnRole::Name)
}

/// Two to four Hangul syllables, after composing decomposed jamo.
pub(crate) fn looks_like_korean_name(value: &str) -> bool {
    let composed = normalize_text(value);
    let count = composed.chars().count();
    (2..=4).contains(&count)
        && composed
            .chars()
            .all(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

/// The most common Korean surnames (well over 90 % of the population); the two-syllable
/// ones start with one of these too, except 독고 (rare enough to miss).
const SURNAMES: &str = "김이박최정강조윤장임한오서신권황안송류전홍고문양손배백허유남심노하곽성차주우구민진나지엄채원천방공현함변염여추도소석선설마길연위표명기반왕금옥육인맹제모탁국어은편용예경봉사부";

/// A Korean name by shape and a common surname: what a headerless column's values must
/// mostly be to be taken as names (city and product words fail the surname test more often
/// than not).
fn looks_like_name_value(value: &str) -> bool {
    looks_like_korean_name(value)
        && normalize_text(value)
            .chars()
            .next()
            .is_some_and(|first| SURNAMES.contains(first))
}

/// The share of values, in percent, a column needs to get a role from its content.
const CONTENT_THRESHOLD_PERCENT: usize = 60;

/// Guesses roles from a header row (if any) and sampled data rows. A column named by its
/// header gets that role; the others get a role when most of their non-empty sampled values
/// have its shape. Names are guessed from content only in a dump without a header (with one,
/// a name column is expected to say so: `주소` full of `서울` is not a name column).
pub(crate) fn guess_roles(header: Option<&[String]>, rows: &[Vec<String>]) -> Vec<RoleColumn> {
    let width = rows
        .iter()
        .map(Vec::len)
        .chain(header.map(<[String]>::len))
        .max()
        .unwrap_or(0);
    let mut columns = Vec::new();
    for index in 0..width {
        if let Some(role) = header
            .and_then(|cells| cells.get(index))
            .and_then(|cell| role_from_header(cell))
        {
            columns.push(RoleColumn {
                index,
                role,
                source: RoleSource::Header,
            });
            continue;
        }
        let mut counts = [0usize; 3];
        let mut filled = 0usize;
        for row in rows {
            let Some(value) = row.get(index).map(|v| v.trim()).filter(|v| !v.is_empty()) else {
                continue;
            };
            filled += 1;
            match role_from_content(value) {
                Some(ColumnRole::Name) if header.is_none() && looks_like_name_value(value) => {
                    counts[ColumnRole::Name as usize] += 1;
                }
                Some(ColumnRole::Name) | None => {}
                Some(role) => counts[role as usize] += 1,
            }
        }
        if filled == 0 {
            continue;
        }
        if let Some((role, count)) = ColumnRole::ALL
            .into_iter()
            .map(|role| (role, counts[role as usize]))
            .max_by_key(|(_, count)| *count)
            && count * 100 >= filled * CONTENT_THRESHOLD_PERCENT
        {
            columns.push(RoleColumn {
                index,
                role,
                source: RoleSource::Content(u8::try_from(count * 100 / filled).unwrap_or(100)),
            });
        }
    }
    columns
}

/// Whether the first row is a header: some cell names a role, or no cell has the shape of
/// an e-mail or phone while other rows have such values in that column.
pub(crate) fn is_header(first: &[String], rest: &[Vec<String>]) -> bool {
    let first_has_identifier = first.iter().any(|cell| {
        matches!(
            role_from_content(cell),
            Some(ColumnRole::Email | ColumnRole::Phone)
        )
    });
    if first_has_identifier {
        return false;
    }
    if first.iter().any(|cell| role_from_header(cell).is_some()) {
        return true;
    }
    let guessed = guess_roles(None, rest);
    guessed
        .iter()
        .any(|column| matches!(column.role, ColumnRole::Email | ColumnRole::Phone))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    fn check_header(cell: &str, expected: Option<ColumnRole>) {
        assert_eq!(role_from_header(cell), expected, "{cell:?}");
    }

    #[test]
    fn header_names_in_korean_and_english() {
        use ColumnRole::*;
        for (cell, role) in [
            ("이메일", Some(Email)),
            ("E-Mail Address", Some(Email)),
            ("user_email", Some(Email)),
            ("휴대폰 번호", Some(Phone)),
            ("연락처", Some(Phone)),
            ("Mobile", Some(Phone)),
            ("phone_number", Some(Phone)),
            ("HP", Some(Phone)),
            ("성명", Some(Name)),
            ("고객명", Some(Name)),
            ("Full Name", Some(Name)),
            ("name", Some(Name)),
            ("username", None),
            ("상품명", None),
            ("price", None),
            ("주문번호", None),
            ("", None),
        ] {
            check_header(cell, role);
        }
    }

    #[test]
    fn content_shapes() {
        assert_eq!(
            role_from_content("Kim@Example.com"),
            Some(ColumnRole::Email)
        );
        assert_eq!(
            role_from_content("+82 10-2345-6789"),
            Some(ColumnRole::Phone)
        );
        assert_eq!(
            role_from_content("０１０２３４５６７８９"),
            Some(ColumnRole::Phone)
        );
        assert_eq!(role_from_content("홍길동"), Some(ColumnRole::Name));
        assert_eq!(role_from_content("1588-1234"), None);
        assert_eq!(role_from_content("서울특별시 송파구"), None);
        assert_eq!(role_from_content("12,000"), None);
    }

    #[test]
    fn overrides_parse_numbers_and_names() {
        let overrides = ColumnOverrides::parse("email=2, phone=5,name=성명").unwrap();
        let header: Vec<String> = ["id", "mail", "x", "y", "tel", "성명"]
            .map(String::from)
            .to_vec();
        let columns = overrides.resolve(Some(&header)).unwrap();
        let indexes: Vec<(ColumnRole, usize)> = columns.iter().map(|c| (c.role, c.index)).collect();
        assert_eq!(
            indexes,
            [
                (ColumnRole::Email, 1),
                (ColumnRole::Phone, 4),
                (ColumnRole::Name, 5)
            ]
        );
        for bad in ["email", "mail=2", "email=0", "", "name=nope"] {
            let parsed = ColumnOverrides::parse(bad).and_then(|o| o.resolve(Some(&header)));
            assert!(parsed.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn roles_from_content_need_a_majority() {
        let rows: Vec<Vec<String>> = (0..10)
            .map(|i| {
                vec![
                    format!("{i}"),
                    if i < 8 {
                        format!("user{i}@example.com")
                    } else {
                        "-".into()
                    },
                    format!("010-2345-{:04}", 1000 + i),
                    "김민준".into(),
                ]
            })
            .collect();
        let guessed = guess_roles(None, &rows);
        let roles: Vec<(usize, ColumnRole)> = guessed.iter().map(|c| (c.index, c.role)).collect();
        assert_eq!(
            roles,
            [
                (1, ColumnRole::Email),
                (2, ColumnRole::Phone),
                (3, ColumnRole::Name)
            ]
        );
        assert!(!is_header(&rows[0], &rows[1..]));
        let header: Vec<String> = ["no", "a", "b", "c"].map(String::from).to_vec();
        assert!(is_header(&header, &rows));
    }
}
