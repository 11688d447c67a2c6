//! Where token-signing keys are kept, and the one thing done with their private halves: signing.
//!
//! Two custodies, chosen by the operator:
//! * **master key** (the default): the private key is wrapped under the master key in the
//!   store and unwrapped into this process's memory while it may sign;
//! * **PKCS#11 token**: the private key is generated (or imported) inside the token, sensitive
//!   and not extractable; the store keeps only a reference to it, and every signature is the
//!   token's `C_Sign`.
//!
//! Either way the caller holds a [`Signer`] and never sees which.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::{
    Error, Hsm, MasterKeyRing, PublicKey, SecretContext, SecureRandom, SignatureCheck,
    SigningAlgorithm, SigningKeyMaterial, WrappedSecret,
};

/// How a reference to a key in a token begins in the store (a wrapped secret begins with its
/// format version, byte 1, so the two never collide).
const TOKEN_REFERENCE: &[u8] = b"pkcs11:";

/// The length of the ids Haechi gives keys in a token.
const TOKEN_ID_LEN: usize = 16;

/// Where signing keys are kept.
#[derive(Debug, Clone)]
pub enum SigningCustody {
    /// Wrapped under the master key at rest, in memory while signing.
    MasterKey,
    /// Inside an HSM (a PKCS#11 token), never out of it.
    Token(Arc<dyn Hsm>),
}

/// A signing key newly taken into custody.
#[derive(Debug)]
pub struct KeyInCustody {
    /// Its key id (the RFC 7638 thumbprint of its public half).
    pub kid: String,
    /// The public half, for the key set.
    pub public: PublicKey,
    /// What signs with it.
    pub signer: Signer,
    /// What the store keeps: the wrapped private key, or the reference to it in the token.
    pub stored: Vec<u8>,
}

impl SigningCustody {
    /// A new key for `algorithm`: generated in memory and wrapped, or generated in the token.
    pub fn generate(
        &self,
        algorithm: SigningAlgorithm,
        master_key: &MasterKeyRing,
        random: &dyn SecureRandom,
    ) -> Result<KeyInCustody, Error> {
        match self {
            SigningCustody::MasterKey => {
                let material = SigningKeyMaterial::generate(algorithm, random);
                wrap_in_memory(material, master_key, random)
            }
            SigningCustody::Token(token) => {
                let mut id = [0u8; TOKEN_ID_LEN];
                random.fill(&mut id);
                let raw = token.generate(algorithm, &id, "haechi token-signing key")?;
                let public = public_key_of(algorithm, &raw)?;
                Ok(KeyInCustody {
                    kid: public.thumbprint(),
                    signer: Signer::in_token(token.clone(), algorithm, id.to_vec(), public.clone()),
                    public,
                    stored: token_reference(&id),
                })
            }
        }
    }

    /// An existing key (an import): wrapped under the master key, or put into the token as
    /// not extractable, after which this process keeps nothing of it.
    pub fn take(
        &self,
        material: SigningKeyMaterial,
        master_key: &MasterKeyRing,
        random: &dyn SecureRandom,
    ) -> Result<KeyInCustody, Error> {
        match self {
            SigningCustody::MasterKey => wrap_in_memory(material, master_key, random),
            SigningCustody::Token(token) => {
                let public = material.public_key();
                let kid = public.thumbprint();
                let mut id = [0u8; TOKEN_ID_LEN];
                random.fill(&mut id);
                let algorithm = material.algorithm();
                // The secret is handed to the HSM once, in a buffer wiped when dropped.
                let secret = material.secret_bytes();
                drop(material);
                token.import(
                    algorithm,
                    &secret,
                    &id,
                    &format!("haechi imported key {kid}"),
                )?;
                Ok(KeyInCustody {
                    kid,
                    signer: Signer::in_token(token.clone(), algorithm, id.to_vec(), public.clone()),
                    public,
                    stored: token_reference(&id),
                })
            }
        }
    }

    /// The signer of a key the store holds as `stored` (either form, whatever the custody is
    /// now: keys made before a switch to the token keep signing from memory until rotated).
    pub fn open(
        &self,
        kid: &str,
        public: &PublicKey,
        stored: &[u8],
        master_key: &MasterKeyRing,
    ) -> Result<Signer, Error> {
        let algorithm = public.algorithm();
        if SigningCustody::is_in_token(stored) {
            let id = token_id(stored).ok_or_else(|| {
                Error::Hsm(format!(
                    "signing key {kid}: its reference to the token is malformed"
                ))
            })?;
            return match self {
                SigningCustody::Token(token) => Ok(Signer::in_token(
                    token.clone(),
                    algorithm,
                    id,
                    public.clone(),
                )),
                SigningCustody::MasterKey => Err(Error::Hsm(format!(
                    "signing key {kid} is in a PKCS#11 token, and no token is configured \
                     ([keys] custody = \"pkcs11\")"
                ))),
            };
        }
        let wrapped = WrappedSecret::from_bytes(stored)?;
        let der = master_key.unwrap(&SecretContext::signing_key(kid), &wrapped)?;
        Ok(Signer::in_memory(SigningKeyMaterial::from_pkcs8_der(&der)?))
    }

