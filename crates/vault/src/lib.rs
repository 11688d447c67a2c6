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
//!   only [`ServiceReads::authorize`] (and [`ServiceReads::authorize_lookup`]) can build —
//!   which the decrypting code requires. Services read masked values unless the [`Policy`]
//!   grants plaintext for the declared purpose; entrance notes never leave in plaintext to a
//!   service. Views leave as [`Plaintext`], wiped from memory when dropped.
//! * Every read, write, lookup and delete is one event through the `EventSink`; a refusal is
//!   one [`Denial`], which gives both the event's reason and status and the caller's answer.
//!
//! [`Vault`] is the composition root; each act belongs to one service object it hands out:
//! [`ServiceReads`] (authorize, read, lookup, budgets), [`OwnRecords`] (`/v1/customers/me`),
//! [`Lifecycle`] (create, crypto-shred), [`BulkImport`], [`DataKeyRewrap`],
//! [`NoticeContacts`] and [`LeakPass`]. They share one `VaultCore` (`shared.rs`): storage,
//! keys, clock, events, the policy in force.
//!
//! The vault does no IO itself: storage is a [`VaultStore`].

#![forbid(unsafe_code)]

mod access;
mod blind;
mod budgets;
mod bulk_import;
mod cipher;
mod denial;
mod error;
mod leak;
mod lifecycle;
mod lookup_limits;
mod notice;
mod own_records;
mod plaintext;
mod policy;
mod policy_store;
mod quota;
mod record;
mod record_cache;
mod rewrap;
mod service_reads;
mod shared;
mod store;
mod vault;
mod view;

pub use access::AccessGrant;
pub use blind::{BlindIndexKind, BlindIndexer};
pub use budgets::{MemoryBudgets, SharedBudgets};
pub use bulk_import::{BulkImport, ImportOutcome, SealedBatch};
pub use cipher::DataKey;
pub use denial::Denial;
pub use error::{Error, FieldError};
pub use leak::{
    Comparison, LeakConfirmation, LeakIndexSource, LeakPass, LeakProbe, LeakSession, LeakStats,
    PURPOSE_LEAK_MATCH,
};
pub use lifecycle::{Lifecycle, PURPOSE_ACCOUNT, PURPOSE_ERASURE};
pub use lookup_limits::{
    LOOKUP_BUCKET_SECS, LOOKUP_MISS_WINDOW, LOOKUP_STATS_WINDOW, LookupAdmission, LookupLimits,
    LookupResult, LookupStats, MemoryLookupLimits,
};
pub use notice::{NoticeContact, NoticeContacts, NoticeDisclosure, PURPOSE_NOTIFICATION};
pub use own_records::{OwnExposures, OwnRecords};
pub use plaintext::Plaintext;
pub use policy::{Access, GrantView, Policy, PolicyError};
pub use policy_store::{PolicyStore, PolicyVersion, policy_digest};
pub use quota::{DEFAULT_LOOKUP_MISSES_PER_MINUTE, QuotaSettings, ReadClass};
pub use record::{Address, AddressInput, CustomerInput, CustomerPatch, CustomerRecord, PiiField};
pub use record_cache::{CachedVaultStore, RecordCacheStats};
pub use rewrap::DataKeyRewrap;
pub use service_reads::{ReadView, ServiceReads};
pub use store::{
    BlindIndexSnapshot, EncryptedRecord, IdentifyingRecord, ImportItem, IndexEntry, RecordRef,
    VaultStore,
};
pub use vault::{MAX_BATCH, Vault, VaultParts};
