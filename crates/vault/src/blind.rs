//! Blind indexes: finding a customer by e-mail or phone without storing either.
//!
//! An index value is HMAC-SHA-256 under the blind-index key (a random key of its own, wrapped
//! by the master key — not derived from any encryption key) over `kind || 0 || normalised
//! value`, truncated to `bits` bits.
//!
//! **Truncation and leakage.** A full-length index is a unique fingerprint: anyone who can read
//! the table learns which customers share an e-mail or phone, and the index of one known value
//! identifies its row. Truncating makes index values shared by several customers, so an index
//! value alone identifies no one and equal index values do not prove equal values; the vault
//! confirms candidates by decrypting them. Following CipherSweet's guidance (keep few enough
//! bits that every index value is expected to be shared), the default is **24 bits**: at
//! 33.7 M customers (≈ 2^25) each index value is shared by about 2 customers on average, and a
//! lookup decrypts about 3 candidates. Smaller deployments get fewer collisions from the same
//! setting (at 1 M customers ≈ 6 % of lookups see one extra candidate); the setting can be
//! lowered there, at the cost of a rebuild of the index. The index reveals nothing about
//! values without the key; its residual leakage is approximate group sizes.

use haechi_korean::{normalize_email, normalize_phone};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// What an index entry indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlindIndexKind {
    /// The customer's e-mail.
    Email,
    /// The customer's own phone.
    Phone,
}

impl BlindIndexKind {
    /// `email` or `phone`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlindIndexKind::Email => "email",
            BlindIndexKind::Phone => "phone",
        }
    }
}

/// Computes blind-index values.
pub struct BlindIndexer {
    key: Zeroizing<[u8; 32]>,
    bits: u32,
}

impl BlindIndexer {
    /// An indexer with `key`, keeping `bits` bits (clamped to 8..=64).
    pub fn new(key: Zeroizing<[u8; 32]>, bits: u32) -> Self {
        BlindIndexer {
            key,
            bits: bits.clamp(8, 64),
        }
    }

    /// Bits kept.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// The index of an already normalised value.
    pub fn index_normalised(&self, kind: BlindIndexKind, normalised: &str) -> i64 {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.key.as_slice())
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(kind.as_str().as_bytes());
        mac.update(&[0]);
        mac.update(normalised.as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        let value = u64::from_be_bytes(first) >> (64 - self.bits);
        // Stored as a signed 64-bit integer column; the bit pattern is what matters.
        value as i64
    }

    /// The index of a raw value, normalised first; `None` if it does not normalise.
    pub fn index(&self, kind: BlindIndexKind, raw: &str) -> Option<i64> {
        let normalised = match kind {
            BlindIndexKind::Email => normalize_email(raw).ok()?,
            BlindIndexKind::Phone => normalize_phone(raw).ok()?,
        };
        Some(self.index_normalised(kind, &normalised))
    }
}

impl std::fmt::Debug for BlindIndexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlindIndexer")
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn indexer(bits: u32) -> BlindIndexer {
        BlindIndexer::new(Zeroizing::new([7; 32]), bits)
    }

    #[test]
    fn spellings_of_one_value_share_an_index() {
        let indexer = indexer(24);
        let phone = indexer.index(BlindIndexKind::Phone, "010-2345-6789");
        for spelling in [
            "01023456789",
            "+82 10 2345 6789",
            "+821023456789",
            "010.2345.6789",
        ] {
            assert_eq!(
                indexer.index(BlindIndexKind::Phone, spelling),
                phone,
                "{spelling}"
            );
        }
        assert_eq!(
            indexer.index(BlindIndexKind::Email, " Kim@Example.COM "),
            indexer.index(BlindIndexKind::Email, "kim@example.com")
        );
    }

    #[test]
    fn truncation_keeps_the_stated_number_of_bits() {
        for bits in [8, 16, 24, 32, 64] {
            let value = indexer(bits).index_normalised(BlindIndexKind::Email, "a@b.kr") as u64;
            if bits < 64 {
                assert!(value < (1u64 << bits), "{bits}: {value}");
            }
        }
    }

    #[test]
    fn kinds_and_keys_separate_indexes() {
        let a = indexer(64);
        assert_ne!(
            a.index_normalised(BlindIndexKind::Email, "x"),
            a.index_normalised(BlindIndexKind::Phone, "x")
        );
        let b = BlindIndexer::new(Zeroizing::new([8; 32]), 64);
        assert_ne!(
            a.index_normalised(BlindIndexKind::Email, "x"),
            b.index_normalised(BlindIndexKind::Email, "x")
        );
    }
}
