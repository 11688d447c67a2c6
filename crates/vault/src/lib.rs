//! The PII vault: customers' personal data, encrypted field by field, read only under policy
//! and quota.
//!
//! * Every field is sealed with AES-256-GCM under the customer's own data key; the data key is
//!   stored only wrapped by the master key. Associated data binds each ciphertext to
//!   (customer, field, key version), so ciphertexts cannot be moved between rows or fields.
//!   Deleting the wrapped data key (crypto-shredding) makes the record unrecoverable.
//! * E-mail and phone are found by **blind index**: a keyed HMAC (its own key, apart from the
//!   encryption keys) over the normalised value, truncated so that index values are shared by
//!   several customers at full scale; candidates are confirmed by decryption.
//! * Reads require a [`haechi_token::VerifiedToken`] and produce an [`AccessGrant`] — a proof
//!   only [`Vault::authorize`] can build — which the decrypting code requires. Services read
//!   masked values unless the [`Policy`] grants plaintext for the declared purpose; entrance
//!   notes never leave in plaintext to a service.
//! * Every read, write, lookup and delete is one event through the `EventSink`.
//!
//! The vault does no IO itself: storage is a [`VaultStore`].

#![forbid(unsafe_code)]

mod blind;
mod cipher;
mod error;
mod policy;
mod policy_store;
mod quota;
mod record;
mod store;
mod vault;

pub use blind::{BlindIndexKind, BlindIndexer};
pub use cipher::DataKey;
pub use error::{Error, FieldError};
pub use policy::{Access, Policy, PolicyError};
pub use policy_store::{PolicyStore, PolicyVersion, policy_digest};
pub use quota::{DEFAULT_LOOKUP_MISSES_PER_MINUTE, QuotaSettings};
pub use record::{Address, AddressInput, CustomerInput, CustomerPatch, CustomerRecord, PiiField};
pub use store::{
    BlindIndexSnapshot, EncryptedRecord, IdentifyingRecord, ImportItem, IndexEntry, RecordRef,
    VaultStore,
};
pub use vault::{
    AccessGrant, Comparison, ImportOutcome, LeakConfirmation, LeakIndexSource, LeakProbe,
    LeakSession, LeakStats, MAX_BATCH, PURPOSE_ACCOUNT, PURPOSE_ERASURE, PURPOSE_LEAK_MATCH,
    ReadView, Vault, VaultParts,
};
pub use vault::{NoticeContact, NoticeDisclosure, PURPOSE_NOTIFICATION};
