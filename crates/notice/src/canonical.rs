//! A notice's canonical text: what its code covers, and what a pasted copy is compared by.
//!
//! Phones and mail programs damage a message on its way to the person who pastes it back:
//! carriers prefix `[Web발신]`, screens break lines, copying joins them or doubles spaces,
//! some keyboards and apps write full-width letters. None of that changes what the message
//! says, so none of it changes the canonical text: NFKC folds the width forms, the codes and
//! the carriers' prefixes are removed, every space, line break and invisible format character
//! is dropped, and ASCII letters are lower-cased. A changed word, digit, link or phone number
//! still changes it.

use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization as _;

use crate::code::strip_codes;

/// What carriers and phones put before a message, after spaces are gone and letters folded.
const CARRIER_PREFIXES: [&str; 4] = ["[web발신]", "[국외발신]", "[국제발신]", "[해외발신]"];

/// The canonical form of `text`.
pub fn canonical(text: &str) -> String {
    let folded: String = text.nfkc().collect();
    let without_codes = strip_codes(&folded);
    let mut compact: String = without_codes
        .chars()
        .filter(|c| !c.is_whitespace() && !is_invisible(*c))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    for prefix in CARRIER_PREFIXES {
        compact = compact.replace(prefix, "");
    }
    compact
}

/// SHA-256 of [`canonical`]`(text)`, hex.
pub fn digest(text: &str) -> String {
    hex::encode(Sha256::digest(canonical(text).as_bytes()))
}

/// Whether `text` holds a carrier's prefix: a template may not write one (it would vanish
/// from the canonical text, so a smisher could add or remove it unnoticed anyway).
pub(crate) fn has_carrier_prefix(text: &str) -> bool {
    let compact: String = text
        .nfkc()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    CARRIER_PREFIXES
        .iter()
        .any(|prefix| compact.contains(prefix))
}

/// Characters that show nothing: zero-width spaces and joiners, direction marks, the byte
/// order mark, soft hyphens. Copying inserts and drops them freely.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
            | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: &str = "[해치몰] 개인정보 노출 안내\n고객님의 이름, 전화번호가 노출되었습니다.\n\
                        자세한 내용: https://portal.haechi-mall.co.kr\n확인코드 HC-7K2M-9QXD";

    #[test]
    fn formatting_damage_leaves_the_canonical_text_alone() {
        let damaged = [
            format!("[Web발신]\n{SENT}"),
            format!("[Web 발신] {}", SENT.replace('\n', " ")),
            SENT.replace('\n', ""),
            SENT.replace(' ', "  ").replace('\n', "\r\n\r\n"),
            SENT.replace("https", "HTTPS")
                .replace("HC-7K2M-9QXD", "hc 7k2m 9qxd"),
            SENT.replace("해치몰", "해치\u{200B}몰"),
            SENT.replace("portal", "ｐｏｒｔａｌ").replace(':', "："),
            format!("[국외발신]{SENT}"),
        ];
        for text in damaged {
            assert_eq!(digest(&text), digest(SENT), "{text:?}");
        }
    }

    #[test]
    fn a_changed_word_digit_or_link_changes_it() {
        for changed in [
            SENT.replace("haechi-mall.co.kr", "haechi-mall.co.kr.refund.top"),
            SENT.replace("이름, ", ""),
            SENT.replace("노출되었습니다", "노출되었으니 보상금을 신청하세요"),
            format!("{SENT}\n문의 010-9999-1234"),
        ] {
            assert_ne!(digest(&changed), digest(SENT), "{changed:?}");
        }
    }

    #[test]
    fn the_code_is_not_part_of_what_it_covers() {
        assert_eq!(
            canonical(SENT),
            canonical(&SENT.replace("HC-7K2M-9QXD", "HC-0000-0000"))
        );
        assert!(has_carrier_prefix("[ Web발신 ] 안녕"));
        assert!(!has_carrier_prefix("[해치몰] 안녕"));
    }
}