    /// Whether `stored` refers to a key in a token (nothing to re-wrap under a new master key).
    pub fn is_in_token(stored: &[u8]) -> bool {
        stored.starts_with(TOKEN_REFERENCE)
    }

    /// The HSM, if keys are kept in one.
    pub fn token(&self) -> Option<&Arc<dyn Hsm>> {
        match self {
            SigningCustody::MasterKey => None,
            SigningCustody::Token(token) => Some(token),
        }
    }
}

fn wrap_in_memory(
    material: SigningKeyMaterial,
    master_key: &MasterKeyRing,
    random: &dyn SecureRandom,
) -> Result<KeyInCustody, Error> {
    let public = material.public_key();
    let kid = public.thumbprint();
    let der = material.to_pkcs8_der()?;
    let wrapped = master_key.wrap(&SecretContext::signing_key(&kid), &der, random)?;
    Ok(KeyInCustody {
        kid,
        public,
        signer: Signer::in_memory(material),
        stored: wrapped.to_bytes(),
    })
}

fn token_reference(id: &[u8]) -> Vec<u8> {
    let mut stored = TOKEN_REFERENCE.to_vec();
    stored.extend_from_slice(hex::encode(id).as_bytes());
    stored
}

/// The id a reference names: exactly the 16 bytes Haechi draws (an empty id would match every
/// object without one).
fn token_id(stored: &[u8]) -> Option<Vec<u8>> {
    hex::decode(stored.strip_prefix(TOKEN_REFERENCE)?)
        .ok()
        .filter(|id| id.len() == TOKEN_ID_LEN)
}

/// The public key of a token's key pair: Ed25519's 32 bytes or P-256's uncompressed point.
fn public_key_of(algorithm: SigningAlgorithm, raw: &[u8]) -> Result<PublicKey, Error> {
    let jwk = match algorithm {
        SigningAlgorithm::EdDsa => {
            json!({"crv": "Ed25519", "kty": "OKP", "x": URL_SAFE_NO_PAD.encode(raw)})
        }
        SigningAlgorithm::Es256 => match raw {
            [0x04, point @ ..] if point.len() == 64 => json!({
                "crv": "P-256",
                "kty": "EC",
                "x": URL_SAFE_NO_PAD.encode(&point[..32]),
                "y": URL_SAFE_NO_PAD.encode(&point[32..]),
            }),
            _ => {
                return Err(Error::Hsm(
                    "the token's P-256 point is not uncompressed".into(),
                ));
            }
        },
    };
    PublicKey::from_parts(algorithm, jwk)
}

/// What signs tokens with one key, wherever the key is. `Debug` shows the custody and the
/// algorithm only.
pub struct Signer {
    kind: SignerKind,
}

enum SignerKind {
    Memory(SigningKeyMaterial),
    Token {
        token: Arc<dyn Hsm>,
        algorithm: SigningAlgorithm,
        id: Vec<u8>,
        /// The public half the store records for the key: the first signature is checked
        /// against it, so a reference that names another key of the token (a store edited by
        /// hand, a token re-initialised) signs nothing that would not verify.
        public: PublicKey,
        matched: AtomicBool,
    },
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let custody = if self.is_in_token() {
            "pkcs11"
        } else {
            "memory"
        };
        f.debug_struct("Signer")
            .field("custody", &custody)
            .field("algorithm", &self.algorithm())
            .finish()
    }
}

impl Signer {
    /// A key in this process's memory.
    pub fn in_memory(material: SigningKeyMaterial) -> Self {
        Signer {
            kind: SignerKind::Memory(material),
        }
    }

    /// The key `id` of `token`.
    pub fn in_token(
        token: Arc<dyn Hsm>,
        algorithm: SigningAlgorithm,
        id: Vec<u8>,
        public: PublicKey,
    ) -> Self {
        Signer {
            kind: SignerKind::Token {
                token,
                algorithm,
                id,
                public,
                matched: AtomicBool::new(false),
            },
        }
    }

