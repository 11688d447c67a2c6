//! Haechi's outbound HTTP: every part that calls out — the alert webhook, the audit witness,
//! the drill driver, the notice gateway, and later leak feeds — builds its client here, so
//! TLS is set up once and the same way, and every webhook is signed the same way ([`sign`]).
//!
//! TLS is rustls with the *ring* provider, set on each client (not installed process-wide),
//! trusting the system's roots (`rustls-native-certs`: the OS store, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`) and, when given, the certificates of a PEM file — a company's private CA in
//! front of its SMS gateway or SIEM. TLS 1.2 and 1.3 only, certificates always verified:
//! there is no switch to turn verification off.

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rustls::RootCertStore;
use rustls::crypto::ring;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use sha2::Sha256;

/// The header every Haechi webhook signs its body in (alerts, notices):
/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
pub const SIGNATURE_HEADER: &str = "x-haechi-signature";

/// `t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>." ‖ body)>`: the timestamp is
/// signed with the body so a captured delivery cannot be replayed later as new.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// What can go wrong building a client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A CA file that cannot be read or holds no certificate.
    #[error("CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// No root at all: the system has none and no CA file was given.
    #[error("no trusted root certificate: the system store is empty and no CA file was given")]
    NoRoots,
    /// The TLS or HTTP client could not be built.
    #[error("cannot build the HTTP client: {0}")]
    Build(String),
}

/// Which certificate authorities a client trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// Also trust the certificates in this PEM file (a private CA).
    pub ca_file: Option<PathBuf>,
    /// Trust only `ca_file`, not the system's roots (a gateway inside the company's network
    /// whose certificate only its own CA signs, and nothing else should be trusted).
    pub ca_file_only: bool,
}

/// A client builder with Haechi's TLS set up; the caller adds timeouts, redirects, pools.
pub fn builder(trust: &Trust) -> Result<reqwest::ClientBuilder, Error> {
    builder_with_roots(roots(trust)?)
}

/// A client builder for callers that only speak `http://` (the drill driver, the tests'
/// clients): the same TLS setup, trusting the system's roots.
pub fn plain_builder() -> Result<reqwest::ClientBuilder, Error> {
    builder(&Trust::default()).or_else(|error| match error {
        // A machine without a root store still speaks plain HTTP.
        Error::NoRoots => builder_with_roots(RootCertStore::empty()),
        other => Err(other),
    })
}

fn builder_with_roots(roots: RootCertStore) -> Result<reqwest::ClientBuilder, Error> {
    // rustls 0.23.48 deprecates ring's provider because it has no post-quantum key exchange
    // (X25519MLKEM768). The alternative, aws-lc-rs, is a C build of about a minute on every
    // clean build. What Haechi sends out — alert metadata, audit checkpoints — is signed and
    // short-lived; a recorded session broken years later gains an attacker little. Revisit
    // when ring gains ML-KEM or aws-lc-rs is built anyway (docs/detection.md, "Webhook").
    #[allow(deprecated)]
    let provider = ring::default_provider();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| Error::Build(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(reqwest::Client::builder().tls_backend_preconfigured(config))
}

fn roots(trust: &Trust) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    if !trust.ca_file_only {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            tracing::warn!(%error, "a system root certificate could not be read");
        }
        let (added, ignored) = roots.add_parsable_certificates(found.certs);
        if ignored > 0 {
            tracing::warn!(ignored, added, "system root certificates rustls cannot use");
        }
    }
    if let Some(path) = &trust.ca_file {
        for certificate in ca_certificates(path)? {
            roots.add(certificate).map_err(|error| Error::CaFile {
                path: path.clone(),
                reason: error.to_string(),
            })?;
        }
    }
    if roots.is_empty() {
        return Err(Error::NoRoots);
    }
    Ok(roots)
}

/// The certificates of a PEM file; at least one.
fn ca_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bad = |reason: String| Error::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|error| bad(error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| bad(error.to_string()))?;
    if certificates.is_empty() {
        return Err(bad("holds no PEM certificate".into()));
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_covers_timestamp_and_body() {
        // HMAC-SHA256("key", "1700000000.{}"), computed independently with Python's hmac.
        assert_eq!(
            sign(b"key", 1_700_000_000, b"{}"),
            "t=1700000000,v1=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }
}
