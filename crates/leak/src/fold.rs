//! Folding pasted text into the one spelling the recognisers' patterns expect, while keeping
//! the way back to the original byte offsets.

use std::borrow::Cow;

/// Text with full-width ASCII folded to ASCII, Unicode dashes folded to `-`, the ideographic
/// space folded to a space, and decomposed Hangul jamo composed into syllables, plus the map
/// from its byte offsets back to the original's.
pub(crate) struct FoldedText<'t> {
    text: Cow<'t, str>,
    /// For each byte of `text` and one past its end: the original byte offset of the group of
    /// characters that byte came from. Empty when nothing was folded.
    offsets: Vec<usize>,
    original_length: usize,
}

impl<'t> FoldedText<'t> {
    pub(crate) fn new(original: &'t str) -> Self {
        if !original.chars().any(needs_folding) {
            return Self {
                text: Cow::Borrowed(original),
                offsets: Vec::new(),
                original_length: original.len(),
            };
        }
        let mut text = String::with_capacity(original.len());
        let mut offsets = Vec::with_capacity(original.len() + 1);
        let mut chars = original.char_indices().peekable();
        while let Some((offset, c)) = chars.next() {
            let folded = match fold_char(c) {
                Some(folded) => folded,
                None => match jamo_lead_index(c) {
                    Some(lead) => {
                        // A lead consonant followed by a vowel (and maybe a tail consonant) is
                        // one syllable: Unicode's arithmetic Hangul composition.
                        match chars.peek().and_then(|(_, v)| jamo_vowel_index(*v)) {
                            Some(vowel) => {
                                chars.next();
                                let tail = match chars.peek().and_then(|(_, t)| jamo_tail_index(*t))
                                {
                                    Some(tail) => {
                                        chars.next();
                                        tail
                                    }
                                    None => 0,
                                };
                                char::from_u32(0xAC00 + (lead * 21 + vowel) * 28 + tail)
                                    .unwrap_or(c)
                            }
                            None => c,
                        }
                    }
                    None => c,
                },
            };
            let start = text.len();
            text.push(folded);
            offsets.extend(std::iter::repeat_n(offset, text.len() - start));
        }
        offsets.push(original.len());
        Self {
            text: Cow::Owned(text),
            offsets,
            original_length: original.len(),
        }
    }

    /// The folded text the recognisers read.
    pub(crate) fn as_str(&self) -> &str {
        &self.text
    }

    /// The original byte offset of a folded byte offset that is a character boundary (the
    /// start or the end of a finding).
    pub(crate) fn original_offset(&self, folded: usize) -> usize {
        if self.offsets.is_empty() {
            folded
        } else {
            self.offsets
                .get(folded)
                .copied()
                .unwrap_or(self.original_length)
        }
    }
}

fn needs_folding(c: char) -> bool {
    fold_char(c).is_some() || jamo_lead_index(c).is_some()
}

/// Full-width ASCII, the ideographic space and Unicode dashes, or `None` for every other
/// character.
fn fold_char(c: char) -> Option<char> {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0),
        '\u{3000}' => Some(' '),
        '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' => Some('-'),
        _ => None,
    }
}

fn jamo_lead_index(c: char) -> Option<u32> {
    ('\u{1100}'..='\u{1112}')
        .contains(&c)
        .then(|| u32::from(c) - 0x1100)
}

fn jamo_vowel_index(c: char) -> Option<u32> {
    ('\u{1161}'..='\u{1175}')
        .contains(&c)
        .then(|| u32::from(c) - 0x1161)
}

fn jamo_tail_index(c: char) -> Option<u32> {
    ('\u{11A8}'..='\u{11C2}')
        .contains(&c)
        .then(|| u32::from(c) - 0x11A7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_with_identity_offsets() {
        let folded = FoldedText::new("연락처 010-2345-6789");
        assert!(matches!(folded.text, Cow::Borrowed(_)));
        assert_eq!(folded.original_offset(7), 7);
    }

    #[test]
    fn full_width_and_jamo_fold_with_offsets_back() {
        let original = "\u{1112}\u{1169}\u{11BC} ０１０－２３４５";
        let folded = FoldedText::new(original);
        assert_eq!(folded.as_str(), "홍 010-2345");
        let digits_start = folded.as_str().find('0').unwrap_or_default();
        assert_eq!(
            &original[folded.original_offset(digits_start)..],
            "０１０－２３４５"
        );
        assert_eq!(
            folded.original_offset(folded.as_str().len()),
            original.len()
        );
        assert_eq!(folded.original_offset(0), 0);
        // The byte after the composed syllable maps to the space after the three jamo.
        assert_eq!(folded.original_offset(3), 9);
    }
}
