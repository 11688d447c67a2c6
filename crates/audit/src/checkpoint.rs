//! Signed checkpoints and the audit key's public half.
//!
//! The hash chain shows that records were not changed *relative to each other*; an insider who
//! rewrites the whole tail and recomputes every hash keeps the chain intact. A checkpoint — the
//! seq and hash of the chain head, signed with a dedicated Ed25519 audit key whose private half
//! the writer holds and whose public half the auditor holds — pins the chain, so a rewrite is
//! caught at the first signed head it contradicts, and cutting records off the end is caught
//! by a checkpoint that points past the end.
//!
//! The `checkpoints` file is a sequence of fixed-size entries (all integers big-endian):
//!
//! ```text
//! entry = "HCP1" u64 seq, [32] hash, i64 time_micros, [8] key_id, [64] signature, u32 crc32(previous 124 bytes)
//! signature = Ed25519 over "haechi.audit.checkpoint.v1\0" u64 seq, [32] hash, i64 time_micros, [8] key_id
//! ```
//!
//! Fixed-size entries make a torn append (a crash mid-write) recognisable by length alone.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Read;
use std::path::Path;

use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use haechi_events::Timestamp;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::error::IoContext;

/// File name of the checkpoint file inside the log directory (and an archive directory).
pub const CHECKPOINTS_FILE: &str = "checkpoints";

/// Bytes in one checkpoint entry.
pub(crate) const ENTRY_LEN: usize = 128;
const ENTRY_MAGIC: &[u8; 4] = b"HCP1";
const SIGNATURE_DOMAIN: &[u8] = b"haechi.audit.checkpoint.v1\0";

/// A short, stable name for an audit public key: the first 8 bytes of SHA-256 over the raw
/// 32-byte key. Lets the verifier say *which* key signed a checkpoint it cannot verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 8]);

impl KeyId {
    /// The id of `key`.
    pub fn of(key: &VerifyingKey) -> Self {
        let digest = Sha256::digest(key.as_bytes());
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A signed statement "the chain up to `seq` ends in `hash`", made at `time`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The seq of the last record covered.
    pub seq: u64,
    /// That record's hash.
    pub hash: [u8; 32],
    /// When the checkpoint was made (the log's clock).
    pub time: Timestamp,
    /// Which key signed it.
    pub key_id: KeyId,
    /// Ed25519 signature over the domain tag, seq, hash, time and key id.
    pub signature: [u8; 64],
}

impl Checkpoint {
    /// Signs the head (`seq`, `hash`) at `time` with `key`.
    pub fn sign(seq: u64, hash: [u8; 32], time: Timestamp, key: &SigningKey) -> Self {
        let key_id = KeyId::of(&key.verifying_key());
        let message = signed_message(seq, &hash, time, key_id);
        Checkpoint {
            seq,
            hash,
            time,
            key_id,
            signature: key.sign(&message).to_bytes(),
        }
    }

    /// Whether `key` made this checkpoint's signature over exactly these fields.
    pub fn verify_signature(&self, key: &VerifyingKey) -> SignatureCheck {
        let message = signed_message(self.seq, &self.hash, self.time, self.key_id);
        let signature = Signature::from_bytes(&self.signature);
        match key.verify(&message, &signature) {
            Ok(()) => SignatureCheck::Valid,
            Err(_) if self.key_id != KeyId::of(key) => SignatureCheck::OtherKey,
            Err(_) => SignatureCheck::Invalid,
        }
    }

    /// The entry's bytes in the `checkpoints` file (128 bytes, layout in the module docs). The
    /// cluster's stream carries checkpoints in this form too.
    pub fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut bytes = [0u8; ENTRY_LEN];
        bytes[0..4].copy_from_slice(ENTRY_MAGIC);
        bytes[4..12].copy_from_slice(&self.seq.to_be_bytes());
        bytes[12..44].copy_from_slice(&self.hash);
        bytes[44..52].copy_from_slice(&self.time.as_micros().to_be_bytes());
        bytes[52..60].copy_from_slice(&self.key_id.0);
        bytes[60..124].copy_from_slice(&self.signature);
        let crc = crc32fast::hash(&bytes[0..124]);
        bytes[124..128].copy_from_slice(&crc.to_be_bytes());
        bytes
    }

