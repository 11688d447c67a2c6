//! The anonymous exposure check that publishes nothing: a private membership test over an
//! oblivious PRF (RFC 9497, OPRF mode, suite ristretto255-SHA512), the design of Google's
//! Password Checkup.
//!
//! Why not the range API: there are only 10^8 Korean mobile numbers, so anyone who downloads
//! the SHA-1 ranges inverts every exposed phone in seconds — the ranges publish the list. Here
//! the exposed set is served only as PRF outputs under a key that never leaves Haechi, so
//! testing a guess offline is impossible and every guess costs an online, rate-limited
//! evaluation.
//!
//! The exchange, for an identifier normalised as Haechi does (see [`crate::exposure`]):
//! 1. the browser computes `h = SHA-1(normalised)` (the hash the exposure table holds), blinds
//!    `h` and sends the blinded element (32 bytes) with `h`'s first 16 bits, the [`Bucket`];
//! 2. Haechi evaluates the blinded element under its [`CheckKey`] and answers with it and the
//!    bucket's [`MemberTag`]s — the PRF outputs of every exposed hash in the bucket, truncated;
//! 3. the browser unblinds, finalises, truncates and looks for its tag among them.
//!
//! Haechi never sees the identifier nor `h` (16 bits of it: about 1,500 of the 10^8 mobile
//! numbers share a bucket), and the answer says nothing about other identifiers to whoever
//! cannot evaluate the PRF. The tags are computed from the stored hashes, so no plaintext is
//! needed to build them; they change with the key.
//!
//! This module is the arithmetic and the directory; serving, rate limits and key custody are
//! the server's.

use std::fmt;

use async_trait::async_trait;
use haechi_events::StoreError;
use sha2::{Digest, Sha256};
use voprf::{BlindedElement, OprfServer, Ristretto255};

use crate::Error;
use crate::exposure::ExposureHash;

/// The ciphersuite, as RFC 9497 names it (what the browser library is told).
pub const SUITE: &str = "ristretto255-SHA512";
/// Bound into the key derivation (RFC 9497 `DeriveKeyPair` info): a seed used for something
/// else gives an unrelated key.
pub const KEY_INFO: &[u8] = b"haechi exposure check v1";
/// Bits of the hash a request names: 65,536 buckets.
pub const BUCKET_BITS: u32 = 16;
/// Bytes of the 64-byte PRF output kept per exposed hash. A false match needs two of a
/// bucket's outputs to agree on 96 bits (≈ 10^-26 per check for a bucket of a thousand),
/// and 12 bytes keep the directory of the 2025 breach's 67 M identifiers near 800 MB.
pub const TAG_BYTES: usize = 12;
/// The length of a serialised ristretto255 element (blinded and evaluated alike).
pub const ELEMENT_BYTES: usize = 32;

type Suite = Ristretto255;

/// The secret key of the check, derived from a 32-byte seed held in custody.
pub struct CheckKey {
    server: OprfServer<Suite>,
    id: String,
}

