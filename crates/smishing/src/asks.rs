//! Requests for secrets, app installs and money, told apart from warnings about them.
//!
//! The company's own notices name the very things scammers ask for, in the negative:
//! "해치몰은 비밀번호, 카드번호, 인증번호를 묻지 않으며, 앱 설치를 요구하거나 … 않습니다". So a
//! request is a secret's name followed, in the same sentence, by a verb of handing over
//! (입력, 알려, 보내, 회신 …), and a sentence whose words after it deny or forbid (않습니다,
//! 마세요, 안 돼요, never) is a warning, not a request. A threat is not a denial:
//! "입력하지 않으면 정지됩니다" still asks.
//!
//! One exception keeps ordinary code messages quiet: a text that delivers a code
//! ("인증번호 [482913]을 입력해 주세요") asks the reader to enter it where they asked for it;
//! only telling or sending a code, or entering one the text does not carry, is a request.

use std::sync::LazyLock;

use regex::Regex;

use crate::{Secret, Signal};

/// Secrets by the words that name them, most specific first: a span claimed by one (계좌
/// 비밀번호) is not matched again by a more general one (비밀번호).
const SECRETS: &[(Secret, &str)] = &[
    (
        Secret::AccountPassword,
        r"계좌\s*(?:의\s*)?(?:비밀\s*번호|비번)|account\s+pin",
    ),
    (
        Secret::CardCvc,
        r"cvc|cvv|카드\s*보안\s*코드|카드\s*뒷면\s*3\s*자리|security\s+code",
    ),
    (
        Secret::GiftCardPin,
        r"핀\s*번호|pin\s*번호|상품권\s*번호|gift\s*card\s+pin",
    ),
    (
        Secret::ResidentNumber,
        r"주민\s*(?:등록)?\s*번호|resident\s+registration\s+number",
    ),
    (
        Secret::CardNumber,
        r"카드\s*번호|카드\s*정보|카드\s*(?:앞\s*뒤|앞면|뒷면)?\s*사진|유효\s*기간|card\s+(?:number|details)",
    ),
    (
        Secret::OneTimeCode,
        r"인증\s*번호|인증\s*코드|승인\s*번호|보안\s*카드|otp|verification\s+code|one[- ]time\s+code",
    ),
    (
        Secret::Password,
        r"비밀\s*번호|비번|패스워드|공동\s*인증서\s*암호|password",
    ),
    (
        Secret::BankAccount,
        r"계좌\s*번호|계좌\s*정보|account\s+number",
    ),
    (Secret::IdentityCard, r"신분증|id\s+card"),
];

static SECRET_PATTERNS: LazyLock<Vec<(Secret, Regex)>> = LazyLock::new(|| {
    SECRETS
        .iter()
        .filter_map(|&(what, words)| Regex::new(words).ok().map(|pattern| (what, pattern)))
        .collect()
});

/// Verbs of handing a secret over. A trailing 드 (보내드립니다, 알려드립니다) is the sender
/// giving, not asking, and is refused after the match.
static HAND_OVER: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r"(입력|알려|보내|회신|답장|답신|전달|불러|말씀|기재|작성|적어|등록|제출|찍어|촬영|공유\s*(?:해|하)|enter|send|reply|share|tell|provide|type)(\s*드)?",
    )
    .ok()
});

/// English puts the verb first: "enter your password".
static HAND_OVER_BEFORE: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?:enter|send|reply\s+with|share|tell\s+us|provide|confirm|update)\s+(?:your|the|us)?\s*$").ok()
});

static APP_INSTALL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?:앱|어플|어플리케이션|프로그램|apk|백신|설치\s*파일)\S{0,4}\s*(?:을|를)?\s*(?:설치|다운|깔|받아)",
        r"|\.apk\b|원격\s*(?:지원|제어|상담|조종)|팀뷰어|teamviewer|anydesk|애니\s*데스크",
        r"|퀵\s*서포트|quicksupport|install\s+(?:the\s+|this\s+|our\s+)?app|download\s+(?:the\s+|this\s+)?app",
    ))
    .ok()
});

static MONEY: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?:돈|[0-9][0-9,]*\s*만?\s*원)\s*(?:만|좀|을|를)?\s*(?:좀\s*)?(?:보내|송금|이체|입금)\S{0,3}\s*(?:줘|주|줄|해|부탁)",
        r"|(?:송금|이체|입금)\s*(?:좀\s*)?(?:해\s*줘|해\s*주|부탁)",
        r"|send\s+(?:me\s+)?(?:money|\$)",
    ))
    .ok()
});

/// Words after a request that turn it into a warning.
static DENIAL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"않|마세요|마십시오|마시고|말아|말고|마라|안\s*(?:되|돼|됩|된)|금지|묻지|요구하지|요청하지",
        r"|\bnever\b|\bnot\b|n't\b",
    ))
    .ok()
});

/// Words before a request that turn it into a warning.
static DENIAL_BEFORE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"절대|\bnever\b|\bdon't\b|\bdo\s+not\b").ok());

/// Negatives that make a threat, not a denial: "입력하지 않으면 정지됩니다".
static THREAT: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"않으면|않으시면|않을\s*(?:경우|시)|않는\s*(?:경우|다면)|않은\s*경우|않았다면|않을시",
        r"|안\s*하시면|안\s*하면|if\s+you\s+do\s+not|if\s+you\s+don't|unless",
    ))
    .ok()
});

/// A code the text itself delivers: four to eight digits standing alone.
static DELIVERED_CODE: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?:^|[^0-9-])[0-9]{4,8}(?:[^0-9-]|$)").ok());

/// How far after a secret's name its verb may be, in characters.
const VERB_WINDOW: usize = 30;

