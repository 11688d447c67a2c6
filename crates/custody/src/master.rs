//! The master key (key-encryption key) and the secrets it wraps.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use std::sync::Arc;

use crate::Hsm;

use crate::{Error, SecureRandom};

const WRAP_FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// The key-encryption key. It wraps every other key Haechi stores and is never stored by
/// Haechi itself, except when generated on a first start without one (the operator is warned
/// to move it to a KMS/HSM). Zeroized on drop; `Debug` shows only its id.
pub struct MasterKey {
    keying: Keying,
    id: String,
}

/// Where the key is.
enum Keying {
    /// In this process's memory.
    Memory {
        key: Zeroizing<[u8; 32]>,
        /// The key expanded once (a bulk run unwraps millions of data keys); its round keys
        /// are wiped on drop too (`aes` with `zeroize`).
        cipher: Box<Aes256Gcm>,
    },
    /// An AES key of a PKCS#11 token, which seals and opens there.
    Token {
        token: Arc<dyn Hsm>,
        key_id: Vec<u8>,
    },
}

impl MasterKey {
    /// A master key from 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let key = Zeroizing::new(bytes);
        let id = key_id(&key);
        let cipher = Box::new(Aes256Gcm::new(&(*key).into()));
        MasterKey {
            keying: Keying::Memory { key, cipher },
            id,
        }
    }

    /// The AES master key labelled `label` in `token`, generated there first if there is none
    /// and `create` allows. It never leaves the token; every wrap and unwrap is the token's.
    pub fn in_token(token: Arc<dyn Hsm>, label: &str, create: bool) -> Result<Self, Error> {
        let key_id = token.sealing_key(label, create)?;
        let mut hasher = Sha256::new();
        hasher.update(b"haechi/master-key-id/pkcs11/v1\0");
        hasher.update(label.as_bytes());
        hasher.update([0]);
        hasher.update(&key_id);
        let id = format!("mk-hsm-{}", hex::encode(&hasher.finalize()[..8]));
        Ok(MasterKey {
            keying: Keying::Token { token, key_id },
            id,
        })
    }

    /// Whether the key is in an HSM.
    pub fn is_in_token(&self) -> bool {
        matches!(self.keying, Keying::Token { .. })
    }

    /// The HSM holding the key, if one does.
    pub fn hsm(&self) -> Option<&Arc<dyn Hsm>> {
        match &self.keying {
            Keying::Memory { .. } => None,
            Keying::Token { token, .. } => Some(token),
        }
    }

    /// A fresh random master key.
    pub fn generate(random: &dyn SecureRandom) -> Self {
        let mut bytes = random.bytes32();
        let key = MasterKey::from_bytes(bytes);
        bytes.zeroize();
        key
    }

    /// Parses 64 hex digits or base64 (standard or URL-safe, padded or not) of 32 bytes.
    /// Surrounding whitespace is ignored, so key files may end in a newline.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let decoded: Zeroizing<Vec<u8>> = if text.len() == 64
            && text.bytes().all(|b| b.is_ascii_hexdigit())
        {
            Zeroizing::new(hex::decode(text).map_err(|_| Error::MasterKeyFormat("bad hex".into()))?)
        } else {
            let engines = [
                &base64::engine::general_purpose::STANDARD,
                &base64::engine::general_purpose::URL_SAFE,
                &base64::engine::general_purpose::STANDARD_NO_PAD,
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ];
            engines
                .iter()
                .find_map(|engine| engine.decode(text).ok())
                .map(Zeroizing::new)
                .ok_or_else(|| Error::MasterKeyFormat("neither hex nor base64".into()))?
        };
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| Error::MasterKeyFormat(format!("decoded to {} bytes", decoded.len())))?;
        Ok(MasterKey::from_bytes(bytes))
    }

    /// The key as 64 hex digits, for writing a generated key to its file once; `None` for a
    /// key in a token, which has no value to give.
    pub fn to_hex(&self) -> Option<Zeroizing<String>> {
        match &self.keying {
            Keying::Memory { key, .. } => Some(Zeroizing::new(hex::encode(key.as_slice()))),
            Keying::Token { .. } => None,
        }
    }

    /// A public identifier of this key (`mk-` + 16 hex digits of an HMAC of a fixed label), so
    /// wrapped secrets can say which master key sealed them without revealing anything.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext` for `context` with AES-256-GCM under a fresh random nonce.
    ///
    /// Random 96-bit nonces are safe for far more than the 2^32 wraps one master key would
    /// ever make here (one per customer data key, signing key or named secret).
    pub fn wrap(
        &self,
        context: &SecretContext,
        plaintext: &[u8],
        random: &dyn SecureRandom,
    ) -> Result<WrappedSecret, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce);
        let aad = context.associated_data(&self.id);
        let ciphertext = match &self.keying {
            Keying::Memory { cipher, .. } => cipher
                .encrypt(
                    &Nonce::from(nonce),
                    Payload {
                        msg: plaintext,
                        aad: &aad,
                    },
                )
                .map_err(|_| Error::Encoding("AES-GCM encryption".into()))?,
            Keying::Token { token, key_id } => token.seal(key_id, &nonce, &aad, plaintext)?,
        };
        Ok(WrappedSecret {
            master_key_id: self.id.clone(),
            nonce,
            ciphertext,
        })
    }

    /// Opens a secret sealed by [`MasterKey::wrap`] for the same `context`.
    pub fn unwrap(
        &self,
        context: &SecretContext,
        wrapped: &WrappedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if wrapped.master_key_id != self.id {
            return Err(Error::WrongMasterKey {
                found: wrapped.master_key_id.clone(),
                loaded: self.id.clone(),
            });
        }
        let aad = context.associated_data(&self.id);
        match &self.keying {
            Keying::Memory { cipher, .. } => cipher
                .decrypt(
                    &Nonce::from(wrapped.nonce),
                    Payload {
                        msg: &wrapped.ciphertext,
                        aad: &aad,
                    },
                )
                .map(Zeroizing::new)
                .map_err(|_| Error::UnwrapFailed),
            Keying::Token { token, key_id } => token
                .open(key_id, &wrapped.nonce, &aad, &wrapped.ciphertext)
                .map(Zeroizing::new),
        }
    }

    /// Re-seals a secret wrapped by `self` under `next`, without the plaintext ever leaving
    /// this function unzeroized. This is how master-key rotation re-wraps data keys without
    /// re-encrypting any data.
    pub fn rewrap(
        &self,
        next: &MasterKey,
        context: &SecretContext,
        wrapped: &WrappedSecret,
        random: &dyn SecureRandom,
    ) -> Result<WrappedSecret, Error> {
        let plaintext = self.unwrap(context, wrapped)?;
        next.wrap(context, &plaintext, random)
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn key_id(key: &[u8; 32]) -> String {
    // A hash of a 256-bit random key reveals nothing usable about it; the label keeps this
    // digest apart from any other use of the key.
    let mut hasher = Sha256::new();
    hasher.update(b"haechi/master-key-id/v1\0");
    hasher.update(key);
    let digest = hasher.finalize();
    format!("mk-{}", hex::encode(&digest[..8]))
}

/// What a wrapped secret is for. It is bound into the AES-GCM associated data, so a secret
/// wrapped for one purpose and id (say, customer A's data key) fails to unwrap as another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretContext {
    purpose: &'static str,
    id: String,
}