impl fmt::Debug for CheckKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl CheckKey {
    /// The key RFC 9497's `DeriveKeyPair` makes from `seed` with [`KEY_INFO`].
    ///
    /// # Errors
    /// [`Error::CheckKey`] if no key can be derived (RFC 9497 allows it to fail, with
    /// negligible probability).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, Error> {
        let server = OprfServer::<Suite>::new_from_seed(seed, KEY_INFO)
            .map_err(|error| Error::CheckKey(error.to_string()))?;
        // A one-way name for the key, so directories and answers built under different keys
        // are never mixed up; it reveals nothing of the key.
        let digest = Sha256::new()
            .chain_update(b"haechi exposure check key id\0")
            .chain_update(server.serialize())
            .finalize();
        let id = format!("ck-{}", hex_lower(&digest[..6]));
        Ok(CheckKey { server, id })
    }

    /// The key's public name (`ck-` and 12 hex digits).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// RFC 9497 `BlindEvaluate` of a client's blinded element.
    ///
    /// # Errors
    /// [`Error::BadBlindedElement`] unless `blinded` is exactly one canonical, non-identity
    /// ristretto255 element.
    pub fn evaluate_blinded(&self, blinded: &[u8]) -> Result<[u8; ELEMENT_BYTES], Error> {
        // The library reads the first 32 bytes and ignores the rest: check the length here.
        if blinded.len() != ELEMENT_BYTES {
            return Err(Error::BadBlindedElement);
        }
        let element =
            BlindedElement::<Suite>::deserialize(blinded).map_err(|_| Error::BadBlindedElement)?;
        let evaluated = self.server.blind_evaluate(&element).serialize();
        let mut out = [0; ELEMENT_BYTES];
        out.copy_from_slice(&evaluated[..]);
        Ok(out)
    }

    /// The tag of an exposed hash: RFC 9497 `Evaluate` of its 20 bytes, truncated — what a
    /// browser holding the identifier gets after unblinding.
    ///
    /// # Errors
    /// [`Error::CheckKey`] if the evaluation fails (only for inputs RFC 9497 rejects, which a
    /// 20-byte hash never is).
    pub fn member_tag(&self, hash: &ExposureHash) -> Result<MemberTag, Error> {
        let output = self
            .server
            .evaluate(hash.as_bytes())
            .map_err(|error| Error::CheckKey(error.to_string()))?;
        MemberTag::from_output(&output[..])
            .ok_or_else(|| Error::CheckKey("the PRF output is shorter than a tag".into()))
    }
}

/// The first [`BUCKET_BITS`] of a hash: what a request reveals of the identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bucket(u16);

impl Bucket {
    /// The bucket of `hash`.
    pub fn of(hash: &ExposureHash) -> Self {
        let bytes = hash.as_bytes();
        Bucket(u16::from_be_bytes([bytes[0], bytes[1]]))
    }

    /// Four hex digits, either case.
    ///
    /// # Errors
    /// [`Error::BadBucket`] for anything else.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.len() != 4 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
            return Err(Error::BadBucket);
        }
        u16::from_str_radix(text, 16)
            .map(Bucket)
            .map_err(|_| Error::BadBucket)
    }

    /// Four lower-case hex digits.
    pub fn to_hex(self) -> String {
        format!("{:04x}", self.0)
    }

    /// The 16-bit value.
    pub fn value(self) -> u16 {
        self.0
    }

    /// The bucket of a 16-bit value.
    pub fn from_value(value: u16) -> Self {
        Bucket(value)
    }

    fn index(self) -> usize {
        usize::from(self.0)
    }
}

/// The truncated PRF output of one exposed hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberTag([u8; TAG_BYTES]);

impl MemberTag {
    /// The tag of a finalised PRF output (its first [`TAG_BYTES`]); `None` if shorter.
    pub fn from_output(output: &[u8]) -> Option<Self> {
        output
            .get(..TAG_BYTES)
            .and_then(|bytes| bytes.try_into().ok())
            .map(MemberTag)
    }

    /// A stored tag; `None` unless exactly [`TAG_BYTES`] long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(MemberTag)
    }

    /// The tag's bytes.
    pub fn as_bytes(&self) -> &[u8; TAG_BYTES] {
        &self.0
    }
}

/// Every exposed hash's tag, by bucket, under one key: what the check serves from memory.
/// Two flat arrays — an offset per bucket and the tags in bucket order — so a bucket's answer
/// is one slice and the whole costs [`TAG_BYTES`] per exposed identifier.
#[derive(Clone, PartialEq, Eq)]
pub struct ExposureDirectory {
    key_id: String,
    /// `offsets[b]..offsets[b + 1]` are bucket `b`'s tags.
    offsets: Vec<u32>,
    tags: Vec<MemberTag>,
}

impl fmt::Debug for ExposureDirectory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExposureDirectory")
            .field("key_id", &self.key_id)
            .field("tags", &self.tags.len())
            .finish_non_exhaustive()
    }
}

