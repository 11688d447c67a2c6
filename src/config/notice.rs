//! `[notice]`: what breach notices say (the company's words, its templates), where they go
//! (an SMS gateway's webhook, an SMTP relay, or a file), and how the public check of a pasted
//! message is budgeted. See docs/notices.md.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use haechi_notice::{Channel, Sender, TemplateSet};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// `[notice]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoticeSection {
    /// The company's name as customers know it.
    pub company: String,
    /// The portal's origin, the only link a notice carries (`https://portal.example.co.kr`).
    pub portal_origin: String,
    /// Numbers customers may call; the first is printed on notices.
    pub contact_numbers: Vec<String>,
    /// How the breach happened (경위), as every notice states it.
    pub cause: String,
    /// What the company did (조치).
    pub measures: String,
    /// A directory of the company's templates (`sms.txt`, `lms.txt`, `email_subject.txt`,
    /// `email.txt`, `email.html`); a file not there is Haechi's own.
    pub templates_dir: Option<PathBuf>,
    /// The channels `haechi notify` sends by (default `lms` and `email`).
    pub channels: Vec<String>,
    /// The company's own domains besides the portal's, for the smishing check.
    pub company_domains: Vec<String>,
    /// Names a look-alike domain would imitate (default: the company's name).
    pub brand_names: Vec<String>,
    /// Notices handed over at once.
    pub concurrency: Option<usize>,
    /// Attempts before a notice is given up.
    pub max_attempts: Option<u32>,
    /// The wait before a failed notice is tried again (`5s`); it doubles with each attempt,
    /// up to ten minutes.
    #[serde(default, with = "humantime_serde")]
    pub first_retry: Option<Duration>,
    /// Write notices (recipients included, in plaintext) to this JSON-lines file instead of a
    /// gateway or relay: for a company's own sending system. Dangerous: the file holds contacts.
    pub dangerous_plaintext_file: Option<PathBuf>,
    /// The SMS gateway (SMS and LMS).
    pub webhook: Option<NoticeWebhookSection>,
    /// The SMTP relay (e-mail).
    pub smtp: Option<SmtpSection>,
    /// The public check "is this message from us?".
    pub verify: VerifySection,
}

/// `[notice.webhook]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoticeWebhookSection {
    /// `https://…` (or `http://` to a gateway on this host).
    pub url: String,
    /// The HMAC key's file.
    pub secret_file: PathBuf,
    /// A PEM file of certificate authorities to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Trust only `ca_file`.
    #[serde(default)]
    pub ca_file_only: bool,
    /// At most this many notices a second.
    #[serde(default = "default_webhook_rate")]
    pub per_second: u32,
    /// Per-request timeout.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

/// `[notice.smtp]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpSection {
    /// The relay's host name.
    pub host: String,
    /// Its port (587 for STARTTLS, 465 for TLS).
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// `starttls` (default), `tls`, or `dangerous_plaintext` (a relay on this host only).
    #[serde(default = "default_security")]
    pub security: String,
    /// The sender (`해치몰 <notice@example.co.kr>`).
    pub from: String,
    /// User name, when the relay asks for one.
    pub username: Option<String>,
    /// The password's file.
    pub password_file: Option<PathBuf>,
    /// A PEM file of certificate authorities to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Trust only `ca_file`.
    #[serde(default)]
    pub ca_file_only: bool,
    /// At most this many e-mails a second.
    #[serde(default = "default_smtp_rate")]
    pub per_second: u32,
    /// Per-message timeout.
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

/// `[notice.verify]`: each check looks codes up, so it is budgeted like the exposure check.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerifySection {
    /// Checks a source may make a second, sustained (0.2: twelve a minute).
    pub per_source_per_second: f64,
    /// At once.
    pub burst: u32,
    /// Every source together, a second.
    pub global_per_second: f64,
}

impl Default for VerifySection {
    fn default() -> Self {
        VerifySection {
            per_source_per_second: 0.2,
            burst: 5,
            global_per_second: 500.0,
        }
    }
}

fn default_webhook_rate() -> u32 {
    50
}

fn default_smtp_rate() -> u32 {
    20
}

fn default_smtp_port() -> u16 {
    587
}

fn default_security() -> String {
    "starttls".into()
}

fn default_timeout() -> Duration {
    Duration::from_secs(15)
}

impl NoticeSection {
    /// The sender's settings, checked when the templates are compiled.
    pub fn sender(&self) -> anyhow::Result<Sender> {
        if self.company.is_empty() || self.portal_origin.is_empty() {
            anyhow::bail!(
                "[notice] needs company, portal_origin, contact_numbers, cause and measures \
                 (docs/notices.md)"
            );
        }
        Ok(Sender {
            company: self.company.clone(),
            portal_origin: self.portal_origin.trim_end_matches('/').to_string(),
            contact_numbers: self.contact_numbers.clone(),
            cause: self.cause.clone(),
            measures: self.measures.clone(),
        })
    }

    /// Haechi's templates with the company's files in their place.
    pub fn templates(&self) -> anyhow::Result<TemplateSet> {
        let mut set = TemplateSet::builtin();
        let Some(dir) = &self.templates_dir else {
            return Ok(set);
        };
        if !dir.is_dir() {
            anyhow::bail!("notice.templates_dir {} is not a directory", dir.display());
        }
        for entry in std::fs::read_dir(dir)
            .with_context(|| format!("cannot read notice.templates_dir {}", dir.display()))?
        {
            let path = entry?.path();
            let name = path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default();
            if name.starts_with('.') {
                continue;
            }
            let source = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            set.set(&name, source)
                .with_context(|| format!("in notice.templates_dir {}", dir.display()))?;
        }
        Ok(set)
    }

    /// The channels notices are sent by.
    pub fn channels(&self) -> anyhow::Result<Vec<Channel>> {
        if self.channels.is_empty() {
            return Ok(vec![Channel::Lms, Channel::Email]);
        }
        let mut channels = Vec::new();
        for name in &self.channels {
            let channel = Channel::parse(name).context("notice.channels")?;
            if !channels.contains(&channel) {
                channels.push(channel);
            }
        }
        Ok(channels)
    }

    /// The HMAC key of `[notice.webhook]`, read from its file (at least 16 bytes).
    pub fn webhook_secret(section: &NoticeWebhookSection) -> anyhow::Result<Zeroizing<Vec<u8>>> {
        let secret = Zeroizing::new(
            std::fs::read_to_string(&section.secret_file)
                .with_context(|| format!("cannot read {}", section.secret_file.display()))?
                .trim()
                .as_bytes()
                .to_vec(),
        );
        if secret.len() < 16 {
            anyhow::bail!("notice.webhook.secret_file: the key needs at least 16 bytes");
        }
        Ok(secret)
    }
}
