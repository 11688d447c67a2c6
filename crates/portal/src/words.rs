//! The portal's words, in Korean (first) and English: one table, so a page cannot show a
//! string in one language that the other lacks (a test checks every key a template names is
//! here).

use std::collections::BTreeMap;

use serde::Serialize;

/// A language the portal speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// 한국어, the default.
    Ko,
    /// English.
    En,
}

impl Lang {
    /// The language a `lang` query parameter asks for; Korean unless it says `en`.
    pub fn from_query(value: Option<&str>) -> Lang {
        match value {
            Some("en") => Lang::En,
            _ => Lang::Ko,
        }
    }

    /// The HTML `lang` attribute.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    fn pick(self, (ko, en): (&'static str, &'static str)) -> &'static str {
        match self {
            Lang::Ko => ko,
            Lang::En => en,
        }
    }
}

/// Key, Korean, English.
const WORDS: &[(&str, &str, &str)] = &[
    (
        "site_title",
        "개인정보 노출 확인",
        "Personal data exposure check",
    ),
    ("switch_language", "English", "한국어"),
    ("skip_to_main", "본문으로 건너뛰기", "Skip to main content"),
    ("statement_banner", "공식 안내", "Official statement"),
    (
        "read_statement",
        "안내문 전체 보기",
        "Read the full statement",
    ),
    (
        "check_title",
        "내 이메일·전화번호가 유출되었나요?",
        "Was my e-mail or phone exposed?",
    ),
    (
        "check_explain",
        "입력한 이메일이나 전화번호는 이 기기 밖으로 나가지 않습니다. 브라우저가 값을 암호학적으로 가린 뒤 확인하므로, 서버도 무엇을 확인했는지 알 수 없습니다.",
        "What you type never leaves this device: your browser blinds it cryptographically before asking, so not even our server learns what you checked.",
    ),
    (
        "check_label",
        "이메일 또는 전화번호",
        "E-mail or phone number",
    ),
    (
        "check_placeholder",
        "예: minjun@example.com 또는 010-1234-5678",
        "e.g. minjun@example.com or 010-1234-5678",
    ),
    ("check_button", "확인하기", "Check"),
    (
        "check_needs_js",
        "익명 확인은 브라우저 안에서 값을 가리는 계산이 필요해 JavaScript가 켜져 있어야 합니다. 로그인하면 JavaScript 없이도 정확한 노출 내역을 볼 수 있습니다.",
        "The anonymous check blinds your identifier inside the browser, so it needs JavaScript. Sign in to see your exact exposure without it.",
    ),
    ("check_working", "확인 중…", "Checking…"),
    (
        "check_exposed",
        "이 값은 유출된 정보에 포함되어 있습니다. 로그인하면 어떤 정보가 언제 유출되었는지 확인할 수 있습니다.",
        "This identifier is among the exposed data. Sign in to see exactly what was exposed and when.",
    ),
    (
        "check_clean",
        "이 값은 알려진 유출 정보에 포함되어 있지 않습니다.",
        "This identifier is not among the exposed data we know of.",
    ),
    (
        "check_invalid",
        "이메일 주소나 한국 전화번호 형식이 아닙니다.",
        "That is neither an e-mail address nor a Korean phone number.",
    ),
    (
        "check_busy",
        "요청이 많아 잠시 후 다시 시도해 주세요.",
        "Too many requests right now; please try again shortly.",
    ),
    (
        "check_failed",
        "확인하지 못했습니다. 잠시 후 다시 시도해 주세요.",
        "The check did not complete; please try again shortly.",
    ),
    (
        "login_title",
        "로그인하여 내 노출 내역 보기",
        "Sign in to see your own exposure",
    ),
    (
        "login_identifier",
        "이메일 또는 전화번호",
        "E-mail or phone number",
    ),
    ("login_password", "비밀번호", "Password"),
    ("login_button", "로그인", "Sign in"),
    (
        "login_failed",
        "로그인하지 못했습니다. 입력한 정보를 확인해 주세요.",
        "Sign-in failed. Please check what you entered.",
    ),
    (
        "login_throttled",
        "로그인 시도가 많습니다. 잠시 후 다시 시도해 주세요.",
        "Too many sign-in attempts. Please try again later.",
    ),
    ("logout_button", "로그아웃", "Sign out"),
    (
        "me_title",
        "내 개인정보 노출 내역",
        "Your personal data exposure",
    ),
    ("me_exposed_title", "유출된 정보", "What was exposed"),
    (
        "me_not_exposed_title",
        "유출되지 않은 정보",
        "What was not exposed",
    ),
    (
        "me_nothing_exposed",
        "기록된 사고 중 고객님의 정보가 유출된 사고는 없습니다.",
        "None of the recorded incidents exposed your data.",
    ),
    (
        "me_not_exposed_note",
        "아래 정보는 기록된 어떤 사고에서도 유출되지 않았습니다. 재발급이나 변경이 필요하지 않습니다.",
        "The following were not exposed in any recorded incident. There is no need to re-issue or change them.",
    ),
    ("me_incident", "사고", "Incident"),
    ("me_when", "노출 기간", "Exposed between"),
    ("me_reads", "조회 횟수", "Times read"),
    (
        "me_fields_unknown",
        "이 사고에서 고객님의 기록이 조회되었을 수 있습니다(항목 미상).",
        "Your record may have been read in this incident (fields unknown).",
    ),
    ("me_done", "회사가 한 조치", "What we did"),
    (
        "me_nothing_done",
        "아직 차단 조치가 기록되지 않았습니다.",
        "No containment recorded yet.",
    ),
    ("me_contained_at", "차단 시작", "Containment began"),
    (
        "me_scope_note",
        "이 내역은 회사가 확인한 사고를 기준으로 합니다.",
        "This covers the incidents the company has established.",
    ),
    (
        "incident_title",
        "사고 공식 안내",
        "Official incident statement",
    ),
    (
        "incident_none",
        "현재 진행 중인 사고 안내가 없습니다.",
        "There is no open incident statement.",
    ),
    ("incident_version", "판", "Version"),
    ("incident_published", "게시", "Published"),
    ("incident_signed_by", "서명 키", "Signing key"),
    (
        "incident_verify",
        "이 안내문은 회사의 안내문 서명 키로 서명되어 있습니다. 전달받은 문구가 원문과 같은지 확인할 수 있습니다.",
        "This statement is signed with the company's statement key: a copy you receive can be checked against it.",
    ),
    ("faq_title", "자주 묻는 질문", "Frequently asked questions"),
    (
        "verify_title",
        "우리가 보낸 메시지인가요?",
        "Is this message from us?",
    ),
    ("me_inbox_title", "받은 안내", "Notices sent to you"),
    (
        "me_inbox_note",
        "저희가 고객님께 보낸 안내입니다. 받은 문자나 메일이 여기 없는 내용이라면 저희가 보낸 것이 아닙니다.",
        "These are the notices we sent you. A text or e-mail that says something else did not come from us.",
    ),
    (
        "me_inbox_empty",
        "아직 보낸 안내가 없습니다.",
        "We have not sent you a notice.",
    ),
    ("channel_sms", "문자(SMS)", "Text message (SMS)"),
    ("channel_lms", "문자(LMS)", "Text message (LMS)"),
    ("channel_email", "이메일", "E-mail"),
    (
        "verify_explain",
        "받은 문자나 이메일을 그대로 붙여 넣으세요. 저희가 보낸 안내인지, 누군가 내용을 바꾼 것인지, 저희와 무관한 메시지인지 알려 드립니다. 붙여 넣은 내용은 저장하지 않습니다.",
        "Paste the text message or e-mail as you received it. We tell you whether we sent it, whether someone changed it, or whether it is not ours. What you paste is not stored.",
    ),
    ("verify_label", "받은 메시지", "The message you received"),
    ("verify_button", "확인하기", "Check"),
    (
        "verify_link",
        "받은 문자가 진짜인지 확인하기",
        "Check a message you received",
    ),
    ("verify_as_sent", "저희가 보낸 내용", "What we sent"),
    ("verify_reasons", "이렇게 판단한 이유", "Why"),
    (
        "verdict_genuine",
        "저희가 보낸 안내가 맞습니다",
        "We sent this message",
    ),
    (
        "verdict_genuine_note",
        "확인코드와 내용이 저희가 보낸 안내와 일치합니다. 그래도 문자 속 링크 대신 이 포털에서 직접 로그인해 확인하시면 더 안전합니다.",
        "Its code and its text match a notice we sent. Signing in on this portal directly, rather than through a link, is safer still.",
    ),
    (
        "verdict_altered",
        "내용이 바뀐 메시지입니다",
        "This message was changed",
    ),
    (
        "verdict_altered_note",
        "확인코드는 저희가 보낸 것이지만 내용이 다릅니다. 링크를 누르거나 적힌 번호로 전화하지 마세요.",
        "The code is ours but the text is not what we sent. Do not tap its links or call its numbers.",
    ),
    (
        "verdict_not_ours",
        "저희가 보낸 메시지가 아닙니다",
        "We did not send this message",
    ),
    (
        "verdict_not_ours_note",
        "링크를 누르거나, 개인정보·카드번호·인증번호를 입력하거나, 적힌 번호로 전화하지 마세요. 스미싱이 의심되면 118(한국인터넷진흥원)에 신고할 수 있습니다.",
        "Do not tap its links, enter personal data, card numbers or codes, or call its numbers. Suspected smishing can be reported to 118 (KISA).",
    ),
    (
        "never_ask",
        "회사는 문자나 이메일로 비밀번호, 카드번호, 앱 설치, 모르는 번호로의 전화를 요구하지 않습니다.",
        "We never ask for your password, card number, an app install or a call to an unknown number by text or e-mail.",
    ),
    (
        "busy_title",
        "접속자가 많습니다",
        "Many people are checking right now",
    ),
    (
        "busy_text",
        "잠시 후 자동으로 다시 시도합니다. 이 창을 닫지 마세요.",
        "This page will try again by itself in a moment. Please keep it open.",
    ),
    ("busy_retry", "지금 다시 시도", "Try again now"),
    (
        "error_title",
        "요청을 처리하지 못했습니다",
        "The request could not be completed",
    ),
    ("back_home", "처음으로", "Back to the start"),
    ("field_name", "이름", "Name"),
    ("field_email", "이메일", "E-mail"),
    ("field_phone", "전화번호", "Phone number"),
    ("field_birth_date", "생년월일", "Date of birth"),
    (
        "field_customs_code",
        "개인통관고유부호",
        "Personal customs clearance code",
    ),
    ("field_addresses", "배송지 주소", "Shipping addresses"),
    (
        "measure_signing_key_revoked",
        "유출된 서명 키 폐기",
        "Leaked signing key revoked",
    ),
    (
        "measure_networks_blocked",
        "공격 네트워크 차단",
        "Attacking networks blocked",
    ),
    (
        "measure_sessions_ended",
        "위조 세션 종료",
        "Forged sessions ended",
    ),
    (
        "measure_accounts_suspended",
        "관련 계정 정지",
        "Accounts involved suspended",
    ),
    ("measure_other", "기타 차단 조치", "Other containment"),
    ("state_open", "조사 중", "Under investigation"),
    ("state_contained", "차단됨", "Contained"),
    ("state_closed", "종료", "Closed"),
];

/// Every word in `lang`, by key: what templates see as `t`.
pub(crate) fn words(lang: Lang) -> BTreeMap<&'static str, &'static str> {
    WORDS
        .iter()
        .map(|(key, ko, en)| (*key, lang.pick((*ko, *en))))
        .collect()
}

/// The word for `key` in `lang`, or the key itself (a name the table lacks: a field an import
/// invented).
pub(crate) fn word(lang: Lang, key: &str) -> String {
    WORDS
        .iter()
        .find(|(known, _, _)| *known == key)
        .map_or_else(
            || key.to_string(),
            |(_, ko, en)| lang.pick((ko, en)).to_string(),
        )
}

/// Every key, for the test that templates name only keys that exist.
#[cfg(test)]
pub(crate) fn keys() -> impl Iterator<Item = &'static str> {
    WORDS.iter().map(|(key, _, _)| *key)
}