impl ExposureDirectory {
    /// The directory of `entries` (in any order; duplicates kept once) under the key named
    /// `key_id`.
    ///
    /// # Errors
    /// [`Error::CheckKey`] past 2^32 entries, which a u32 offset cannot address.
    pub fn build(
        key_id: &str,
        entries: impl IntoIterator<Item = (Bucket, MemberTag)>,
    ) -> Result<Self, Error> {
        let mut entries: Vec<(Bucket, MemberTag)> = entries.into_iter().collect();
        entries.sort_unstable();
        entries.dedup();
        let buckets = 1usize << BUCKET_BITS;
        let mut offsets = vec![0u32; buckets + 1];
        for (bucket, _) in &entries {
            offsets[bucket.index() + 1] += 1;
        }
        for index in 0..buckets {
            offsets[index + 1] = offsets[index + 1]
                .checked_add(offsets[index])
                .ok_or_else(|| Error::CheckKey("more than 2^32 exposed identifiers".into()))?;
        }
        Ok(ExposureDirectory {
            key_id: key_id.to_string(),
            offsets,
            tags: entries.into_iter().map(|(_, tag)| tag).collect(),
        })
    }

    /// The name of the key its tags were computed under.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The tags of `bucket`, sorted.
    pub fn bucket(&self, bucket: Bucket) -> &[MemberTag] {
        let start = self.offsets[bucket.index()] as usize;
        let end = self.offsets[bucket.index() + 1] as usize;
        &self.tags[start..end]
    }

    /// Every `(bucket, tag)`, in bucket order.
    pub fn entries(&self) -> impl Iterator<Item = (Bucket, MemberTag)> + '_ {
        self.offsets
            .windows(2)
            .enumerate()
            .flat_map(|(bucket, range)| {
                let bucket = Bucket(u16::try_from(bucket).unwrap_or(u16::MAX));
                self.tags[range[0] as usize..range[1] as usize]
                    .iter()
                    .map(move |tag| (bucket, *tag))
            })
    }

    /// How many exposed hashes it holds.
    pub fn len(&self) -> usize {
        self.tags.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.tags.is_empty()
    }
}

/// Where each exposed hash's tag under a key is kept, so a restart does not evaluate the PRF
/// again for every exposed identifier (tens of microseconds each: minutes for the 2025
/// breach's 67 M). Tags are derived data: a new key's are computed beside the old ones, and the
/// old ones dropped once the new directory serves.
#[async_trait]
pub trait CheckTagStore: Send + Sync {
    /// Up to `limit` exposed hashes that have no tag under `key_id` yet.
    async fn untagged_exposures(
        &self,
        key_id: &str,
        limit: usize,
    ) -> Result<Vec<ExposureHash>, StoreError>;

    /// Keeps the tags of these hashes under `key_id` (a hash already tagged keeps its tag).
    async fn record_check_tags(
        &self,
        key_id: &str,
        tags: &[(ExposureHash, MemberTag)],
    ) -> Result<(), StoreError>;

    /// Every tag under `key_id`, with its hash's bucket.
    async fn check_tags(&self, key_id: &str) -> Result<Vec<(Bucket, MemberTag)>, StoreError>;

    /// Deletes the tags of every other key; returns how many.
    async fn drop_check_tags_except(&self, key_id: &str) -> Result<u64, StoreError>;
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;
    use rand_core::OsRng;
    use voprf::{EvaluationElement, OprfClient};

    /// What the browser does: blind the hash, have it evaluated, unblind, truncate.
    fn client_tag(key: &CheckKey, hash: &ExposureHash) -> MemberTag {
        let blinded = OprfClient::<Suite>::blind(hash.as_bytes(), &mut OsRng).unwrap();
        let request = blinded.message.serialize();
        let answer = key.evaluate_blinded(&request[..]).unwrap();
        let evaluated = EvaluationElement::<Suite>::deserialize(&answer).unwrap();
        let output = blinded.state.finalize(hash.as_bytes(), &evaluated).unwrap();
        MemberTag::from_output(&output[..]).unwrap()
    }

