//! Signing keys in the token: Ed25519 (`CKM_EDDSA`) and P-256 (`CKM_ECDSA`, low-S), generated
//! there or imported once, private halves sensitive and not extractable.

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;
use sha2::{Digest, Sha256};

use haechi_custody::{Error, SigningAlgorithm};
use zeroize::Zeroizing;

use crate::{HsmToken, TokenFailure, hsm};

/// `CKA_EC_PARAMS` for edwards25519: the curve's name as a DER PrintableString, the form
/// PKCS#11 3.0 gives for Ed25519 (and the one SoftHSM2 takes).
const EDWARDS25519: &[u8] = b"\x13\x0cedwards25519";
/// `CKA_EC_PARAMS` for P-256: the DER OID of prime256v1 (1.2.840.10045.3.1.7).
const PRIME256V1: &[u8] = b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07";

/// A signing key in the token: its id there, its algorithm and its public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsmKey {
    /// `CKA_ID` of both halves.
    pub id: Vec<u8>,
    /// What it signs with.
    pub algorithm: SigningAlgorithm,
    /// The public key: 32 bytes for Ed25519, the 65-byte uncompressed point for P-256.
    pub public: Vec<u8>,
}

/// What the token says of a private key's custody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenKeyAttributes {
    /// `CKA_SENSITIVE`: its value is never revealed.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`: it can be wrapped out of the token.
    pub extractable: bool,
    /// Whether `C_GetAttributeValue` on `CKA_VALUE` gave anything (it must not).
    pub value_readable: bool,
}

/// The attributes every private signing key in the token carries: kept in the token, usable
/// after login only, never revealed, never wrapped out, for signing only.
fn private_attributes(algorithm: SigningAlgorithm, id: &[u8], label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Sign(true),
        Attribute::Derive(false),
        Attribute::KeyType(key_type(algorithm)),
        Attribute::Id(id.to_vec()),
        Attribute::Label(label.as_bytes().to_vec()),
    ]
}

fn key_type(algorithm: SigningAlgorithm) -> KeyType {
    match algorithm {
        SigningAlgorithm::EdDsa => KeyType::EC_EDWARDS,
        SigningAlgorithm::Es256 => KeyType::EC,
    }
}

fn curve(algorithm: SigningAlgorithm) -> &'static [u8] {
    match algorithm {
        SigningAlgorithm::EdDsa => EDWARDS25519,
        SigningAlgorithm::Es256 => PRIME256V1,
    }
}

