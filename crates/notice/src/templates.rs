//! What a notice says: Jinja templates (minijinja) the company edits, one per channel, and
//! the sender's settings they are filled with. A template set is checked whole before any
//! notice is queued: it renders for the longest facts a customer can have, fits the carrier's
//! byte budget, prints the code exactly once, links nowhere but the portal, and writes no
//! carrier prefix.

use haechi_events::Timestamp;
use minijinja::{Environment, UndefinedBehavior, Value, context};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{OffsetDateTime, UtcOffset};

use crate::code::{NoticeCode, PLACEHOLDER};
use crate::ids::Channel;
use crate::links::check_links;
use crate::model::NoticeFacts;
use crate::{Error, canonical};

/// An SMS's budget: 90 bytes in EUC-KR (a Hangul syllable takes two, an ASCII character one),
/// as Korean carriers count a short message.
pub const SMS_BUDGET_BYTES: usize = 90;
/// An LMS's budget: 2,000 bytes in EUC-KR.
pub const LMS_BUDGET_BYTES: usize = 2_000;
/// The longest e-mail text or HTML, in bytes.
pub const EMAIL_MAX_BYTES: usize = 64 * 1024;
/// The longest sender setting (company, cause, measures), in characters.
const MAX_SETTING_CHARS: usize = 500;

/// The company's words that every notice carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sender {
    /// The company's name as customers know it (`해치몰`).
    pub company: String,
    /// The portal's origin (`https://portal.haechi-mall.co.kr`): the only link a notice carries.
    pub portal_origin: String,
    /// The company's phone numbers; the first is printed, all are the callbacks the
    /// verifier accepts.
    pub contact_numbers: Vec<String>,
    /// How it happened (경위), one or two sentences.
    pub cause: String,
    /// What the company did (조치).
    pub measures: String,
}

/// The template sources, one per channel (and the e-mail's subject and HTML).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateSet {
    /// `sms.txt`
    pub sms: String,
    /// `lms.txt`
    pub lms: String,
    /// `email_subject.txt`
    pub email_subject: String,
    /// `email.txt`
    pub email_text: String,
    /// `email.html` (HTML-escaped output)
    pub email_html: String,
}

impl TemplateSet {
    /// The file names a company's template directory holds, with the member each fills.
    pub const FILES: [&'static str; 5] = [
        "sms.txt",
        "lms.txt",
        "email_subject.txt",
        "email.txt",
        "email.html",
    ];

    /// The templates Haechi ships (Korean).
    pub fn builtin() -> TemplateSet {
        TemplateSet {
            sms: include_str!("../templates/sms.txt").to_string(),
            lms: include_str!("../templates/lms.txt").to_string(),
            email_subject: include_str!("../templates/email_subject.txt").to_string(),
            email_text: include_str!("../templates/email.txt").to_string(),
            email_html: include_str!("../templates/email.html").to_string(),
        }
    }

    /// Sets the template of file `name` (one of [`TemplateSet::FILES`]).
    pub fn set(&mut self, name: &str, source: String) -> Result<(), Error> {
        let slot = match name {
            "sms.txt" => &mut self.sms,
            "lms.txt" => &mut self.lms,
            "email_subject.txt" => &mut self.email_subject,
            "email.txt" => &mut self.email_text,
            "email.html" => &mut self.email_html,
            other => {
                return Err(Error::BadTemplate {
                    template: other.to_string(),
                    message: format!("not a notice template (expected one of {:?})", Self::FILES),
                });
            }
        };
        *slot = source;
        Ok(())
    }
}

/// A notice as it leaves: its text (and for e-mail, subject and HTML) with its code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The channel.
    pub channel: Channel,
    /// The e-mail's subject.
    pub subject: Option<String>,
    /// The text: the SMS or LMS, or the e-mail's plain part. Its canonical form is what the
    /// code covers.
    pub text: String,
    /// The e-mail's HTML part.
    pub html: Option<String>,
    /// SHA-256 of the text's canonical form, hex.
    pub body_digest: String,
    /// The text's size in EUC-KR bytes (SMS, LMS).
    pub euc_kr_bytes: Option<usize>,
}

