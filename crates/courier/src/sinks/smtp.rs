//! The company's SMTP relay (lettre): each notice an e-mail with a plain-text and an HTML
//! part, its `Message-ID` made from the notice id (a retried hand-over is the same message to
//! the relay and to the customer's mail program). TLS is required — STARTTLS or implicit TLS,
//! rustls with the system's roots plus an optional private CA; plaintext only under the
//! `dangerous_plaintext` setting, for a relay on the same host. A 5xx answer is a permanent
//! refusal; anything else that fails is retried.

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use zeroize::Zeroizing;

use super::{Outgoing, Refusal, Sink};
use crate::Error;

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS at all: contacts and notices cross the network readable. Only for a relay on
    /// the same host (`dangerous_plaintext`).
    DangerousPlaintext,
}

/// The relay, as configured (`[notice.smtp]`).
#[derive(Debug)]
pub struct SmtpSettings {
    /// Its host name (also the name its certificate must carry).
    pub host: String,
    /// Its port.
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
    /// A PEM file of certificate authorities to trust besides the system's.
    pub ca_file: Option<PathBuf>,
    /// Trust only `ca_file`.
    pub ca_file_only: bool,
    /// The sender (`해치몰 <notice@haechi-mall.co.kr>`).
    pub from: String,
    /// User name and password, when the relay asks for them.
    pub credentials: Option<(String, Zeroizing<String>)>,
    /// Per-message timeout.
    pub timeout: Duration,
}

/// Sends notices through an SMTP relay.
#[derive(Debug)]
pub struct SmtpSink {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of `Message-ID`s: the sender's.
    id_domain: String,
}

impl SmtpSink {
    /// A sink for the relay of `settings` (no connection is made until the first notice).
    pub fn new(settings: SmtpSettings) -> Result<SmtpSink, Error> {
        let bad = |message: String| Error::Sink(format!("[notice.smtp] {message}"));
        let from: Mailbox = settings
            .from
            .parse()
            .map_err(|error| bad(format!("from {:?}: {error}", settings.from)))?;
        let id_domain = from.email.domain().to_string();
        let tls = match settings.security {
            SmtpSecurity::DangerousPlaintext => Tls::None,
            security => {
                let mut parameters = TlsParameters::builder(settings.host.clone());
                if settings.ca_file_only {
                    parameters = parameters.certificate_store(CertificateStore::None);
                }
                if let Some(path) = &settings.ca_file {
                    let pem = std::fs::read(path)
                        .map_err(|error| bad(format!("ca_file {}: {error}", path.display())))?;
                    let certificate = Certificate::from_pem(&pem)
                        .map_err(|error| bad(format!("ca_file {}: {error}", path.display())))?;
                    parameters = parameters.add_root_certificate(certificate);
                }
                let parameters = parameters
                    .build_rustls()
                    .map_err(|error| bad(format!("TLS: {error}")))?;
                if security == SmtpSecurity::Tls {
                    Tls::Wrapper(parameters)
                } else {
                    Tls::Required(parameters)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.host)
            .port(settings.port)
            .tls(tls)
            .timeout(Some(settings.timeout));
        if let Some((user, password)) = settings.credentials {
            builder = builder.credentials(Credentials::new(user, password.to_string()));
        }
        Ok(SmtpSink {
            transport: builder.build(),
            from,
            id_domain,
        })
    }
}

#[async_trait]
impl Sink for SmtpSink {
    fn name(&self) -> &'static str {
        "smtp"
    }

    async fn deliver(&self, message: &Outgoing) -> Result<(), Refusal> {
        let to: Mailbox = message
            .recipient
            .parse()
            .map_err(|_| Refusal::Permanent("the e-mail address on record is not valid".into()))?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(message.subject.clone().unwrap_or_default())
            .message_id(Some(format!(
                "<{}@{}>",
                message.notice_id.as_str(),
                self.id_domain
            )));
        let email = match &message.html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(
                message.text.clone(),
                html.clone(),
            )),
            None => builder.singlepart(SinglePart::plain(message.text.clone())),
        }
        .map_err(|error| Refusal::Permanent(format!("cannot build the e-mail: {error}")))?;
        match self.transport.send(email).await {
            Ok(_) => Ok(()),
            // The relay's answer names no recipient unless the relay echoes it; lettre's text
            // is the status and the relay's words, which the record keeps as the reason.
            Err(error) if error.is_permanent() => Err(Refusal::Permanent(format!(
                "the relay refused the e-mail ({})",
                error
                    .status()
                    .map_or_else(|| "5xx".to_string(), |code| code.to_string())
            ))),
            Err(error) => Err(Refusal::Retry(if error.is_timeout() {
                "the relay did not answer in time".to_string()
            } else if let Some(code) = error.status() {
                format!("the relay answered {code}")
            } else {
                "the relay could not be reached".to_string()
            })),
        }
    }
}