/// Every request in the prepared text, each kind once.
pub(crate) fn find(text: &str) -> Vec<Signal> {
    let delivers_code = DELIVERED_CODE
        .as_ref()
        .is_some_and(|pattern| pattern.is_match(text));
    let mut signals = Vec::new();
    for sentence in text.split(['.', '!', '?', '\n']) {
        for what in secrets_asked(sentence, delivers_code) {
            let signal = Signal::AsksForSecret { what };
            if !signals.contains(&signal) {
                signals.push(signal);
            }
        }
        for (pattern, signal) in [
            (&APP_INSTALL, Signal::AsksForAppInstall),
            (&MONEY, Signal::AsksForMoney),
        ] {
            let Some(pattern) = pattern.as_ref() else {
                continue;
            };
            let asked = pattern
                .find_iter(sentence)
                .any(|found| !denied(sentence, found.start()));
            if asked && !signals.contains(&signal) {
                signals.push(signal);
            }
        }
    }
    signals
}

fn secrets_asked(sentence: &str, delivers_code: bool) -> Vec<Secret> {
    let mut claimed: Vec<(usize, usize)> = Vec::new();
    let mut asked = Vec::new();
    for (what, pattern) in SECRET_PATTERNS.iter() {
        for found in pattern.find_iter(sentence) {
            let (start, end) = (found.start(), found.end());
            if claimed.iter().any(|&(s, e)| start < e && s < end) {
                continue;
            }
            claimed.push((start, end));
            let requested = match verb_after(&sentence[end..]) {
                Some(verb) => {
                    let entering = matches!(verb.as_str(), "입력" | "enter" | "type");
                    !(*what == Secret::OneTimeCode && delivers_code && entering)
                }
                None => verb_before(&sentence[..start]),
            };
            if requested && !denied(sentence, start) && !asked.contains(what) {
                asked.push(*what);
            }
        }
    }
    asked
}

/// The hand-over verb within [`VERB_WINDOW`] characters after a secret's name, if any.
fn verb_after(after: &str) -> Option<String> {
    let window_end = after
        .char_indices()
        .nth(VERB_WINDOW)
        .map_or(after.len(), |(index, _)| index);
    let window = &after[..window_end];
    let pattern = HAND_OVER.as_ref()?;
    pattern
        .captures_iter(window)
        .find(|capture| capture.get(2).is_none())
        .and_then(|capture| capture.get(1))
        .map(|verb| verb.as_str().to_owned())
}

fn verb_before(before: &str) -> bool {
    HAND_OVER_BEFORE
        .as_ref()
        .is_some_and(|pattern| pattern.is_match(before))
}

/// Whether the sentence denies or forbids what starts at `start`.
fn denied(sentence: &str, start: usize) -> bool {
    let (before, after) = sentence.split_at(start);
    let after = match THREAT.as_ref() {
        Some(threat) => threat.replace_all(after, " ").into_owned(),
        None => after.to_owned(),
    };
    DENIAL
        .as_ref()
        .is_some_and(|denial| denial.is_match(&after))
        || DENIAL_BEFORE
            .as_ref()
            .is_some_and(|denial| denial.is_match(before))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, expected: &[Signal]) {
        assert_eq!(find(&text.to_lowercase()), expected, "{text}");
    }

    fn secret(what: Secret) -> Signal {
        Signal::AsksForSecret { what }
    }

    #[test]
    fn requests_are_found() {
        check("비밀번호를 입력하세요", &[secret(Secret::Password)]);
        check(
            "카드번호와 유효기간을 입력하시면 환불됩니다",
            &[secret(Secret::CardNumber)],
        );
        check("CVC 3자리를 회신해 주세요", &[secret(Secret::CardCvc)]);
        check(
            "계좌 비밀번호 4자리를 답장으로 보내주세요",
            &[secret(Secret::AccountPassword)],
        );
        check(
            "주민등록번호 앞 7자리를 회신해 주세요",
            &[secret(Secret::ResidentNumber)],
        );
        check("인증번호 오면 알려줘", &[secret(Secret::OneTimeCode)]);
        check(
            "아래 링크에서 인증번호를 입력하세요",
            &[secret(Secret::OneTimeCode)],
        );
        check(
            "신분증 사진 좀 찍어서 보내줄래?",
            &[secret(Secret::IdentityCard)],
        );
        check(
            "문화상품권 핀번호 좀 보내주세요",
            &[secret(Secret::GiftCardPin)],
        );
        check(
            "please enter your password here",
            &[secret(Secret::Password)],
        );
        check("보안 앱을 설치해 주세요", &[Signal::AsksForAppInstall]);
        check("guard.apk 다운로드", &[Signal::AsksForAppInstall]);
        check("돈 좀 보내줄 수 있어?", &[Signal::AsksForMoney]);
    }

    #[test]
    fn threats_still_ask() {
        check(
            "비밀번호를 입력하지 않으면 계정이 정지됩니다",
            &[secret(Secret::Password)],
        );
    }

    #[test]
    fn warnings_are_not_requests() {
        check(
            "해치몰은 비밀번호, 카드번호, 인증번호를 묻지 않으며, 앱 설치를 요구하거나 모르는 번호로 전화를 요청하지 않습니다.",
            &[],
        );
        check(
            "인증번호 [482913]을 입력해 주세요. 타인에게 절대 알려주지 마세요",
            &[],
        );
        check("인증번호는 731904 입니다. 정확히 입력해 주세요.", &[]);
        check("인증번호를 타인에게 알려주면 안 됩니다", &[]);
        check("Never share your verification code.", &[]);
        check("인증번호를 보내드렸습니다", &[]);
        check("보관함 비밀번호는 앱 주문 상세에서 확인하세요", &[]);
        check("해치몰 앱에서 주문하면 할인", &[]);
    }
}