    /// What it signs with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        match &self.kind {
            SignerKind::Memory(material) => material.algorithm(),
            SignerKind::Token { algorithm, .. } => *algorithm,
        }
    }

    /// Whether the key is in a token.
    pub fn is_in_token(&self) -> bool {
        matches!(self.kind, SignerKind::Token { .. })
    }

    /// The raw JWS signature of `message` (64 bytes; ES256 as low-S `r || s`). Fails only
    /// for a key in a token: [`Error::HsmUnavailable`] while the token is gone.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, Error> {
        match &self.kind {
            SignerKind::Memory(material) => Ok(material.sign(message)),
            SignerKind::Token {
                token,
                algorithm,
                id,
                public,
                matched,
            } => {
                let signature =
                    canonical_signature(*algorithm, token.sign(*algorithm, id, message)?)?;
                if !matched.load(Ordering::Relaxed) {
                    if public.check_signature(message, &signature) != SignatureCheck::Valid {
                        return Err(Error::Hsm(format!(
                            "the token's key {} does not sign as the key on record: the \
                             reference names another key",
                            hex::encode(id)
                        )));
                    }
                    matched.store(true, Ordering::Relaxed);
                }
                Ok(signature)
            }
        }
    }
}

/// A signature from an HSM in the form keys in memory give: Ed25519's 64 bytes; ES256 as
/// `r || s` with `s` in its low form (verification refuses the high-S twin).
fn canonical_signature(algorithm: SigningAlgorithm, signature: Vec<u8>) -> Result<Vec<u8>, Error> {
    match algorithm {
        SigningAlgorithm::EdDsa if signature.len() == 64 => Ok(signature),
        SigningAlgorithm::EdDsa => Err(Error::Hsm(
            "the HSM's Ed25519 signature is not 64 bytes".into(),
        )),
        SigningAlgorithm::Es256 => {
            let signature = p256::ecdsa::Signature::from_slice(&signature).map_err(|_| {
                Error::Hsm("the HSM's ECDSA signature is not a P-256 r || s".into())
            })?;
            let low = signature.normalize_s().unwrap_or(signature);
            Ok(low.to_bytes().to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MasterKey, OsRandom, SignatureCheck};

    #[test]
    fn a_key_in_memory_is_stored_wrapped_and_opens_only_under_its_kid() {
        let master = MasterKeyRing::single(MasterKey::generate(&OsRandom));
        let custody = SigningCustody::MasterKey;
        let key = custody
            .generate(SigningAlgorithm::EdDsa, &master, &OsRandom)
            .unwrap();
        assert!(!SigningCustody::is_in_token(&key.stored));
        assert!(!key.signer.is_in_token());
        let signer = custody
            .open(&key.kid, &key.public, &key.stored, &master)
            .unwrap();
        let signature = signer.sign(b"m").unwrap();
        assert_eq!(
            key.public.check_signature(b"m", &signature),
            SignatureCheck::Valid
        );
        // Sealed for its kid: under another kid it does not open.
        assert!(
            custody
                .open("another-kid", &key.public, &key.stored, &master)
                .is_err()
        );
        assert!(!format!("{signer:?}").contains(&hex::encode(&key.stored)));
    }

    #[test]
    fn a_token_reference_is_never_taken_for_a_wrapped_key_and_back() {
        let stored = token_reference(&[0xab; 16]);
        assert!(SigningCustody::is_in_token(&stored));
        assert_eq!(token_id(&stored), Some(vec![0xab; 16]));
        // A wrapped secret begins with its format version, never with the reference's prefix.
        let master = MasterKey::generate(&OsRandom);
        let wrapped = master
            .wrap(&SecretContext::signing_key("k"), b"x", &OsRandom)
            .unwrap();
        assert!(!SigningCustody::is_in_token(&wrapped.to_bytes()));
        assert_eq!(token_id(b"pkcs11:not hex"), None);
        // Only the ids Haechi draws: not an empty one, which would match any object.
        assert_eq!(token_id(b"pkcs11:"), None);
        assert_eq!(token_id(b"pkcs11:abab"), None);
    }

    #[test]
    fn an_hsm_signature_is_brought_to_the_one_accepted_form() {
        let material = SigningKeyMaterial::generate(SigningAlgorithm::Es256, &OsRandom);
        let public = material.public_key();
        let low = material.sign(b"m");
        // The high-S twin (r, n - s), as a module may give it.
        let parsed = p256::ecdsa::Signature::from_slice(&low).unwrap();
        let (r, s) = parsed.split_scalars();
        let high = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
        assert_eq!(
            public.check_signature(b"m", &high.to_bytes()),
            SignatureCheck::NonCanonical
        );
        let fixed = canonical_signature(SigningAlgorithm::Es256, high.to_bytes().to_vec()).unwrap();
        assert_eq!(fixed, low);
        assert!(canonical_signature(SigningAlgorithm::EdDsa, vec![0; 63]).is_err());
        assert!(canonical_signature(SigningAlgorithm::Es256, vec![0; 64]).is_err());
    }
}