impl SecretContext {
    /// The private half of the signing key `kid`.
    pub fn signing_key(kid: &str) -> Self {
        SecretContext {
            purpose: "signing-key",
            id: kid.to_string(),
        }
    }

    /// The data key of customer `customer_id`.
    pub fn customer_data_key(customer_id: &str) -> Self {
        SecretContext {
            purpose: "customer-data-key",
            id: customer_id.to_string(),
        }
    }

    /// A named service secret (index keys, the audit checkpoint key, …).
    pub fn named(name: &str) -> Self {
        SecretContext {
            purpose: "named-secret",
            id: name.to_string(),
        }
    }

    fn associated_data(&self, master_key_id: &str) -> Vec<u8> {
        let mut aad = Vec::with_capacity(64 + self.id.len());
        aad.extend_from_slice(b"haechi/wrap/v1\0");
        aad.extend_from_slice(self.purpose.as_bytes());
        aad.push(0);
        aad.extend_from_slice(self.id.as_bytes());
        aad.push(0);
        aad.extend_from_slice(master_key_id.as_bytes());
        aad
    }
}

/// A secret sealed under a master key: what is stored at rest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedSecret {
    /// The id of the master key that sealed it.
    pub master_key_id: String,
    /// The AES-GCM nonce.
    pub nonce: [u8; NONCE_LEN],
    /// Ciphertext with the 16-byte tag appended.
    pub ciphertext: Vec<u8>,
}

