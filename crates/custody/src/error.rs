//! The custody error type.

/// Everything that can go wrong in key custody. Messages name the problem but never include
/// key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The master key text was not 32 bytes of base64 or hex.
    #[error("the master key must be 32 bytes, given as 64 hex digits or base64: {0}")]
    MasterKeyFormat(String),
    /// A wrapped secret was produced under a different master key than the one loaded.
    #[error("this secret was wrapped by master key {found}, but master key {loaded} is loaded")]
    WrongMasterKey {
        /// The key id recorded with the secret.
        found: String,
        /// The key id of the loaded master key.
        loaded: String,
    },
    /// Unwrapping failed authentication: the ciphertext, nonce or associated data was altered,
    /// or the secret was moved to another context (another customer, another key id).
    #[error("a wrapped secret failed authentication (altered, or moved to another context)")]
    UnwrapFailed,
    /// The stored form of a wrapped secret could not be decoded.
    #[error("a wrapped secret is malformed: {0}")]
    WrappedFormat(&'static str),
    /// A key to import was neither a PKCS#8 PEM nor a private JWK of a supported kind.
    #[error("cannot import key: {0}")]
    Import(String),
    /// The algorithm is not one Haechi signs with.
    #[error("unsupported signing algorithm {0:?} (supported: EdDSA/Ed25519, ES256/P-256)")]
    UnsupportedAlgorithm(String),
    /// The PKCS#11 token (an HSM) refused or failed (the PIN is never in the message).
    #[error("PKCS#11 token: {0}")]
    Hsm(String),
    /// The PKCS#11 token is not there (not found, not answering, logged out): whatever needed
    /// it fails closed until it is back.
    #[error("the PKCS#11 token is unavailable: {0}")]
    HsmUnavailable(String),
    /// A key lifecycle transition that is not allowed (e.g. reactivating a revoked key).
    #[error("key {kid}: cannot go from {from} to {to}")]
    Transition {
        /// The key.
        kid: String,
        /// Its current state.
        from: &'static str,
        /// The state asked for.
        to: &'static str,
    },
    /// Encoding a key failed (should not happen for keys this crate produced).
    #[error("key encoding failed: {0}")]
    Encoding(String),
}