    #[test]
    fn a_blinded_check_finds_an_exposed_hash_and_only_it() {
        let key = CheckKey::from_seed(&[7; 32]).unwrap();
        let exposed: Vec<ExposureHash> = (0..300)
            .map(|n| ExposureHash::of_normalised(&format!("010{n:08}")))
            .collect();
        let directory = ExposureDirectory::build(
            key.id(),
            exposed
                .iter()
                .map(|hash| (Bucket::of(hash), key.member_tag(hash).unwrap())),
        )
        .unwrap();
        assert_eq!(directory.len(), 300);
        for hash in &exposed[..5] {
            let tag = client_tag(&key, hash);
            assert!(directory.bucket(Bucket::of(hash)).contains(&tag));
        }
        let clean = ExposureHash::of_normalised("01099999999");
        let tag = client_tag(&key, &clean);
        assert!(!directory.bucket(Bucket::of(&clean)).contains(&tag));
        // Another key's outputs say nothing: the same identifier's tag differs.
        let other = CheckKey::from_seed(&[8; 32]).unwrap();
        assert_ne!(other.id(), key.id());
        assert_ne!(
            other.member_tag(&exposed[0]).unwrap(),
            key.member_tag(&exposed[0]).unwrap()
        );
    }

    #[test]
    fn only_one_canonical_element_is_evaluated() {
        let key = CheckKey::from_seed(&[7; 32]).unwrap();
        let good = OprfClient::<Suite>::blind(b"x", &mut OsRng)
            .unwrap()
            .message
            .serialize();
        let mut long = good.to_vec();
        long.push(0);
        for bad in [
            &[][..],
            &good[..31],
            &long[..],
            &[0u8; 32][..],
            &[0xffu8; 32][..],
        ] {
            assert_eq!(
                key.evaluate_blinded(bad),
                Err(Error::BadBlindedElement),
                "{bad:?}"
            );
        }
        assert!(key.evaluate_blinded(&good).is_ok());
    }

    #[test]
    fn buckets_parse_four_hex_digits_and_directories_index_them() {
        assert_eq!(Bucket::parse("00aF").unwrap().to_hex(), "00af");
        for bad in ["", "abc", "abcde", "xyz1", "+abc", "-001"] {
            assert_eq!(Bucket::parse(bad), Err(Error::BadBucket), "{bad}");
        }
        let tag = |byte| MemberTag([byte; TAG_BYTES]);
        let directory = ExposureDirectory::build(
            "ck-test",
            [
                (Bucket(0xffff), tag(3)),
                (Bucket(0), tag(2)),
                (Bucket(0), tag(1)),
                (Bucket(0), tag(1)),
            ],
        )
        .unwrap();
        assert_eq!(directory.bucket(Bucket(0)), &[tag(1), tag(2)]);
        assert_eq!(directory.bucket(Bucket(0xffff)), &[tag(3)]);
        assert!(directory.bucket(Bucket(1)).is_empty());
        assert_eq!(directory.len(), 3);
    }

    /// RFC 9497 appendix A.1.1 (OPRF mode, ristretto255-SHA512), test vector 1: the key
    /// derived from the seed evaluates the input to the published output — so any
    /// conforming client (the browser's) gets the same tags.
    #[test]
    fn the_rfc_9497_vector_evaluates_to_its_output() {
        let seed: [u8; 32] =
            hex_bytes("a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3")
                .try_into()
                .unwrap();
        let info = hex_bytes("74657374206b6579");
        let server = OprfServer::<Suite>::new_from_seed(&seed, &info).unwrap();
        let output = server.evaluate(&hex_bytes("00")).unwrap();
        assert_eq!(
            hex_lower(&output[..]),
            "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3\
             ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6"
        );
    }

    fn hex_bytes(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|index| u8::from_str_radix(&text[index..index + 2], 16).unwrap())
            .collect()
    }
}
