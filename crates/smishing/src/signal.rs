//! The reasons a text is probably not the company's, and how they are said to a customer.

use serde::Serialize;

/// One reason a text is probably not a message from the company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum Signal {
    /// A link to a domain that is not the company's.
    ForeignLink {
        /// The link's host (punycode for international names).
        host: String,
    },
    /// A link to a domain made to pass for the company's.
    LookAlikeDomain {
        /// The link's host (punycode for international names, so the trick is visible).
        host: String,
        /// The company's domain it imitates.
        resembles: String,
        /// How it imitates it.
        how: LookAlike,
    },
    /// A link through a URL shortener, which hides where it leads.
    ShortenedLink {
        /// The shortener's host.
        host: String,
    },
    /// A link to a bare IP address instead of a name.
    IpAddressLink {
        /// The address.
        host: String,
    },
    /// The text asks the reader to send, enter or tell a secret.
    AsksForSecret {
        /// Which secret.
        what: Secret,
    },
    /// The text asks the reader to install an app or program (an `.apk`, a "security app", a
    /// remote-support tool).
    AsksForAppInstall,
    /// The text asks the reader to send money.
    AsksForMoney,
    /// A phone number in the text that is not one of the company's.
    UnknownCallback {
        /// The number's digits (`01012345678`, `0215881234`).
        number: String,
    },
    /// The SMS app marked the text as sent from abroad (`[국외발신]`, `[국제발신]`).
    SentFromAbroad,
    /// A word scammers use to hurry or bait the reader (택배, 통관, 보상금, 계정 정지, 검찰 …).
    UrgencyLure {
        /// The word, in its usual spelling.
        word: String,
    },
}

/// How a look-alike domain imitates the company's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LookAlike {
    /// An international name (`xn--…`) whose letters look like the company's.
    Punycode,
    /// Letters that look alike: `rn` for `m`, Cyrillic `а` for Latin `a`, `1` for `l`.
    Homoglyph,
    /// The company's name with words added: `haechi-mall-refund.com`,
    /// `haechimall.co.kr.secure-login.xyz`.
    ExtraWords,
    /// One or two letters changed, dropped or swapped: `haechi-mal.co.kr`.
    Typo,
    /// The company's name under another suffix: `haechi-mall.com` for `haechi-mall.co.kr`.
    OtherSuffix,
}

/// A secret the company never asks for in a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Secret {
    /// A password (비밀번호, 공동인증서 암호).
    Password,
    /// A card number, its expiry date or a photo of the card.
    CardNumber,
    /// The card's security code (CVC, CVV).
    CardCvc,
    /// A one-time code (인증번호) to be told, sent, or entered somewhere the text points to.
    OneTimeCode,
    /// A resident registration number (주민등록번호).
    ResidentNumber,
    /// A bank account's PIN (계좌 비밀번호).
    AccountPassword,
    /// A bank account number to be entered or sent.
    BankAccount,
    /// A photo of an identity card (신분증).
    IdentityCard,
    /// A gift card's PIN (문화상품권 핀번호).
    GiftCardPin,
}