    /// Parses an entry ([`Checkpoint::encode`]), saying what is wrong if it is not one. The
    /// signature is not checked here: see [`Checkpoint::verify_signature`].
    pub fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != ENTRY_LEN {
            return Err(format!("entry of {} bytes", bytes.len()));
        }
        if &bytes[0..4] != ENTRY_MAGIC {
            return Err("not a checkpoint entry (bad magic)".into());
        }
        let crc = u32::from_be_bytes([bytes[124], bytes[125], bytes[126], bytes[127]]);
        if crc32fast::hash(&bytes[0..124]) != crc {
            return Err("checkpoint entry checksum mismatch".into());
        }
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&bytes[4..12]);
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&bytes[12..44]);
        let mut time = [0u8; 8];
        time.copy_from_slice(&bytes[44..52]);
        let mut key_id = [0u8; 8];
        key_id.copy_from_slice(&bytes[52..60]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&bytes[60..124]);
        Ok(Checkpoint {
            seq: u64::from_be_bytes(seq),
            hash,
            time: Timestamp::from_micros(i64::from_be_bytes(time)),
            key_id: KeyId(key_id),
            signature,
        })
    }
}

/// The outcome of checking one checkpoint signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The key signed exactly this checkpoint.
    Valid,
    /// The checkpoint names a different key: the auditor holds the wrong public key, or the
    /// checkpoint was made with a key that is not the audit key.
    OtherKey,
    /// The checkpoint names this key but the signature does not match: the checkpoint was
    /// edited or forged.
    Invalid,
}

fn signed_message(seq: u64, hash: &[u8; 32], time: Timestamp, key_id: KeyId) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNATURE_DOMAIN.len() + 56);
    message.extend_from_slice(SIGNATURE_DOMAIN);
    message.extend_from_slice(&seq.to_be_bytes());
    message.extend_from_slice(hash);
    message.extend_from_slice(&time.as_micros().to_be_bytes());
    message.extend_from_slice(&key_id.0);
    message
}

/// Checkpoints read from a file, with a torn final entry set apart.
#[derive(Debug, Default)]
pub(crate) struct CheckpointFile {
    /// Entries in file order, each with its index, or the reason it could not be parsed.
    pub entries: Vec<(usize, Result<Checkpoint, String>)>,
    /// Length in bytes of a partial entry at the end (a crash mid-append).
    pub torn_bytes: u64,
    /// Byte length of the whole entries.
    pub whole_len: u64,
}

/// Reads a `checkpoints` file; a missing file is an empty one.
pub(crate) fn read_checkpoints(path: &Path) -> Result<CheckpointFile, Error> {
    let mut bytes = Vec::new();
    match OpenOptions::new().read(true).open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes).at(path)?;
        }
        Err(error) if crate::segment::is_not_found(&error) => return Ok(CheckpointFile::default()),
        Err(error) => return Err(Error::io(path, error)),
    }
    let whole = bytes.len() / ENTRY_LEN * ENTRY_LEN;
    let entries = bytes[..whole]
        .chunks_exact(ENTRY_LEN)
        .enumerate()
        .map(|(index, chunk)| (index, Checkpoint::decode(chunk)))
        .collect();
    Ok(CheckpointFile {
        entries,
        torn_bytes: (bytes.len() - whole) as u64,
        whole_len: whole as u64,
    })
}

