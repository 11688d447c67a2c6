//! Key custody for Haechi.
//!
//! Three kinds of secret live here, and none of them ever leaves in the clear:
//!
//! * the **master key** ([`MasterKey`], the key-encryption key): supplied by the operator (or
//!   generated on first start) and used only to wrap other keys;
//! * **wrapped secrets** ([`WrappedSecret`]): every other key at rest — signing keys, customer
//!   data keys, index keys — sealed with AES-256-GCM under the master key, bound by associated
//!   data to what the secret is for, so a wrapped key cannot be swapped for another;
//! * **signing keys** ([`SigningKeyMaterial`]): Ed25519 (default) or P-256 keys that sign access
//!   tokens. They are parsed only inside the token authority, zeroized on drop, and export only
//!   their public half.
//!
//! Signing keys may instead be kept in an HSM ([`Hsm`], [`SigningCustody`]; the PKCS#11
//! implementation is the `haechi-hsm` crate), and the master key too
//! ([`MasterKey::in_token`]): then neither ever exists in this process.
//!
//! The key lifecycle ([`KeyState`], [`KeyRecord`]) is plain data and pure transitions; storage
//! and the clock come from the caller.

#![forbid(unsafe_code)]

mod custody;
mod error;
mod hsm;
mod lifecycle;
mod master;
mod random;
mod ring;
mod signing;

pub use custody::{KeyInCustody, Signer, SigningCustody};
pub use error::Error;
pub use hsm::Hsm;
pub use lifecycle::{KeyOrigin, KeyRecord, KeyState};
pub use master::{MasterKey, SecretContext, WrappedSecret};
pub use random::{OsRandom, SecureRandom};
pub use ring::MasterKeyRing;
pub use signing::{PublicKey, SignatureCheck, SigningAlgorithm, SigningKeyMaterial};