impl Rendered {
    /// The same notice with `code` in place of the placeholder.
    pub fn with_code(mut self, code: &NoticeCode) -> Rendered {
        let code = code.to_string();
        self.text = self.text.replacen(PLACEHOLDER, &code, 1);
        self.html = self.html.map(|html| html.replacen(PLACEHOLDER, &code, 1));
        self
    }
}

/// A checked template set with the sender's settings: renders every notice of a batch.
#[derive(Debug)]
pub struct NoticeTemplates {
    environment: Environment<'static>,
    set: TemplateSet,
    sender: Sender,
}

impl NoticeTemplates {
    /// Compiles and checks `set` filled with `sender`.
    pub fn new(set: TemplateSet, sender: Sender) -> Result<NoticeTemplates, Error> {
        check_sender(&sender)?;
        let mut environment = Environment::new();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        environment.add_filter("particle", particle);
        for (name, source) in TemplateSet::FILES.into_iter().zip(sources(&set)) {
            environment
                .add_template_owned(name.to_string(), source.clone())
                .map_err(|error| template_error(name, &error))?;
        }
        let templates = NoticeTemplates {
            environment,
            set,
            sender,
        };
        for channel in Channel::ALL {
            templates.check(channel)?;
        }
        Ok(templates)
    }

    /// The template sources.
    pub fn set(&self) -> &TemplateSet {
        &self.set
    }

    /// The sender's settings.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// The batch id of this set and sender (`NB-` and 16 hexadecimal digits of their
    /// SHA-256): the same templates and words make the same batch.
    pub fn batch_id(&self) -> String {
        let mut digest = Sha256::new();
        for source in sources(&self.set) {
            digest.update((source.len() as u64).to_be_bytes());
            digest.update(source.as_bytes());
        }
        let sender = serde_json::to_vec(&self.sender).unwrap_or_default();
        digest.update(&sender);
        format!("NB-{}", &hex::encode(digest.finalize())[..16])
    }

    /// Renders `channel`'s notice for `facts` with `code` (or a placeholder code, for a
    /// preview and for the digest a code is made over: codes are not part of what they cover).
    pub fn render(
        &self,
        channel: Channel,
        facts: &NoticeFacts,
        code: Option<&NoticeCode>,
    ) -> Result<Rendered, Error> {
        let draft = self.render_draft(channel, facts)?;
        Ok(match code {
            Some(code) => draft.with_code(code),
            None => draft,
        })
    }

    /// The notice with the placeholder code: every template prints the code exactly once (the
    /// set's checks), so the real code replaces it without rendering again, and the digest and
    /// the EUC-KR size stay (a code is as long as the placeholder, and not covered by itself).
    fn render_draft(&self, channel: Channel, facts: &NoticeFacts) -> Result<Rendered, Error> {
        let fields_text = field_names(&facts.fields)?.join(", ");
        let code_text = PLACEHOLDER;
        let values = context! {
            company => &self.sender.company,
            // Checked to be `https://` and a host of letters, digits, dots, dashes: nothing to
            // escape, and `/` escaped as `&#x2f;` would only make the HTML harder to check.
            portal => Value::from_safe_string(self.sender.portal_origin.clone()),
            contact => self.sender.contact_numbers.first(),
            cause => &self.sender.cause,
            measures => &self.sender.measures,
            fields_text => fields_text,
            period => period(facts.first_seen, facts.last_seen),
            code => code_text,
        };
        let draw = |name: &str| -> Result<String, Error> {
            let template = self
                .environment
                .get_template(name)
                .map_err(|error| template_error(name, &error))?;
            let text = template
                .render(&values)
                .map_err(|error| template_error(name, &error))?;
            Ok(text.trim().to_string())
        };
        let (text_template, subject, html) = match channel {
            Channel::Sms => ("sms.txt", None, None),
            Channel::Lms => ("lms.txt", None, None),
            Channel::Email => (
                "email.txt",
                Some(draw("email_subject.txt")?),
                Some(draw("email.html")?),
            ),
        };
        let text = draw(text_template)?;
        let euc_kr_bytes = match channel {
            Channel::Sms | Channel::Lms => Some(euc_kr_len(text_template, &text)?),
            Channel::Email => None,
        };
        Ok(Rendered {
            channel,
            subject,
            body_digest: canonical::digest(&text),
            text,
            html,
            euc_kr_bytes,
        })
    }

