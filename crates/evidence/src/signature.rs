//! Detached signatures of the report's files, with the audit key.
//!
//! Each file `F` gets `F.sig`: the 64-byte Ed25519 signature over `F`'s exact bytes, made with
//! the data directory's audit key (the key that signs the trail's checkpoints; its public half
//! is `haechi audit public-key`). Any Ed25519 tool checks it — `haechi evidence verify`, or
//! `openssl pkeyutl -verify -pubin -inkey audit.pem -rawin -in F -sigfile F.sig`. The bytes
//! signed cannot be mistaken for a checkpoint: those begin with the domain tag
//! `haechi.audit.checkpoint.v1`, and a report begins with `{`, `<!doctype` or `%PDF`.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::Error;

/// What a signature file's name adds to the file's.
pub const SIGNATURE_SUFFIX: &str = ".sig";

/// The detached signature of `bytes`.
pub fn sign(bytes: &[u8], key: &SigningKey) -> [u8; 64] {
    key.sign(bytes).to_bytes()
}

/// Checks `signature` (the `.sig` file's bytes) over `bytes`.
pub fn verify(bytes: &[u8], signature: &[u8], key: &VerifyingKey) -> Result<(), Error> {
    let signature = Signature::from_slice(signature).map_err(|_| {
        Error::Signature(format!(
            "a signature is 64 bytes; this one has {}",
            signature.len()
        ))
    })?;
    key.verify(bytes, &signature)
        .map_err(|_| Error::Signature("the signature does not match the file".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_lists_exactly_its_files() {
        let report: crate::report::EvidenceReport = serde_json::from_value(serde_json::json!({
            "format": "haechi.evidence.v1", "framework": "f", "organisation": "o",
            "period": {"from": "2026-10-01", "to": "2026-10-31"},
            "generated_at": "t", "generated_by": "operator",
            "trail": {"records": 1, "last_seq": 1, "last_signed_seq": 1},
            "summary": {"met": 0, "partly": 0, "not_met": 0, "not_applicable": 0},
            "requirements": [], "figures": [], "reviews": []
        }))
        .unwrap();
        let manifest = Manifest::of(
            &report,
            &[("report.json", b"{}"), ("report.html", b"<!doctype html>")],
        );
        let bytes = serde_json::to_vec(&manifest).unwrap();
        let read = Manifest::parse(&bytes).unwrap();
        assert!(read.lists("report.json", b"{}"));
        assert!(!read.lists("report.json", b"{ }"));
        assert!(!read.lists("report.pdf", b"%PDF"));
        assert!(Manifest::parse(br#"{"format":"other"}"#).is_err());
    }

    #[test]
    fn a_changed_byte_breaks_the_signature() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let report = br#"{"format":"haechi.evidence.v1"}"#.to_vec();
        let signature = sign(&report, &key);
        verify(&report, &signature, &key.verifying_key()).unwrap();
        let mut tampered = report.clone();
        tampered[3] ^= 1;
        assert!(verify(&tampered, &signature, &key.verifying_key()).is_err());
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key();
        assert!(verify(&report, &signature, &other).is_err());
        assert!(verify(&report, &signature[..63], &key.verifying_key()).is_err());
    }
}

/// The manifest of a report directory: which files make the report, by SHA-256, with the
/// period and the trail head — signed as a whole, so the JSON, the page and the PDF of one report
/// cannot be mixed with another's, and a file left from an earlier run is not part of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// The report's period.
    pub period: crate::report::ReportPeriod,
    /// When the report was generated.
    pub generated_at: String,
    /// The trail the report was judged from.
    pub trail: crate::report::TrailHead,
    /// Each file's SHA-256 (hex), by name.
    pub files: std::collections::BTreeMap<String, String>,
}

/// The manifest's format.
pub const MANIFEST_FORMAT: &str = "haechi.evidence.manifest.v1";
/// The manifest's file name.
pub const MANIFEST_FILE: &str = "manifest.json";

impl Manifest {
    /// The manifest of `report` made of `files` (name, bytes).
    pub fn of(report: &crate::report::EvidenceReport, files: &[(&str, &[u8])]) -> Self {
        use sha2::Digest as _;
        Manifest {
            format: MANIFEST_FORMAT.into(),
            period: report.period.clone(),
            generated_at: report.generated_at.clone(),
            trail: report.trail,
            files: files
                .iter()
                .map(|(name, bytes)| (name.to_string(), hex::encode(sha2::Sha256::digest(bytes))))
                .collect(),
        }
    }

    /// Reads a manifest; a different format is refused.
    pub fn parse(bytes: &[u8]) -> Result<Self, Error> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|error| Error::Signature(format!("not a report manifest: {error}")))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(Error::Signature(format!(
                "a manifest of format {:?}, not {MANIFEST_FORMAT}",
                manifest.format
            )));
        }
        Ok(manifest)
    }

    /// Whether `bytes` are the file `name` the manifest lists.
    pub fn lists(&self, name: &str, bytes: &[u8]) -> bool {
        use sha2::Digest as _;
        self.files
            .get(name)
            .is_some_and(|digest| *digest == hex::encode(sha2::Sha256::digest(bytes)))
    }
}
