//! What custody needs of a hardware security module: keys generated, imported and used inside
//! it, and an AES key there that seals and opens. The PKCS#11 implementation (any vendor's
//! module; SoftHSM2 in the tests) is `haechi_hsm::HsmToken`: this crate decides what to ask
//! and checks what comes back (public points, low-S signatures), and does no IO itself.
//!
//! Every method answers [`Error::HsmUnavailable`] while the module is away (the callers fail
//! closed), [`Error::Hsm`] when it refuses one operation, and [`Error::UnwrapFailed`] when a
//! sealed secret does not authenticate.

use zeroize::Zeroizing;

use crate::{Error, SigningAlgorithm};

/// A hardware security module holding Haechi's keys.
pub trait Hsm: Send + Sync + std::fmt::Debug {
    /// Its name, for events and messages (a token's label).
    fn label(&self) -> &str;

    /// Asks the module whether it answers (connecting again if it was away).
    fn check(&self) -> Result<(), Error>;

    /// Why it is unavailable, if it is (never a secret).
    fn outage(&self) -> Option<String>;

    /// Generates a key pair for `algorithm` inside the module under `id`, its private half
    /// sensitive, not extractable and for signing only. Returns the public key: Ed25519's 32
    /// bytes, or P-256's 65-byte uncompressed point.
    fn generate(
        &self,
        algorithm: SigningAlgorithm,
        id: &[u8],
        label: &str,
    ) -> Result<Vec<u8>, Error>;

    /// Puts an existing private key (the Ed25519 seed or the P-256 scalar) into the module
    /// under `id`, sensitive and not extractable from then on.
    fn import(
        &self,
        algorithm: SigningAlgorithm,
        secret: &Zeroizing<Vec<u8>>,
        id: &[u8],
        label: &str,
    ) -> Result<(), Error>;

    /// Signs with the key `id`: Ed25519 over `message`; P-256 (ECDSA) over its SHA-256 digest,
    /// as the module gives it (`r || s`, either `s`).
    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        id: &[u8],
        message: &[u8],
    ) -> Result<Vec<u8>, Error>;

    /// The id of the AES-256 key labelled `label`, generated in the module (sensitive, not
    /// extractable, for sealing only) if there is none and `create` allows.
    fn sealing_key(&self, label: &str, create: bool) -> Result<Vec<u8>, Error>;

    /// AES-GCM under the module's key `id`, 128-bit tag: `ciphertext || tag`.
    fn seal(
        &self,
        id: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error>;

    /// Opens what [`Hsm::seal`] sealed; [`Error::UnwrapFailed`] when it does not authenticate.
    fn open(
        &self,
        id: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, Error>;
}
