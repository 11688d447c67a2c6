//! Bait and urgency words: what scammers write to make a reader act before thinking.
//!
//! These words are weak on their own (the company itself writes 택배 and 환불), so they add a
//! little each and never decide alone (see the weights in the crate documentation). 노출 and
//! 개인정보 are not lures: the company's genuine breach notice must use them. A claim for
//! compensation (보상금, 피해보상 신청) is: the company pays no compensation through a link.

use std::sync::LazyLock;

use regex::Regex;

use crate::Signal;

/// Each lure: the word shown to the reader, and the spellings that count as it.
const LURES: &[(&str, &str)] = &[
    ("택배", r"택배"),
    ("통관", r"통관"),
    ("관세", r"관세"),
    ("환불", r"환불"),
    ("환급", r"환급"),
    ("보상금", r"보상\s*금|보상\s*포인트|compensation"),
    (
        "피해보상",
        r"피해\s*보상|보상\s*(?:신청|접수|대상|조회)|피해\s*구제",
    ),
    (
        "계정 정지",
        r"계정\S{0,2}\s*(?:이용\s*)?(?:정지|잠금|잠겼|제한|보호\s*조치)|이용\S{0,2}\s*(?:정지|제한)|account\s+(?:suspended|locked)",
    ),
    ("미납", r"미납|체납|연체|미결제|미수령"),
    ("긴급", r"긴급|급하게|급해|\burgent"),
    ("즉시", r"즉시|지금\s*바로|\bimmediately"),
    (
        "오늘까지",
        r"오늘\s*까지|금일\s*중|오늘\s*마감|기한\s*내|마감\s*임박|임박|today\s+only",
    ),
    (
        "24시간 이내",
        r"[0-9]+\s*시간\s*(?:이내|안에|내)|within\s+[0-9]+\s+hours",
    ),
    (
        "법적 조치",
        r"법적\s*조치|압류|소송|고소|출석\s*요구|legal\s+action",
    ),
    ("검찰", r"검찰|지검"),
    ("경찰", r"경찰|수사관|수사\s*중|수사\s*협조|사이버\s*수사"),
    ("금감원", r"금감원|금융\s*감독원|금융\s*보안원"),
    ("과태료", r"과태료|범칙금|벌점"),
    (
        "주소 확인",
        r"주소\s*(?:불일치|불명|불분명|오류|확인|수정|재확인|재입력|변경|업데이트)|주소가\s*(?:잘못|불분명|불일치)|주소지\s*확인",
    ),
    (
        "반송",
        r"반송|배송\s*(?:불가|보류)|미배송|배달\s*실패|보관\s*중|보관중|수취인\s*부재",
    ),
    ("해외 결제", r"해외\s*(?:결제|승인)|국외\s*결제|직구\s*결제"),
    (
        "본인이 아니면",
        r"본인\S{0,2}\s*(?:이\s*)?(?:아닐|아니면|아니라면|아닌\s*경우|사용\s*아닐|결제가\s*아니|신청이\s*아닐)|정상\s*결제가\s*아니|미사용\s*시",
    ),
    ("당첨", r"당첨|경품"),
    ("지원금", r"지원금|민생\s*회복"),
    ("대출", r"대출|대환"),
    ("부고", r"부고|별세|빈소|장례식장\s*(?:안내|위치)"),
    ("청첩장", r"청첩장|초대장"),
    (
        "휴대폰 고장",
        r"폰\S{0,2}\s*(?:액정|고장|깨져|깨졌|침수|잃어)|액정\s*(?:깨|나가)|임시\s*폰|친구\s*폰|피씨로\s*문자|컴퓨터로\s*문자",
    ),
    ("상품권", r"상품권|기프트\s*카드|gift\s*card"),
    ("재발급", r"재발급|도용"),
];

static PATTERNS: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    LURES
        .iter()
        .filter_map(|&(word, spellings)| Regex::new(spellings).ok().map(|regex| (word, regex)))
        .collect()
});

/// The lures in the prepared text, each once, in the order of the list above.
pub(crate) fn find(text: &str) -> Vec<Signal> {
    PATTERNS
        .iter()
        .filter(|(_, pattern)| pattern.is_match(text))
        .map(|(word, _)| Signal::UrgencyLure {
            word: (*word).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        find(text)
            .into_iter()
            .filter_map(|signal| match signal {
                Signal::UrgencyLure { word } => Some(word),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(PATTERNS.len(), LURES.len());
    }

    #[test]
    fn lures_are_found_once_each() {
        assert_eq!(
            words("택배 택배 주소 불일치로 반송"),
            ["택배", "주소 확인", "반송"]
        );
        assert_eq!(
            words("피해보상 신청, 보상금 30만원"),
            ["보상금", "피해보상"]
        );
        assert_eq!(
            words("계정이 정지되었습니다 24시간 이내"),
            ["계정 정지", "24시간 이내"]
        );
    }

    #[test]
    fn exposure_words_are_not_lures() {
        assert!(words("개인정보 노출 안내. 외부에 노출되었습니다").is_empty());
    }
}