    /// Renders `channel` for the longest facts a customer can have and checks the result.
    fn check(&self, channel: Channel) -> Result<(), Error> {
        let longest = NoticeFacts {
            fields: [
                "name",
                "email",
                "phone",
                "birth_date",
                "customs_code",
                "addresses",
            ]
            .map(String::from)
            .to_vec(),
            first_seen: Timestamp::from_micros(1_735_657_200_000_000),
            last_seen: Timestamp::from_micros(1_767_106_800_000_000),
        };
        let rendered = self.render(channel, &longest, None)?;
        let template = match channel {
            Channel::Sms => "sms.txt",
            Channel::Lms => "lms.txt",
            Channel::Email => "email.txt",
        };
        let bad = |message: String| Error::BadTemplate {
            template: template.to_string(),
            message,
        };
        if let Some(bytes) = rendered.euc_kr_bytes {
            let budget = if channel == Channel::Sms {
                SMS_BUDGET_BYTES
            } else {
                LMS_BUDGET_BYTES
            };
            if bytes > budget {
                return Err(bad(format!(
                    "the longest notice is {bytes} bytes in EUC-KR; a {} holds {budget}: \
                     shorten the template or the company's settings",
                    channel.as_str().to_uppercase()
                )));
            }
        }
        for (name, text) in std::iter::once((template, &rendered.text))
            .chain(rendered.html.iter().map(|html| ("email.html", html)))
        {
            let codes = text.matches(PLACEHOLDER).count();
            if codes != 1 {
                return Err(Error::BadTemplate {
                    template: name.to_string(),
                    message: format!(
                        "prints the notice code {codes} times; it must print {{{{ code }}}} once"
                    ),
                });
            }
            check_links(text, &self.sender.portal_origin).map_err(|message| {
                Error::BadTemplate {
                    template: name.to_string(),
                    message,
                }
            })?;
            if canonical::has_carrier_prefix(text) {
                return Err(Error::BadTemplate {
                    template: name.to_string(),
                    message: "writes a carrier's prefix ([Web발신]); carriers add it".into(),
                });
            }
        }
        if rendered.subject.as_deref().is_some_and(str::is_empty) {
            return Err(bad("the e-mail's subject is empty".into()));
        }
        Ok(())
    }
}

fn sources(set: &TemplateSet) -> [&String; 5] {
    [
        &set.sms,
        &set.lms,
        &set.email_subject,
        &set.email_text,
        &set.email_html,
    ]
}

fn template_error(name: &str, error: &minijinja::Error) -> Error {
    let line = error
        .line()
        .map(|line| format!("line {line}: "))
        .unwrap_or_default();
    Error::BadTemplate {
        template: name.to_string(),
        message: format!("{line}{}", error.detail().unwrap_or(&error.to_string())),
    }
}