impl HsmToken {
    /// Generates a key pair for `algorithm` inside the token under `id`.
    pub fn generate_key(
        &self,
        algorithm: SigningAlgorithm,
        id: &[u8],
        label: &str,
    ) -> Result<HsmKey, Error> {
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::KeyType(key_type(algorithm)),
            Attribute::EcParams(curve(algorithm).to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let private_template = private_attributes(algorithm, id, label);
        let mechanism = match algorithm {
            SigningAlgorithm::EdDsa => Mechanism::EccEdwardsKeyPairGen,
            SigningAlgorithm::Es256 => Mechanism::EccKeyPairGen,
        };
        self.with_session(|token| {
            let (public, _) = token
                .session
                .generate_key_pair(&mechanism, &public_template, &private_template)
                .map_err(hsm("generating a key pair"))?;
            Ok(HsmKey {
                id: id.to_vec(),
                algorithm,
                public: public_point(token.session, public, algorithm)?,
            })
        })
    }

    /// Generates an Ed25519 key pair inside the token under `id`.
    pub fn generate_ed25519(&self, id: &[u8], label: &str) -> Result<HsmKey, Error> {
        self.generate_key(SigningAlgorithm::EdDsa, id, label)
    }

    /// Puts an existing private key (the Ed25519 seed or the P-256 scalar) into the token
    /// under `id`, as sensitive and not extractable from then on (copies made before are not
    /// the token's to erase).
    pub fn import_key(
        &self,
        algorithm: SigningAlgorithm,
        secret: &Zeroizing<Vec<u8>>,
        id: &[u8],
        label: &str,
    ) -> Result<(), Error> {
        let mut template = private_attributes(algorithm, id, label);
        template.push(Attribute::Class(ObjectClass::PRIVATE_KEY));
        template.push(Attribute::EcParams(curve(algorithm).to_vec()));
        // The copy in the template is wiped once the token has it.
        template.push(Attribute::Value(secret.to_vec()));
        let result = self.with_session(|token| {
            token
                .session
                .create_object(&template)
                .map(|_| ())
                .map_err(hsm("importing the key"))
        });
        for attribute in &mut template {
            if let Attribute::Value(value) = attribute {
                zeroize::Zeroize::zeroize(value);
            }
        }
        result
    }

    /// Signs `message` (a JWS signing input) with the key `id` by `C_Sign`: Ed25519 over the
    /// message (`CKM_EDDSA`); P-256 over its SHA-256 digest (`CKM_ECDSA`), `r || s` as the
    /// token gives it (custody normalises `s`).
    pub fn sign_with(
        &self,
        algorithm: SigningAlgorithm,
        id: &[u8],
        message: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.with_session(|token| {
            let key = token.handle(ObjectClass::PRIVATE_KEY, id)?;
            match algorithm {
                SigningAlgorithm::EdDsa => {
                    let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                    token.session.sign(&mechanism, key, message)
                }
                SigningAlgorithm::Es256 => {
                    let digest = Sha256::digest(message);
                    token.session.sign(&Mechanism::Ecdsa, key, &digest)
                }
            }
            .map_err(hsm("signing"))
        })
    }

    /// Signs `message` with the Ed25519 key `id` (`C_Sign`, `CKM_EDDSA`).
    pub fn sign_ed25519(&self, id: &[u8], message: &[u8]) -> Result<[u8; 64], Error> {
        self.sign_with(SigningAlgorithm::EdDsa, id, message)?
            .try_into()
            .map_err(|_| Error::Hsm("the token's Ed25519 signature is not 64 bytes".into()))
    }

    /// What the token says of the custody of the private key `id`, and whether asking for its
    /// value (`CKA_VALUE`) gives anything.
    pub fn custody_of(&self, id: &[u8]) -> Result<TokenKeyAttributes, Error> {
        self.with_session(|token| {
            let key = token.handle(ObjectClass::PRIVATE_KEY, id)?;
            let attributes = token
                .session
                .get_attributes(
                    key,
                    &[
                        AttributeType::Sensitive,
                        AttributeType::Extractable,
                        AttributeType::Value,
                    ],
                )
                .map_err(hsm("reading the key's attributes"))?;
            let mut custody = TokenKeyAttributes {
                sensitive: false,
                extractable: true,
                value_readable: false,
            };
            for attribute in attributes {
                match attribute {
                    Attribute::Sensitive(sensitive) => custody.sensitive = sensitive,
                    Attribute::Extractable(extractable) => custody.extractable = extractable,
                    Attribute::Value(value) => custody.value_readable = !value.is_empty(),
                    _ => {}
                }
            }
            Ok(custody)
        })
    }
}

/// The public point of a key-pair's public object: `CKA_EC_POINT`, a DER OCTET STRING around
/// the point (or, from some tokens, the bare point).
fn public_point(
    session: &Session,
    public: ObjectHandle,
    algorithm: SigningAlgorithm,
) -> Result<Vec<u8>, TokenFailure> {
    let attributes = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .map_err(hsm("reading the public key"))?;
    let point = attributes
        .into_iter()
        .find_map(|attribute| match attribute {
            Attribute::EcPoint(point) => Some(point),
            _ => None,
        })
        .ok_or_else(|| TokenFailure::Refused("the public key has no CKA_EC_POINT".into()))?;
    let length = match algorithm {
        SigningAlgorithm::EdDsa => 32,
        SigningAlgorithm::Es256 => 65,
    };
    match point.as_slice() {
        [0x04, declared, rest @ ..] if usize::from(*declared) == length && rest.len() == length => {
            Ok(rest.to_vec())
        }
        bare if bare.len() == length => Ok(bare.to_vec()),
        _ => Err(TokenFailure::Refused(format!(
            "CKA_EC_POINT is not a {algorithm} public key"
        ))),
    }
}
