//! Masked display of findings: a scan report shows what kind of data leaked and where, never
//! the data itself.

use haechi_korean::{
    CustomsCode, DriverLicence, Email, PassportNumber, PhoneNumber, RegistrationNumber, RoadAddress,
};

use crate::{Finding, PiiKind};

/// The masked form of the text `finding` found in `text`: the vault's masks where the kind has
/// one (`010-****-5678`, `900101-1******`, `h***@example.com`, `서울특별시 송파구 올림픽로
/// ****`), and for the rest all but a few leading or trailing characters starred.
pub fn mask(text: &str, finding: &Finding) -> String {
    let found = finding.text(text);
    let masked = match finding.kind {
        PiiKind::ResidentRegistrationNumber | PiiKind::ForeignerRegistrationNumber => {
            RegistrationNumber::parse(&digits(found))
                .map(|n| n.masked())
                .ok()
        }
        PiiKind::MobilePhone | PiiKind::Landline => {
            PhoneNumber::parse_any(found).map(|p| p.masked()).ok()
        }
        PiiKind::Email => Email::parse(found).map(|e| e.masked()).ok(),
        PiiKind::CustomsCode => CustomsCode::parse(found).map(|c| c.masked()).ok(),
        PiiKind::Passport => PassportNumber::parse(found).map(|p| p.masked()).ok(),
        PiiKind::DriverLicence => DriverLicence::parse(found).map(|d| d.masked()).ok(),
        PiiKind::CardNumber => Some(star_digits_except_last(found, 4)),
        PiiKind::BusinessNumber => Some(star_digits_except_first(found, 3)),
        PiiKind::Address => Some(mask_address(found)),
    };
    masked.unwrap_or_else(|| star_all(found))
}

/// `text` with every finding replaced by its [`mask`]. `findings` must come from scanning
/// `text` (sorted and non-overlapping, as [`Scanner::scan`](crate::Scanner::scan) returns
/// them); any that are not are left out.
pub fn redact(text: &str, findings: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for finding in findings {
        if finding.start < copied || text.get(finding.start..finding.end).is_none() {
            continue;
        }
        out.push_str(&text[copied..finding.start]);
        out.push_str(&mask(text, finding));
        copied = finding.end;
    }
    out.push_str(&text[copied..]);
    out
}

fn digits(text: &str) -> String {
    text.chars()
        .filter_map(|c| c.to_digit(10).or_else(|| full_width_digit(c)))
        .filter_map(|d| char::from_digit(d, 10))
        .collect()
}

fn full_width_digit(c: char) -> Option<u32> {
    ('０'..='９')
        .contains(&c)
        .then(|| u32::from(c) - u32::from('０'))
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || full_width_digit(c).is_some()
}

fn star_digits_except_last(text: &str, keep: usize) -> String {
    let total = text.chars().filter(|c| is_digit(*c)).count();
    let mut seen = 0;
    text.chars()
        .map(|c| {
            if is_digit(c) {
                seen += 1;
                if seen + keep <= total { '*' } else { c }
            } else {
                c
            }
        })
        .collect()
}

fn star_digits_except_first(text: &str, keep: usize) -> String {
    let mut seen = 0;
    text.chars()
        .map(|c| {
            if is_digit(c) {
                seen += 1;
                if seen > keep { '*' } else { c }
            } else {
                c
            }
        })
        .collect()
}

fn star_all(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_alphanumeric() { '*' } else { c })
        .collect()
}

/// The vault's road-address mask, from the first Hangul character on (a leading postal code
/// is dropped), with `****` standing for what was removed.
fn mask_address(text: &str) -> String {
    let hangul_start = text
        .char_indices()
        .find(|(_, c)| ('\u{AC00}'..='\u{D7A3}').contains(c))
        .map_or(text.len(), |(i, _)| i);
    match RoadAddress::parse(&text[hangul_start..]) {
        Ok(road) => {
            let masked = road.masked();
            if masked.ends_with("****") {
                masked
            } else {
                format!("{masked} ****")
            }
        }
        Err(_) => star_all(text),
    }
}
