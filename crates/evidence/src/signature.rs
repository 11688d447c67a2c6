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
