//! Where alerts go besides the audit trail and the API: an HMAC-signed webhook and JSON lines
//! on stdout. Neither ever holds up detection: the webhook has its own task behind a bounded
//! queue, and a full queue drops its lowest-severity alert (counted, and recorded as
//! `alert.dropped`) rather than waits.

mod queue;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haechi_detect::{Alert, AlertGrowth, Severity};
use serde_json::json;
use std::sync::{Mutex, PoisonError};
use tokio::sync::Notify;
use zeroize::Zeroizing;

use queue::SeverityQueue;

use crate::Error;

/// The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
pub use haechi_outbound::SIGNATURE_HEADER;

/// The longest wait between two delivery attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where raised alerts are POSTed, as configured (`detect.webhook`) and checked: an `https://`
/// (or `http://`) URL, the HMAC key read, and which certificate authorities to trust.
#[derive(Debug)]
pub struct WebhookSettings {
    /// `https://…` (rustls, certificates verified) or `http://…`.
    pub url: String,
    /// Which certificate authorities an `https://` receiver's certificate may chain to.
    pub trust: haechi_outbound::Trust,
    /// The HMAC-SHA256 key.
    pub secret: Zeroizing<Vec<u8>>,
    /// Only alerts of this severity or worse.
    pub min_severity: Severity,
    /// Alerts waiting for delivery; beyond it the lowest-severity one is dropped.
    pub queue: usize,
    /// Delivery attempts per alert.
    pub max_attempts: u32,
    /// Per-attempt timeout.
    pub timeout: Duration,
}

/// The alert sinks of one server.
#[derive(Debug, Default)]
pub struct Sinks {
    webhook: Option<WebhookSink>,
    stdout: bool,
}

impl Sinks {
    /// Sinks as configured; the webhook's delivery task is started here.
    pub fn start(webhook: Option<WebhookSettings>, stdout: bool) -> Result<Self, Error> {
        let webhook = webhook.map(WebhookSink::start).transpose()?;
        Ok(Sinks { webhook, stdout })
    }

    /// A new alert. Returns the alert the webhook queue dropped to make room, if it was full.
    pub fn raised(&self, alert: &Alert) -> Option<WebhookDrop> {
        let body = json!({ "type": "alert.raised", "alert": alert });
        if self.stdout {
            println!("{body}");
        }
        match &self.webhook {
            Some(webhook) if alert.severity >= webhook.min_severity => webhook.enqueue(
                alert.id.as_str(),
                alert.severity,
                body.to_string().into_bytes(),
            ),
            _ => None,
        }
    }

    /// An open alert grew (stdout only: a scraping run grows its alert with every read).
    pub fn grew(&self, growth: &AlertGrowth) {
        if self.stdout {
            println!("{}", json!({ "type": "alert.grew", "growth": growth }));
        }
    }
}

/// An alert the webhook queue dropped (full): it is not delivered by webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDrop {
    /// The alert.
    pub alert_id: String,
    /// Its severity.
    pub severity: Severity,
}

#[derive(Debug)]
struct WebhookSink {
    shared: Arc<Outbox>,
    min_severity: Severity,
}

/// What the sink and its delivery task share.
#[derive(Debug)]
struct Outbox {
    queue: Mutex<SeverityQueue<Delivery>>,
    ready: Notify,
    closed: AtomicBool,
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        // The delivery task ends once the queue is empty.
        self.shared.closed.store(true, Ordering::Release);
        self.shared.ready.notify_one();
    }
}

#[derive(Debug)]
struct Delivery {
    alert_id: String,
    body: Vec<u8>,
}

impl WebhookSink {
    fn start(config: WebhookSettings) -> Result<Self, Error> {
        let client = haechi_outbound::builder(&config.trust)
            .map_err(Error::WebhookTls)?
            .timeout(config.timeout)
            // A redirect would carry the signed alert somewhere the operator did not name.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(Error::WebhookClient)?;
        let shared = Arc::new(Outbox {
            queue: Mutex::new(SeverityQueue::new(config.queue)),
            ready: Notify::new(),
            closed: AtomicBool::new(false),
        });
        tokio::spawn(deliver_all(
            shared.clone(),
            client,
            config.url,
            config.secret,
            config.max_attempts.max(1),
        ));
        Ok(WebhookSink {
            shared,
            min_severity: config.min_severity,
        })
    }

    fn enqueue(&self, alert_id: &str, severity: Severity, body: Vec<u8>) -> Option<WebhookDrop> {
        let delivery = Delivery {
            alert_id: alert_id.to_string(),
            body,
        };
        let dropped = self
            .shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(severity, delivery);
        self.shared.ready.notify_one();
        let (severity, dropped) = dropped?;
        metrics::counter!("haechi_detect_webhook_dropped_total", "severity" => severity.as_str())
            .increment(1);
        tracing::warn!(
            alert = %dropped.alert_id,
            severity = severity.as_str(),
            "webhook queue full: the lowest-severity alert is not delivered by webhook"
        );
        Some(WebhookDrop {
            alert_id: dropped.alert_id,
            severity,
        })
    }
}

/// The next delivery, waiting for one; `None` once the sink is gone and the queue is empty.
async fn next_delivery(shared: &Outbox) -> Option<Delivery> {
    loop {
        // Registered before looking, so a push between the look and the wait is not missed.
        let notified = shared.ready.notified();
        let next = shared
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        if let Some(delivery) = next {
            return Some(delivery);
        }
        if shared.closed.load(Ordering::Acquire) {
            return None;
        }
        notified.await;
    }
}

/// Delivers queued alerts one at a time, each with retries and exponential backoff.
async fn deliver_all(
    shared: Arc<Outbox>,
    client: reqwest::Client,
    url: String,
    secret: Zeroizing<Vec<u8>>,
    max_attempts: u32,
) {
    while let Some(delivery) = next_delivery(&shared).await {
        let mut backoff = Duration::from_secs(1);
        for attempt in 1..=max_attempts {
            let timestamp = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|since| since.as_secs())
                .unwrap_or_default();
            let signature = sign(&secret, timestamp, &delivery.body);
            let sent = client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .header(SIGNATURE_HEADER, signature)
                .header("x-haechi-event", "alert.raised")
                .header("x-haechi-alert-id", &delivery.alert_id)
                .body(delivery.body.clone())
                .send()
                .await;
            let retry = match sent {
                Ok(response) if response.status().is_success() => {
                    metrics::counter!("haechi_detect_webhook_delivered_total").increment(1);
                    false
                }
                Ok(response) => {
                    let status = response.status();
                    tracing::warn!(alert = %delivery.alert_id, %status, attempt, "webhook refused the alert");
                    status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429
                }
                Err(error) => {
                    tracing::warn!(alert = %delivery.alert_id, %error, attempt, "webhook delivery failed");
                    true
                }
            };
            if !retry {
                break;
            }
            if attempt == max_attempts {
                metrics::counter!("haechi_detect_webhook_failed_total").increment(1);
                tracing::error!(alert = %delivery.alert_id, attempts = max_attempts, "webhook gave up on the alert");
                break;
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// The alert webhook's signature: the one every Haechi webhook carries.
pub use haechi_outbound::sign;
