//! Words near a candidate that raise or lower confidence.

/// How many characters before a candidate are searched for context words.
const BEFORE: usize = 32;
/// How many characters after a candidate are searched for context words.
const AFTER: usize = 12;
/// How many characters before a candidate are searched for counter-context words: these must
/// sit right before the number they describe ("주문번호: …"), or they describe another one.
const COUNTER_BEFORE: usize = 14;

/// Words that introduce numbers that are not personal data. Checked only right before a
/// candidate, so a sentence that names an order and a resident number keeps both apart.
pub(crate) const COUNTER_WORDS: &[&str] = &[
    "주문번호",
    "주문 번호",
    "운송장",
    "송장",
    "택배",
    "배송조회",
    "상품코드",
    "상품번호",
    "품번",
    "모델",
    "버전",
    "계좌",
    "거래번호",
    "승인번호",
    "접수번호",
    "예약번호",
    "바코드",
    "barcode",
    "ean",
    "isbn",
    "version",
    "sku",
    "order",
    "tracking",
    "invoice",
    "serial",
];

/// The first of `words` (lower-case) found within a few characters before or after
/// `start..end` in `text`, compared case-insensitively for ASCII.
pub(crate) fn context_word(
    text: &str,
    start: usize,
    end: usize,
    words: &[&'static str],
) -> Option<&'static str> {
    let window_start = char_offset_before(text, start, BEFORE);
    let window_end = char_offset_after(text, end, AFTER);
    let before = text.get(window_start..start).unwrap_or_default();
    let after = text.get(end..window_end).unwrap_or_default();
    let before = before.to_ascii_lowercase();
    let after = after.to_ascii_lowercase();
    words
        .iter()
        .find(|word| before.contains(*word) || after.contains(*word))
        .copied()
}

/// The first counter-context word found right before `start`.
pub(crate) fn counter_word(text: &str, start: usize) -> Option<&'static str> {
    let window_start = char_offset_before(text, start, COUNTER_BEFORE);
    let before = text
        .get(window_start..start)
        .unwrap_or_default()
        .to_ascii_lowercase();
    COUNTER_WORDS
        .iter()
        .find(|word| before.contains(*word))
        .copied()
}

/// The byte offset `count` characters before `offset` (or 0).
fn char_offset_before(text: &str, offset: usize, count: usize) -> usize {
    text.get(..offset)
        .and_then(|head| head.char_indices().rev().nth(count.saturating_sub(1)))
        .map_or(0, |(i, _)| i)
}

/// The byte offset `count` characters after `offset` (or the end).
fn char_offset_after(text: &str, offset: usize, count: usize) -> usize {
    text.get(offset..)
        .and_then(|tail| tail.char_indices().nth(count))
        .map_or(text.len(), |(i, _)| offset + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_words_in_the_window_only() {
        let text = "고객 주민번호: 900101-1234568 입니다";
        let start = text.find('9').unwrap_or_default();
        let end = start + 14;
        assert_eq!(
            context_word(text, start, end, &["주민번호"]),
            Some("주민번호")
        );
        assert_eq!(context_word(text, start, end, &["여권"]), None);
        let far = format!("주민번호{}{}", " ".repeat(40), "900101-1234568");
        let start = far.find('9').unwrap_or_default();
        assert_eq!(context_word(&far, start, start + 14, &["주민번호"]), None);
    }

    #[test]
    fn ascii_context_is_case_insensitive() {
        let text = "PCCC: P123456789012";
        assert_eq!(context_word(text, 6, 19, &["pccc"]), Some("pccc"));
        assert_eq!(counter_word("Order No. 1234", 10), Some("order"));
    }
}
