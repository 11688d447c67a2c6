//! The master-key ring: the current key, which wraps, and previous keys, which only unwrap.
//!
//! This is what makes master-key rotation online: a server started with a new current key and
//! the old one as previous opens everything (each wrapped secret names the key that sealed it),
//! serves at once, and re-wraps under the current key in the background. Once nothing is left
//! under a previous key, that key can be dropped.

use zeroize::Zeroizing;

use crate::{Error, MasterKey, SecretContext, SecureRandom, WrappedSecret};

/// The current master key and any previous ones still needed to unwrap.
#[derive(Debug)]
pub struct MasterKeyRing {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl MasterKeyRing {
    /// A ring of one key.
    pub fn single(current: MasterKey) -> Self {
        MasterKeyRing {
            current,
            previous: Vec::new(),
        }
    }

    /// A ring with previous keys; a previous key equal to the current one (or to another
    /// previous one) is refused, since it is almost certainly a configuration mistake.
    pub fn new(current: MasterKey, previous: Vec<MasterKey>) -> Result<Self, Error> {
        let mut seen = vec![current.id().to_string()];
        for key in &previous {
            if seen.iter().any(|id| id == key.id()) {
                return Err(Error::MasterKeyFormat(format!(
                    "master key {} is given twice",
                    key.id()
                )));
            }
            seen.push(key.id().to_string());
        }
        Ok(MasterKeyRing { current, previous })
    }

    /// Takes the ring apart: the current key and the previous ones.
    pub fn into_keys(self) -> (MasterKey, Vec<MasterKey>) {
        (self.current, self.previous)
    }

    /// The key that wraps.
    pub fn current(&self) -> &MasterKey {
        &self.current
    }

    /// The current key's id.
    pub fn id(&self) -> &str {
        self.current.id()
    }

    /// Ids of the previous keys.
    pub fn previous_ids(&self) -> Vec<&str> {
        self.previous.iter().map(MasterKey::id).collect()
    }

    /// Whether any previous key is loaded (a rotation is in progress).
    pub fn has_previous(&self) -> bool {
        !self.previous.is_empty()
    }

    /// Seals under the current key.
    pub fn wrap(
        &self,
        context: &SecretContext,
        plaintext: &[u8],
        random: &dyn SecureRandom,
    ) -> Result<WrappedSecret, Error> {
        self.current.wrap(context, plaintext, random)
    }

    /// Opens a secret sealed by any key of the ring.
    pub fn unwrap(
        &self,
        context: &SecretContext,
        wrapped: &WrappedSecret,
    ) -> Result<Zeroizing<Vec<u8>>, Error> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id() == wrapped.master_key_id)
            .ok_or_else(|| Error::WrongMasterKey {
                found: wrapped.master_key_id.clone(),
                loaded: self.current.id().to_string(),
            })?;
        key.unwrap(context, wrapped)
    }

    /// Whether `wrapped` is sealed under the current key.
    pub fn is_current(&self, wrapped: &WrappedSecret) -> bool {
        wrapped.master_key_id == self.current.id()
    }

    /// Re-seals `wrapped` under the current key; `None` if it already is.
    pub fn rewrap_to_current(
        &self,
        context: &SecretContext,
        wrapped: &WrappedSecret,
        random: &dyn SecureRandom,
    ) -> Result<Option<WrappedSecret>, Error> {
        if self.is_current(wrapped) {
            return Ok(None);
        }
        let plaintext = self.unwrap(context, wrapped)?;
        self.current.wrap(context, &plaintext, random).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsRandom;

    #[test]
    fn a_ring_opens_what_any_of_its_keys_sealed_and_wraps_with_the_current_one() {
        let old = MasterKey::from_bytes([1; 32]);
        let context = SecretContext::customer_data_key("c1");
        let sealed_old = old.wrap(&context, b"secret", &OsRandom).unwrap();
        let ring = MasterKeyRing::new(
            MasterKey::from_bytes([2; 32]),
            vec![MasterKey::from_bytes([1; 32])],
        )
        .unwrap();
        assert_eq!(
            ring.unwrap(&context, &sealed_old).unwrap().as_slice(),
            b"secret"
        );
        let moved = ring
            .rewrap_to_current(&context, &sealed_old, &OsRandom)
            .unwrap()
            .unwrap();
        assert!(ring.is_current(&moved));
        assert!(
            ring.rewrap_to_current(&context, &moved, &OsRandom)
                .unwrap()
                .is_none()
        );
        // Without the old key, the old seal no longer opens.
        let new_only = MasterKeyRing::single(MasterKey::from_bytes([2; 32]));
        assert!(new_only.unwrap(&context, &sealed_old).is_err());
        assert_eq!(
            new_only.unwrap(&context, &moved).unwrap().as_slice(),
            b"secret"
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        assert!(
            MasterKeyRing::new(
                MasterKey::from_bytes([1; 32]),
                vec![MasterKey::from_bytes([1; 32])]
            )
            .is_err()
        );
    }
}
