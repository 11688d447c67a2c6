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

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::pkcs11::HsmToken;
use crate::{
    Error, MasterKeyRing, PublicKey, SecretContext, SecureRandom, SigningAlgorithm,
    SigningKeyMaterial, WrappedSecret,
};

/// How a reference to a key in a token begins in the store (a wrapped secret begins with its
/// format version, byte 1, so the two never collide).
const TOKEN_REFERENCE: &[u8] = b"pkcs11:";

/// Where signing keys are kept.
#[derive(Debug, Clone)]
pub enum SigningCustody {
    /// Wrapped under the master key at rest, in memory while signing.
    MasterKey,
    /// Inside a PKCS#11 token, never out of it.
    Token(Arc<HsmToken>),
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
                let mut id = [0u8; 16];
                random.fill(&mut id);
                let key = token.generate(algorithm, &id, "haechi token-signing key")?;
                let public = public_key_of(algorithm, &key.public)?;
                Ok(KeyInCustody {
                    kid: public.thumbprint(),
                    public,
                    signer: Signer::in_token(token.clone(), algorithm, id.to_vec()),
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
                let mut id = [0u8; 16];
                random.fill(&mut id);
                token.import(&material, &id, &format!("haechi imported key {kid}"))?;
                let algorithm = material.algorithm();
                drop(material);
                Ok(KeyInCustody {
                    kid,
                    public,
                    signer: Signer::in_token(token.clone(), algorithm, id.to_vec()),
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
        algorithm: SigningAlgorithm,
        stored: &[u8],
        master_key: &MasterKeyRing,
    ) -> Result<Signer, Error> {
        if let Some(id) = token_id(stored) {
            return match self {
                SigningCustody::Token(token) => Ok(Signer::in_token(token.clone(), algorithm, id)),
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

    /// The token, if keys are kept in one.
    pub fn token(&self) -> Option<&Arc<HsmToken>> {
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

fn token_id(stored: &[u8]) -> Option<Vec<u8>> {
    hex::decode(stored.strip_prefix(TOKEN_REFERENCE)?).ok()
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
        token: Arc<HsmToken>,
        algorithm: SigningAlgorithm,
        id: Vec<u8>,
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
    pub fn in_token(token: Arc<HsmToken>, algorithm: SigningAlgorithm, id: Vec<u8>) -> Self {
        Signer {
            kind: SignerKind::Token {
                token,
                algorithm,
                id,
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
            } => token.sign(*algorithm, id, message),
        }
    }
}
