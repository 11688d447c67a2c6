//! Undoing formatting damage and evasion before anything is matched.
//!
//! Texts reach the checker copied from SMS apps, messengers and mail: full-width characters,
//! `\r\n`, lines broken inside a link, zero-width characters. Scammers add their own evasions:
//! `haechi-mall . com`, `haechi-mall[.]com`, `haechi-mall。com`. Every later step reads the
//! one prepared text made here, so each evasion is undone once.

use std::sync::LazyLock;

use regex::Regex;
use unicode_normalization::UnicodeNormalization;

use crate::Extent;

/// How many bytes of a text are assessed. An SMS is at most 90 bytes and an LMS 2,000; a
/// paste longer than this is cut (at a character boundary) so that work stays bounded.
pub const ASSESSED_BYTES: usize = 8 * 1024;

/// The text every rule reads, and what preparing it learned.
pub(crate) struct Prepared {
    /// NFKC-normalised, lower-cased, de-obfuscated text with `\n` line ends.
    pub(crate) text: String,
    pub(crate) extent: Extent,
    pub(crate) sent_from_abroad: bool,
}

/// Dots that scammers write as `[.]`, `(.)` or `[dot]` so that filters miss the domain.
static DEFANGED_DOT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\s*(?:\[\.\]|\(\.\)|\{\.\}|\[dot\]|\(dot\))\s*").ok());

/// A dot with spaces before it (`haechi-mall . com`): sentences never put a space before
/// their full stop, so the spaces are evasion.
static SPACED_DOT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"([0-9a-z-])[ \t]+\.[ \t]*([a-z])").ok());

/// A dot with spaces only after it is usually a full stop; only before the commonest
/// suffixes of smishing links is it evasion (`haechi-mall. com`).
static DOT_SPACE_SUFFIX: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"([0-9a-z-])\.[ \t]+(com|net|kr|co\.kr|xyz|top|shop|site|online|info|org)\b").ok()
});

/// The SMS apps' mark on texts from abroad.
static FROM_ABROAD: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"[\[(<]\s*(?:국외|국제|해외)\s*발신\s*[\])>]").ok());

/// Prepares a text for the rules. Never panics, whatever the input.
pub(crate) fn prepare(input: &str) -> Prepared {
    let (head, extent) = cut(input);
    let mut text = String::with_capacity(head.len());
    for character in head.nfkc() {
        match character {
            '\r' => text.push('\n'),
            '\n' => text.push('\n'),
            // The ideographic full stop is not folded by NFKC; scammers use it as a dot.
            '\u{3002}' => text.push('.'),
            c if is_invisible(c) => {}
            c if c.is_control() || c.is_whitespace() => text.push(' '),
            c => text.extend(c.to_lowercase()),
        }
    }
    let text = rejoin_broken_links(&text);
    let text = replace_all(&DEFANGED_DOT, &text, ".");
    let text = replace_all(&SPACED_DOT, &text, "$1.$2");
    let text = replace_all(&DOT_SPACE_SUFFIX, &text, "$1.$2");
    let sent_from_abroad = FROM_ABROAD
        .as_ref()
        .is_some_and(|pattern| pattern.is_match(&text));
    Prepared {
        text,
        extent,
        sent_from_abroad,
    }
}

fn cut(input: &str) -> (&str, Extent) {
    if input.len() <= ASSESSED_BYTES {
        return (input, Extent::Whole);
    }
    let mut end = ASSESSED_BYTES;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    (&input[..end], Extent::FirstBytes { bytes: end })
}

/// Zero-width and direction characters: invisible, so a scammer can put them inside a domain
/// (`haechi\u{200B}-mall.com`) to break matching; a reader never sees them.
fn is_invisible(character: char) -> bool {
    matches!(
        character,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

fn replace_all(pattern: &LazyLock<Option<Regex>>, text: &str, with: &str) -> String {
    match pattern.as_ref() {
        Some(pattern) => pattern.replace_all(text, with).into_owned(),
        None => text.to_owned(),
    }
}

/// Joins a link that a line break cut in two (`https://portal.haechi-\nmall.co.kr`): a line
/// that ends in `-`, or in `.` inside something already link-like, continues on the next
/// line when that starts with a letter or digit. Joining an ordinary sentence this way would
/// invent a domain (`below.\nshop`), hence the link-like test.
fn rejoin_broken_links(text: &str) -> String {
    const LOOK_BACK_BYTES: usize = 512;
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find('\n') {
        let (line, after) = rest.split_at(position);
        out.push_str(line);
        let next = after.trim_start_matches(['\n', ' ']);
        let continues = next
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        // Only the line's last token matters; looking back a bounded way keeps a text of one
        // huge token linear.
        let mut tail = out.len().saturating_sub(LOOK_BACK_BYTES);
        while !out.is_char_boundary(tail) {
            tail += 1;
        }
        let token = out[tail..].rsplit([' ', '\n']).next().unwrap_or("");
        let link_like = token.contains("://") || token.starts_with("www.");
        let broken = continues
            && (token.ends_with('-') && token.len() > 1 || token.ends_with('.') && link_like);
        if broken {
            rest = next;
        } else {
            out.push('\n');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_width_and_spaced_dots_become_plain_domains() {
        assert_eq!(prepare("ｈａｅｃｈｉ．ｃｏｍ").text, "haechi.com");
        assert_eq!(prepare("haechi-mall . com").text, "haechi-mall.com");
        assert_eq!(prepare("haechi-mall[.]com").text, "haechi-mall.com");
        assert_eq!(prepare("haechi-mall。com").text, "haechi-mall.com");
        assert_eq!(prepare("haechi-mall. com").text, "haechi-mall.com");
        assert_eq!(prepare("늦어. 미안").text, "늦어. 미안");
    }

    #[test]
    fn broken_links_are_joined_and_sentences_are_not() {
        assert_eq!(
            prepare("https://portal.haechi-\nmall.co.kr").text,
            "https://portal.haechi-mall.co.kr"
        );
        assert_eq!(prepare("see below.\nshop now").text, "see below.\nshop now");
    }

    #[test]
    fn invisible_characters_are_dropped_and_controls_become_spaces() {
        assert_eq!(prepare("hae\u{200B}chi\u{0007}x").text, "haechi x");
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        let long = "가".repeat(ASSESSED_BYTES);
        let prepared = prepare(&long);
        assert!(matches!(prepared.extent, Extent::FirstBytes { bytes } if bytes <= ASSESSED_BYTES));
    }

    #[test]
    fn the_from_abroad_mark_is_seen() {
        assert!(prepare("[국외발신] 안내").sent_from_abroad);
        assert!(prepare("［국제발신］ 안내").sent_from_abroad);
        assert!(!prepare("[Web발신] 안내").sent_from_abroad);
    }
}