fn check_sender(sender: &Sender) -> Result<(), Error> {
    let bad = |member: &str, message: &str| Error::BadSender(format!("{member}: {message}"));
    for (member, value) in [
        ("company", &sender.company),
        ("cause", &sender.cause),
        ("measures", &sender.measures),
    ] {
        if value.trim().is_empty() {
            return Err(bad(
                member,
                "is required: the law asks that a notice say who sends it, how it happened \
                 and what the company did",
            ));
        }
        if value.chars().count() > MAX_SETTING_CHARS || value.chars().any(char::is_control) {
            return Err(bad(member, "must be one line of at most 500 characters"));
        }
    }
    let origin = sender.portal_origin.as_str();
    let host = origin.strip_prefix("https://").unwrap_or_default();
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == ':')
        || !host.contains('.')
    {
        return Err(bad(
            "portal_origin",
            "must be an https:// origin without a path (https://portal.example.co.kr)",
        ));
    }
    if sender.contact_numbers.is_empty() {
        return Err(bad(
            "contact_numbers",
            "name at least one number customers can call",
        ));
    }
    for number in &sender.contact_numbers {
        haechi_korean::normalize_phone(number)
            .map_err(|error| bad("contact_numbers", &error.to_string()))?;
    }
    Ok(())
}

/// A field's name in a notice.
fn field_names(fields: &[String]) -> Result<Vec<&'static str>, Error> {
    fields
        .iter()
        .map(|field| match field.as_str() {
            "name" => Ok("이름"),
            "email" => Ok("이메일 주소"),
            "phone" => Ok("전화번호"),
            "birth_date" => Ok("생년월일"),
            "customs_code" => Ok("개인통관고유부호"),
            "addresses" => Ok("배송지 주소"),
            other => Err(Error::BadFacts(format!("unknown field {other:?}"))),
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|names| {
            if names.is_empty() {
                Err(Error::BadFacts(
                    "no field exposed: a notice must say which fields".into(),
                ))
            } else {
                Ok(names)
            }
        })
}

/// `2025년 6월 24일 ~ 2025년 11월 8일` in Korean time; one date when both fall on the same day.
fn period(first: Timestamp, last: Timestamp) -> String {
    let (first, last) = (korean_date(first), korean_date(last));
    if first == last {
        first
    } else {
        format!("{first} ~ {last}")
    }
}

fn korean_date(at: Timestamp) -> String {
    let kst = UtcOffset::from_hms(9, 0, 0).unwrap_or(UtcOffset::UTC);
    let instant = OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.as_micros()) * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(kst);
    format!(
        "{}년 {}월 {}일",
        instant.year(),
        u8::from(instant.month()),
        instant.day()
    )
}

/// The size of `text` in EUC-KR; a character EUC-KR cannot write is an error naming it.
fn euc_kr_len(template: &str, text: &str) -> Result<usize, Error> {
    let (bytes, _, unmappable) = encoding_rs::EUC_KR.encode(text);
    if unmappable {
        let character = text
            .chars()
            .find(|c| {
                let mut buffer = [0u8; 4];
                encoding_rs::EUC_KR.encode(c.encode_utf8(&mut buffer)).2
            })
            .unwrap_or('?');
        return Err(Error::BadTemplate {
            template: template.to_string(),
            message: format!(
                "{character:?} cannot be sent in a text message (EUC-KR has no such character)"
            ),
        });
    }
    Ok(bytes.len())
}

/// `{{ company | particle("을/를") }}`: the word with the Korean particle its last syllable
/// takes (을 after a final consonant, 를 after a vowel); both, `을(를)`, after anything else.
fn particle(word: &str, pair: &str) -> Result<Value, minijinja::Error> {
    let Some((after_consonant, after_vowel)) = pair.split_once('/') else {
        return Err(minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "particle takes a pair such as \"을/를\"",
        ));
    };
    let chosen = match word.chars().last() {
        Some(c @ '\u{AC00}'..='\u{D7A3}') => {
            if (u32::from(c) - 0xAC00) % 28 == 0 {
                after_vowel.to_string()
            } else {
                after_consonant.to_string()
            }
        }
        _ => format!("{after_consonant}({after_vowel})"),
    };
    Ok(Value::from(format!("{word}{chosen}")))
}