impl WrappedSecret {
    /// The stored form: version byte, key-id length and key id, nonce, ciphertext.
    pub fn to_bytes(&self) -> Vec<u8> {
        let id = self.master_key_id.as_bytes();
        let mut out = Vec::with_capacity(2 + id.len() + NONCE_LEN + self.ciphertext.len());
        out.push(WRAP_FORMAT_VERSION);
        out.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
        out.extend_from_slice(&id[..id.len().min(usize::from(u8::MAX))]);
        out.extend_from_slice(&self.nonce);
        out.extend_from_slice(&self.ciphertext);
        out
    }

    /// Decodes the stored form.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        let (&version, rest) = bytes.split_first().ok_or(Error::WrappedFormat("empty"))?;
        if version != WRAP_FORMAT_VERSION {
            return Err(Error::WrappedFormat("unknown version"));
        }
        let (&id_len, rest) = rest
            .split_first()
            .ok_or(Error::WrappedFormat("truncated"))?;
        let id_len = usize::from(id_len);
        if rest.len() < id_len + NONCE_LEN + 16 {
            return Err(Error::WrappedFormat("truncated"));
        }
        let (id, rest) = rest.split_at(id_len);
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let master_key_id = std::str::from_utf8(id)
            .map_err(|_| Error::WrappedFormat("key id is not UTF-8"))?
            .to_string();
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| Error::WrappedFormat("nonce"))?;
        Ok(WrappedSecret {
            master_key_id,
            nonce,
            ciphertext: ciphertext.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsRandom;
    use proptest::prelude::*;

    fn master(byte: u8) -> MasterKey {
        MasterKey::from_bytes([byte; 32])
    }

    #[test]
    fn parse_accepts_hex_and_base64_and_rejects_the_rest() {
        let key = master(7);
        let hex_text = key.to_hex().unwrap();
        assert_eq!(MasterKey::parse(&hex_text).unwrap().id(), key.id());
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(
            MasterKey::parse(&format!("{b64}\n")).unwrap().id(),
            key.id()
        );
        for bad in ["", "abc", &"00".repeat(31), "not base64 at all!"] {
            assert!(MasterKey::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let text = format!("{:?}", master(0xAB));
        assert!(!text.to_lowercase().contains("abab"));
    }

    #[test]
    fn a_secret_does_not_unwrap_in_another_context_or_under_another_key() {
        let key = master(1);
        let sealed = key
            .wrap(&SecretContext::customer_data_key("a"), b"secret", &OsRandom)
            .unwrap();
        assert!(matches!(
            key.unwrap(&SecretContext::customer_data_key("b"), &sealed),
            Err(Error::UnwrapFailed)
        ));
        assert!(matches!(
            key.unwrap(&SecretContext::named("a"), &sealed),
            Err(Error::UnwrapFailed)
        ));
        assert!(matches!(
            master(2).unwrap(&SecretContext::customer_data_key("a"), &sealed),
            Err(Error::WrongMasterKey { .. })
        ));
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(
            key.unwrap(&SecretContext::customer_data_key("a"), &tampered)
                .is_err()
        );
    }

    #[test]
    fn rewrap_moves_a_secret_to_the_next_master_key() {
        let (old, new) = (master(1), master(2));
        let context = SecretContext::signing_key("k1");
        let sealed = old.wrap(&context, b"private", &OsRandom).unwrap();
        let moved = old.rewrap(&new, &context, &sealed, &OsRandom).unwrap();
        assert_eq!(moved.master_key_id, new.id());
        assert_eq!(new.unwrap(&context, &moved).unwrap().as_slice(), b"private");
        assert!(old.unwrap(&context, &moved).is_err());
    }

    proptest! {
        #[test]
        fn wrap_round_trips_through_the_stored_form(secret in proptest::collection::vec(any::<u8>(), 0..256), id in "[a-z0-9]{1,20}") {
            let key = master(9);
            let context = SecretContext::customer_data_key(&id);
            let sealed = key.wrap(&context, &secret, &OsRandom).unwrap();
            let stored = WrappedSecret::from_bytes(&sealed.to_bytes()).unwrap();
            prop_assert_eq!(&stored, &sealed);
            let opened = key.unwrap(&context, &stored).unwrap();
            prop_assert_eq!(opened.as_slice(), secret.as_slice());
        }

        #[test]
        fn from_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = WrappedSecret::from_bytes(&bytes);
        }
    }
}
