//! `http://HOST[:PORT]/PATH`: each signed checkpoint POSTed as JSON
//! ([`super::CheckpointJson`], `content-type: application/json`). Any 2xx answer means the
//! receiver holds it; anything else, or no answer within 5 s, is a failed delivery that is
//! retried. The receiver should append each body as one line to a file it keeps (that file is
//! what `haechi audit verify --witness file://…` reads) and may check the signature with the
//! audit public key. Plain HTTP only (the body holds no secret and no personal data, and a
//! forged checkpoint cannot be signed without the audit key); put a TLS forwarder in front for
//! transport across networks.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{Witness, checkpoint_json};
use crate::Error;
use crate::checkpoint::Checkpoint;

/// How long one delivery may take before it counts as failed.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The `http://` witness.
#[derive(Debug, Clone)]
pub struct HttpWitness {
    address: String,
    client: reqwest::Client,
}

/// Opens `http://…`.
pub(super) fn open(address: &str) -> Result<Arc<dyn Witness>, Error> {
    let bad = |reason: String| Error::Witness {
        witness: address.to_string(),
        reason,
    };
    let url = reqwest::Url::parse(address).map_err(|error| bad(format!("not a URL: {error}")))?;
    if url.scheme() != "http" || url.host_str().is_none() {
        return Err(bad("expected http://HOST[:PORT]/PATH".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // Credentials in the URL would end up in logs and /readyz; the witness is meant to
        // take checkpoints from anyone (they are signed) and let no one rewrite them.
        return Err(bad("credentials in the URL are not supported".into()));
    }
    let client = haechi_outbound::plain_builder()
        .map_err(|error| bad(error.to_string()))?
        .timeout(TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| bad(format!("cannot build an HTTP client: {error}")))?;
    Ok(Arc::new(HttpWitness {
        address: address.to_string(),
        client,
    }))
}

#[async_trait]
impl Witness for HttpWitness {
    fn address(&self) -> &str {
        &self.address
    }

    async fn deliver(&self, checkpoint: &Checkpoint) -> Result<(), String> {
        let response = self
            .client
            .post(&self.address)
            .json(&checkpoint_json(checkpoint))
            .send()
            .await
            .map_err(|error| format!("POST {} failed: {error}", self.address))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("POST {} answered {status}", self.address))
        }
    }
}