/// The checkpoints of the file at `path` whose seq is above `after_seq`, oldest first; a
/// missing file has none. Entries are fixed-size and their seqs strictly increasing, so the
/// first one wanted is found by bisection and only the tail is read: a replica catching up
/// reads a few entries, not years of them. Damaged entries are an error (recovery has already
/// cut a torn one off the end).
pub(crate) fn checkpoints_after(path: &Path, after_seq: u64) -> Result<Vec<Checkpoint>, Error> {
    use std::io::{Seek, SeekFrom};
    let mut file = match OpenOptions::new().read(true).open(path) {
        Ok(file) => file,
        Err(error) if crate::segment::is_not_found(&error) => return Ok(Vec::new()),
        Err(error) => return Err(Error::io(path, error)),
    };
    let entries = file.metadata().at(path)?.len() / ENTRY_LEN as u64;
    let entry_at = |file: &mut std::fs::File, index: u64| -> Result<Checkpoint, Error> {
        let mut bytes = [0u8; ENTRY_LEN];
        file.seek(SeekFrom::Start(index * ENTRY_LEN as u64))
            .at(path)?;
        file.read_exact(&mut bytes).at(path)?;
        Checkpoint::decode(&bytes).map_err(|reason| Error::CorruptCheckpoints {
            path: path.to_path_buf(),
            reason: format!("entry {index}: {reason}"),
        })
    };
    // The first entry with seq > after_seq lies in low..high.
    let (mut low, mut high) = (0, entries);
    while low < high {
        let middle = low + (high - low) / 2;
        if entry_at(&mut file, middle)?.seq > after_seq {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    (low..entries)
        .map(|index| entry_at(&mut file, index))
        .collect()
}

/// The audit public key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`), the form most tools read.
pub fn public_key_pem(key: &VerifyingKey) -> Result<String, Error> {
    key.to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|error| Error::Key {
            reason: error.to_string(),
        })
}

/// The audit public key as a JSON Web Key (`{"kty":"OKP","crv":"Ed25519","x":…,"kid":…}`),
/// with the [`KeyId`] as `kid`.
pub fn public_key_jwk(key: &VerifyingKey) -> String {
    serde_json::json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.as_bytes()),
        "kid": KeyId::of(key).to_string(),
        "use": "sig",
        "alg": "EdDSA",
    })
    .to_string()
}

/// The audit public key as 64 hex digits (the raw 32-byte key).
pub fn public_key_hex(key: &VerifyingKey) -> String {
    hex::encode(key.as_bytes())
}

/// Parses an audit public key given as PEM, JWK or hex (whichever the text is).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, Error> {
    let text = text.trim();
    let key_error = |reason: String| Error::Key { reason };
    if text.starts_with("-----BEGIN") {
        return VerifyingKey::from_public_key_pem(text)
            .map_err(|error| key_error(format!("not an Ed25519 public key PEM: {error}")));
    }
    let raw: Vec<u8> = if text.starts_with('{') {
        let jwk: serde_json::Value =
            serde_json::from_str(text).map_err(|error| key_error(format!("not JSON: {error}")))?;
        if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
            return Err(key_error("JWK is not an Ed25519 (OKP) key".into()));
        }
        let x = jwk["x"]
            .as_str()
            .ok_or_else(|| key_error("JWK has no \"x\"".into()))?;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(x)
            .map_err(|error| key_error(format!("JWK \"x\" is not base64url: {error}")))?
    } else {
        hex::decode(text).map_err(|error| key_error(format!("not hex: {error}")))?
    };
    let raw: [u8; 32] = raw
        .try_into()
        .map_err(|_| key_error("an Ed25519 public key is 32 bytes".into()))?;
    VerifyingKey::from_bytes(&raw).map_err(|error| key_error(error.to_string()))
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SigningKey {
        SigningKey::from_bytes(&[byte; 32])
    }

    #[test]
    fn checkpoint_round_trips_and_verifies() {
        let checkpoint = Checkpoint::sign(9, [3; 32], Timestamp::from_secs(5), &key(1));
        let decoded = Checkpoint::decode(&checkpoint.encode()).unwrap();
        assert_eq!(decoded, checkpoint);
        assert_eq!(
            decoded.verify_signature(&key(1).verifying_key()),
            SignatureCheck::Valid
        );
        assert_eq!(
            decoded.verify_signature(&key(2).verifying_key()),
            SignatureCheck::OtherKey
        );
        let mut edited = decoded;
        edited.seq = 10;
        assert_eq!(
            edited.verify_signature(&key(1).verifying_key()),
            SignatureCheck::Invalid
        );
    }

    #[test]
    fn public_key_forms_parse_back() {
        let public = key(4).verifying_key();
        for text in [
            public_key_pem(&public).unwrap(),
            public_key_jwk(&public),
            public_key_hex(&public),
        ] {
            assert_eq!(parse_public_key(&text).unwrap(), public, "{text}");
        }
        for bad in [
            "",
            "abcd",
            "{\"kty\":\"EC\"}",
            "-----BEGIN PUBLIC KEY-----\nxx\n",
        ] {
            assert!(parse_public_key(bad).is_err(), "{bad}");
        }
    }
}
