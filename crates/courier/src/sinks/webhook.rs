//! An SMS gateway's webhook: each notice POSTed as JSON, signed like the alert webhook
//! (`x-haechi-signature: t=…,v1=HMAC-SHA256(secret, "t.body")`), with the notice id as its
//! `Idempotency-Key`. 2xx is accepted; 408, 429, 5xx and transport errors are retried; any
//! other status is a permanent refusal (the gateway judged the message or number invalid).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::json;
use zeroize::Zeroizing;

use super::{Outgoing, Refusal, Sink};
use crate::Error;

/// The gateway, as configured (`[notice.webhook]`).
#[derive(Debug)]
pub struct WebhookSettings {
    /// `https://…` (or `http://…` to a gateway on the same host).
    pub url: String,
    /// Which certificate authorities its certificate may chain to.
    pub trust: haechi_outbound::Trust,
    /// The HMAC-SHA256 key.
    pub secret: Zeroizing<Vec<u8>>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// Posts notices to an SMS gateway.
#[derive(Debug)]
pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
    secret: Zeroizing<Vec<u8>>,
}

impl WebhookSink {
    /// A sink posting to `settings.url`; no redirects are followed (a redirect would send the
    /// recipient's number somewhere nobody configured).
    pub fn new(settings: WebhookSettings) -> Result<WebhookSink, Error> {
        let client = haechi_outbound::builder(&settings.trust)
            .map_err(|error| Error::Sink(format!("notice webhook: {error}")))?
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|error| Error::Sink(format!("notice webhook: {error}")))?;
        Ok(WebhookSink {
            client,
            url: settings.url,
            secret: settings.secret,
        })
    }
}

#[async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &'static str {
        "webhook"
    }

    async fn deliver(&self, message: &Outgoing) -> Result<(), Refusal> {
        let body = Zeroizing::new(
            serde_json::to_vec(&json!({
                "notice_id": message.notice_id.as_str(),
                "channel": message.channel.as_str(),
                "to": message.recipient.as_str(),
                "subject": message.subject,
                "text": message.text,
                "code": message.code.to_string(),
            }))
            .map_err(|error| Refusal::Permanent(format!("cannot encode the notice: {error}")))?,
        );
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|since| since.as_secs())
            .unwrap_or_default();
        let signature = haechi_outbound::sign(&self.secret, timestamp, &body);
        let sent = self
            .client
            .post(&self.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(haechi_outbound::SIGNATURE_HEADER, signature)
            .header("x-haechi-event", "notice.send")
            .header("idempotency-key", message.notice_id.as_str())
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                let text = format!("the gateway answered {status}");
                if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
                    Err(Refusal::Retry(text))
                } else {
                    Err(Refusal::Permanent(text))
                }
            }
            // reqwest's error names the URL, never the body: nothing personal in it.
            Err(error) => Err(Refusal::Retry(format!(
                "the gateway did not answer: {error}"
            ))),
        }
    }
}