impl Signal {
    /// A stable machine-readable name, the same as the serialised `signal` tag.
    pub fn code(&self) -> &'static str {
        match self {
            Signal::ForeignLink { .. } => "foreign_link",
            Signal::LookAlikeDomain { .. } => "look_alike_domain",
            Signal::ShortenedLink { .. } => "shortened_link",
            Signal::IpAddressLink { .. } => "ip_address_link",
            Signal::AsksForSecret { .. } => "asks_for_secret",
            Signal::AsksForAppInstall => "asks_for_app_install",
            Signal::AsksForMoney => "asks_for_money",
            Signal::UnknownCallback { .. } => "unknown_callback",
            Signal::SentFromAbroad => "sent_from_abroad",
            Signal::UrgencyLure { .. } => "urgency_lure",
        }
    }

    /// The reason in Korean, as a plain sentence; the company is called "회사". Use
    /// [`Assessment::reasons_ko`](crate::Assessment::reasons_ko) to name it.
    pub fn reason_ko(&self) -> String {
        self.reason_ko_naming("회사")
    }

    /// The reason in English, as a plain sentence; the company is called "the company". Use
    /// [`Assessment::reasons_en`](crate::Assessment::reasons_en) to name it.
    pub fn reason_en(&self) -> String {
        self.reason_en_naming("the company")
    }

    pub(crate) fn reason_ko_naming(&self, company: &str) -> String {
        let company_topic = with_topic_particle(company);
        match self {
            Signal::ForeignLink { host } => {
                format!("{company}의 주소가 아닌 곳({host})으로 연결하는 링크가 있습니다.")
            }
            Signal::LookAlikeDomain {
                host,
                resembles,
                how,
            } => {
                let trick = match how {
                    LookAlike::Punycode => "모양이 비슷한 외국 문자로 만든",
                    LookAlike::Homoglyph => "비슷하게 생긴 글자로 바꿔 만든",
                    LookAlike::ExtraWords => "이름에 다른 단어를 덧붙여 만든",
                    LookAlike::Typo => "철자를 살짝 바꿔 만든",
                    LookAlike::OtherSuffix => "끝부분만 바꿔 만든",
                };
                format!(
                    "링크의 주소({host})는 {company}의 주소({resembles})처럼 보이도록 {trick} 가짜 주소입니다."
                )
            }
            Signal::ShortenedLink { host } => format!(
                "단축 주소({host})로 실제 연결되는 곳을 숨긴 링크가 있습니다. {company_topic} 단축 주소를 쓰지 않습니다."
            ),
            Signal::IpAddressLink { host } => format!(
                "이름 대신 숫자 주소({host})로 연결하는 링크가 있습니다. 정상적인 회사는 이런 링크를 보내지 않습니다."
            ),
            Signal::AsksForSecret { what } => format!(
                "{} 알려 달라거나 입력하라고 요구합니다. {company_topic} 문자로 이런 정보를 묻지 않습니다.",
                secret_ko(*what)
            ),
            Signal::AsksForAppInstall => format!(
                "앱이나 프로그램을 설치하라고 요구합니다. {company_topic} 문자로 앱 설치를 요구하지 않습니다."
            ),
            Signal::AsksForMoney => {
                "돈을 보내 달라고 요구합니다. 보내기 전에 알고 있던 번호로 직접 전화해 확인하세요."
                    .to_owned()
            }
            Signal::UnknownCallback { number } => {
                format!("{company}의 번호가 아닌 전화번호({number})가 있습니다.")
            }
            Signal::SentFromAbroad => {
                format!(
                    "해외에서 보낸 문자입니다([국외발신]). {company_topic} 국내에서 문자를 보냅니다."
                )
            }
            Signal::UrgencyLure { word } => {
                format!("사기 문자에 자주 쓰이는 말('{word}')로 서두르게 하거나 관심을 끕니다.")
            }
        }
    }

    pub(crate) fn reason_en_naming(&self, company: &str) -> String {
        match self {
            Signal::ForeignLink { host } => {
                format!("It links to an address that is not {company}'s ({host}).")
            }
            Signal::LookAlikeDomain {
                host,
                resembles,
                how,
            } => {
                let trick = match how {
                    LookAlike::Punycode => "made of foreign letters that look alike",
                    LookAlike::Homoglyph => "with look-alike letters swapped in",
                    LookAlike::ExtraWords => "with extra words added to the name",
                    LookAlike::Typo => "with the spelling slightly changed",
                    LookAlike::OtherSuffix => "with only the ending changed",
                };
                format!(
                    "The link's address ({host}) is a fake made to look like {company}'s ({resembles}), {trick}."
                )
            }
            Signal::ShortenedLink { host } => format!(
                "A shortened link ({host}) hides where it leads; {company} does not use shortened links."
            ),
            Signal::IpAddressLink { host } => format!(
                "A link goes to a numeric address ({host}) instead of a name; real companies do not send such links."
            ),
            Signal::AsksForSecret { what } => format!(
                "It asks you to tell or enter your {}; {company} never asks for it in a text.",
                secret_en(*what)
            ),
            Signal::AsksForAppInstall => format!(
                "It asks you to install an app or program; {company} never asks that in a text."
            ),
            Signal::AsksForMoney => {
                "It asks you to send money; call the person on a number you already know before you do."
                    .to_owned()
            }
            Signal::UnknownCallback { number } => {
                format!("It gives a phone number that is not {company}'s ({number}).")
            }
            Signal::SentFromAbroad => {
                format!("It was sent from abroad ([국외발신]); {company} sends its texts from Korea.")
            }
            Signal::UrgencyLure { word } => {
                format!("It uses a word common in scams ('{word}') to hurry or bait you.")
            }
        }
    }
}

/// The name with the topic particle Korean grammar wants: 은 after a final consonant (해치몰은),
/// 는 after a vowel (회사는), and both spelt out when the name does not end in Hangul.
fn with_topic_particle(name: &str) -> String {
    let particle = match name.chars().next_back() {
        Some(last @ '\u{AC00}'..='\u{D7A3}') => {
            if (u32::from(last) - 0xAC00) % 28 == 0 {
                "는"
            } else {
                "은"
            }
        }
        _ => "은(는)",
    };
    format!("{name}{particle}")
}

/// The secret's name with its object particle.
fn secret_ko(secret: Secret) -> &'static str {
    match secret {
        Secret::Password => "비밀번호를",
        Secret::CardNumber => "카드 번호나 카드 정보를",
        Secret::CardCvc => "카드 보안코드(CVC)를",
        Secret::OneTimeCode => "인증번호를",
        Secret::ResidentNumber => "주민등록번호를",
        Secret::AccountPassword => "계좌 비밀번호를",
        Secret::BankAccount => "계좌번호를",
        Secret::IdentityCard => "신분증 사진을",
        Secret::GiftCardPin => "상품권 핀번호를",
    }
}

fn secret_en(secret: Secret) -> &'static str {
    match secret {
        Secret::Password => "password",
        Secret::CardNumber => "card number or card details",
        Secret::CardCvc => "card security code (CVC)",
        Secret::OneTimeCode => "verification code",
        Secret::ResidentNumber => "resident registration number",
        Secret::AccountPassword => "bank account PIN",
        Secret::BankAccount => "bank account number",
        Secret::IdentityCard => "identity card photo",
        Secret::GiftCardPin => "gift card PIN",
    }
}
