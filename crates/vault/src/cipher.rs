//! Field-level encryption under per-customer data keys.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use haechi_custody::SecureRandom;
use zeroize::Zeroizing;

use crate::Error;

const NONCE_LEN: usize = 12;

/// A customer's data key: 256 random bits, only ever stored wrapped by the master key.
/// Zeroized on drop.
pub struct DataKey {
    key: Zeroizing<[u8; 32]>,
    /// The key expanded once for all of a record's fields (round keys wiped on drop).
    cipher: Aes256Gcm,
    version: u32,
}

impl DataKey {
    /// A fresh random key.
    pub fn generate(random: &dyn SecureRandom) -> Self {
        Self::new(Zeroizing::new(random.bytes32()), 1)
    }

    /// A key from unwrapped bytes.
    pub fn from_bytes(bytes: &[u8], version: u32) -> Result<Self, Error> {
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| Error::Tampered("data key has the wrong length".into()))?;
        Ok(Self::new(Zeroizing::new(key), version))
    }

    fn new(key: Zeroizing<[u8; 32]>, version: u32) -> Self {
        let cipher = Aes256Gcm::new(&(*key).into());
        DataKey {
            key,
            cipher,
            version,
        }
    }

    /// The raw bytes, for wrapping.
    pub fn as_bytes(&self) -> &[u8] {
        self.key.as_slice()
    }

    /// The key version bound into every ciphertext.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Seals one field of one customer: `nonce || ciphertext || tag`.
    pub fn seal(
        &self,
        customer_id: &str,
        field: &str,
        plaintext: &[u8],
        random: &dyn SecureRandom,
    ) -> Result<Vec<u8>, Error> {
        let mut nonce = [0u8; NONCE_LEN];
        random.fill(&mut nonce);
        let aad = associated_data(customer_id, field, self.version);
        let sealed = self
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| Error::Tampered("encryption failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens one field sealed by [`DataKey::seal`] for the same customer and field.
    pub fn open(
        &self,
        customer_id: &str,
        field: &str,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        if sealed.len() < NONCE_LEN + 16 {
            return Err(Error::Tampered(format!("{field} is truncated")));
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| Error::Tampered(format!("{field} nonce")))?;
        let aad = associated_data(customer_id, field, self.version);
        self.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| Error::Tampered(format!("{field} of {customer_id}")))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataKey")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn associated_data(customer_id: &str, field: &str, version: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(32 + customer_id.len() + field.len());
    aad.extend_from_slice(b"haechi/field/v1\0");
    aad.extend_from_slice(customer_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(field.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&version.to_be_bytes());
    aad
}

#[cfg(test)]
mod tests {
    use super::*;
    use haechi_custody::OsRandom;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fields_round_trip(value in ".{0,200}", id in "[a-z0-9]{1,32}", field in "[a-z_]{1,16}") {
            let key = DataKey::generate(&OsRandom);
            let sealed = key.seal(&id, &field, value.as_bytes(), &OsRandom).unwrap();
            let opened = key.open(&id, &field, &sealed).unwrap();
            prop_assert_eq!(opened.as_slice(), value.as_bytes());
        }

        #[test]
        fn opening_garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
            let key = DataKey::generate(&OsRandom);
            let _ = key.open("c", "name", &bytes);
        }
    }

    #[test]
    fn ciphertexts_cannot_move_between_customers_fields_or_versions() {
        let key = DataKey::generate(&OsRandom);
        let sealed = key
            .seal("alice", "email", b"a@example.com", &OsRandom)
            .unwrap();
        assert!(key.open("bob", "email", &sealed).is_err());
        assert!(key.open("alice", "phone", &sealed).is_err());
        let other_version = DataKey::from_bytes(key.as_bytes(), 2).unwrap();
        assert!(other_version.open("alice", "email", &sealed).is_err());
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(key.open("alice", "email", &flipped).is_err());
        assert!(key.open("alice", "email", &sealed).is_ok());
    }
}
