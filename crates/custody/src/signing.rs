//! Token-signing keys: generated inside, imported once, never exported.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Error, SecureRandom};

/// The JWS algorithms Haechi signs with.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
pub enum SigningAlgorithm {
    /// Ed25519, labelled `EdDSA` in JWS headers (the label PyJWT and node `jose` both accept).
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// ECDSA over P-256 with SHA-256.
    #[serde(rename = "ES256")]
    Es256,
}

impl SigningAlgorithm {
    /// The JWS `alg` header value.
    pub fn jws_name(self) -> &'static str {
        match self {
            SigningAlgorithm::EdDsa => "EdDSA",
            SigningAlgorithm::Es256 => "ES256",
        }
    }

    /// Parses `EdDSA`/`Ed25519` or `ES256`/`P-256` (case-insensitive).
    pub fn parse(text: &str) -> Result<Self, Error> {
        match text.to_ascii_lowercase().as_str() {
            "eddsa" | "ed25519" => Ok(SigningAlgorithm::EdDsa),
            "es256" | "p-256" | "p256" => Ok(SigningAlgorithm::Es256),
            _ => Err(Error::UnsupportedAlgorithm(text.to_string())),
        }
    }

    fn jsonwebtoken_algorithm(self) -> Algorithm {
        match self {
            SigningAlgorithm::EdDsa => Algorithm::EdDSA,
            SigningAlgorithm::Es256 => Algorithm::ES256,
        }
    }
}

impl std::fmt::Display for SigningAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.jws_name())
    }
}

enum Material {
    // Both key types zeroize their secret scalars when dropped.
    Ed25519(ed25519_dalek::SigningKey),
    P256(p256::ecdsa::SigningKey),
}

/// A private signing key, parsed. It lives only inside the token authority, is zeroized on
/// drop, and its only export is [`SigningKeyMaterial::to_pkcs8_der`] for wrapping under the
/// master key. `Debug` prints the algorithm only.
pub struct SigningKeyMaterial {
    material: Material,
}

impl SigningKeyMaterial {
    /// A fresh key for `algorithm`.
    pub fn generate(algorithm: SigningAlgorithm, random: &dyn SecureRandom) -> Self {
        let mut seed = Zeroizing::new(random.bytes32());
        let material = match algorithm {
            SigningAlgorithm::EdDsa => {
                Material::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed))
            }
            SigningAlgorithm::Es256 => loop {
                // A uniformly random 32-byte string is a valid P-256 scalar with overwhelming
                // probability; retry on the rare zero or out-of-range value.
                match p256::ecdsa::SigningKey::from_slice(seed.as_slice()) {
                    Ok(key) => break Material::P256(key),
                    Err(_) => *seed = random.bytes32(),
                }
            },
        };
        SigningKeyMaterial { material }
    }

    /// Parses a PKCS#8 DER private key (the form keys are wrapped in).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, Error> {
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(SigningKeyMaterial {
                material: Material::Ed25519(key),
            });
        }
        p256::ecdsa::SigningKey::from_pkcs8_der(der)
            .map(|key| SigningKeyMaterial {
                material: Material::P256(key),
            })
            .map_err(|_| Error::Import("not a PKCS#8 Ed25519 or P-256 private key".into()))
    }

    /// Imports the private key of an existing identity provider: a PKCS#8 PEM
    /// (`BEGIN PRIVATE KEY`), a SEC1 PEM (`BEGIN EC PRIVATE KEY`), or a private JWK
    /// (`{"kty":"OKP","crv":"Ed25519","d":…}` or `{"kty":"EC","crv":"P-256","d":…}`).
    pub fn import(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        if text.starts_with(JSON_OBJECT_START) {
            return Self::import_jwk(text);
        }
        if text.contains("BEGIN EC PRIVATE KEY") {
            return Self::import_sec1_pem(text);
        }
        if text.contains("BEGIN PRIVATE KEY") {
            return Self::import_pkcs8_pem(text);
        }
        if text.contains("BEGIN PUBLIC KEY") {
            return Err(Error::Import(
                "this is a public key; importing needs the private key".into(),
            ));
        }
        Err(Error::Import(
            "expected a PEM private key or a private JWK".into(),
        ))
    }

    /// A P-256 key in a SEC1 PEM (`BEGIN EC PRIVATE KEY`).
    fn import_sec1_pem(text: &str) -> Result<Self, Error> {
        let secret = p256::SecretKey::from_sec1_pem(text)
            .map_err(|_| Error::Import("not a P-256 SEC1 PEM key".into()))?;
        Ok(SigningKeyMaterial {
            material: Material::P256(p256::ecdsa::SigningKey::from(secret)),
        })
    }

    /// An Ed25519 or P-256 key in a PKCS#8 PEM (`BEGIN PRIVATE KEY`).
    fn import_pkcs8_pem(text: &str) -> Result<Self, Error> {
        if let Ok(key) = ed25519_dalek::SigningKey::from_pkcs8_pem(text) {
            return Ok(SigningKeyMaterial {
                material: Material::Ed25519(key),
            });
        }
        p256::ecdsa::SigningKey::from_pkcs8_pem(text)
            .map(|key| SigningKeyMaterial {
                material: Material::P256(key),
            })
            .map_err(|_| Error::Import("PKCS#8 PEM is neither Ed25519 nor P-256".into()))
    }

    /// A private JWK: the private half from `d`, then the public half checked against `x`
    /// when the JWK carries one.
    fn import_jwk(text: &str) -> Result<Self, Error> {
        let jwk: Value =
            serde_json::from_str(text).map_err(|error| Error::Import(format!("JWK: {error}")))?;
        let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or_default();
        let crv = jwk.get("crv").and_then(Value::as_str).unwrap_or_default();
        let imported = match (kty, crv) {
            ("OKP", "Ed25519") => Self::ed25519_from_jwk(&jwk)?,
            ("EC", "P-256") => Self::p256_from_jwk(&jwk)?,
            _ => {
                return Err(Error::Import(format!(
                    "JWK kty {kty:?} crv {crv:?} is not Ed25519 or P-256"
                )));
            }
        };
        imported.check_jwk_public_half(&jwk)?;
        Ok(imported)
    }

    /// An Ed25519 key from a JWK's 32-byte seed `d`.
    fn ed25519_from_jwk(jwk: &Value) -> Result<Self, Error> {
        let seed = jwk_member(jwk, "d")?;
        let seed: [u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| Error::Import("Ed25519 \"d\" must be 32 bytes".into()))?;
        let seed = Zeroizing::new(seed);
        Ok(SigningKeyMaterial {
            material: Material::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)),
        })
    }

    /// A P-256 key from a JWK's scalar `d`.
    fn p256_from_jwk(jwk: &Value) -> Result<Self, Error> {
        let scalar = jwk_member(jwk, "d")?;
        let key = p256::ecdsa::SigningKey::from_slice(&scalar)
            .map_err(|_| Error::Import("P-256 \"d\" is not a valid scalar".into()))?;
        Ok(SigningKeyMaterial {
            material: Material::P256(key),
        })
    }

    /// A JWK that also carries the public half must agree with the private half.
    fn check_jwk_public_half(&self, jwk: &Value) -> Result<(), Error> {
        if let Some(x) = jwk.get("x").and_then(Value::as_str) {
            let public = self.public_key();
            if public.jwk.get("x").and_then(Value::as_str) != Some(x.trim_end_matches('=')) {
                return Err(Error::Import(
                    "JWK public \"x\" does not match its private key".into(),
                ));
            }
        }
        Ok(())
    }

    /// The private key as PKCS#8 DER, for wrapping under the master key. Zeroized on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        let document = match &self.material {
            Material::Ed25519(key) => key.to_pkcs8_der(),
            Material::P256(key) => key.to_pkcs8_der(),
        }
        .map_err(|error| Error::Encoding(error.to_string()))?;
        Ok(Zeroizing::new(document.as_bytes().to_vec()))
    }

    /// The secret itself (the Ed25519 seed or the P-256 scalar), only for handing the key to a
    /// PKCS#11 token once, as `CKA_VALUE`.
    pub(crate) fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        use zeroize::Zeroize as _;
        match &self.material {
            Material::Ed25519(key) => {
                let mut seed = key.to_bytes();
                let secret = Zeroizing::new(seed.to_vec());
                seed.zeroize();
                secret
            }
            Material::P256(key) => {
                let mut scalar = key.to_bytes();
                let secret = Zeroizing::new(scalar.to_vec());
                scalar.iter_mut().for_each(|byte| *byte = 0);
                secret
            }
        }
    }

    /// The algorithm this key signs with.
    pub fn algorithm(&self) -> SigningAlgorithm {
        match self.material {
            Material::Ed25519(_) => SigningAlgorithm::EdDsa,
            Material::P256(_) => SigningAlgorithm::Es256,
        }
    }

    /// The public half.
    pub fn public_key(&self) -> PublicKey {
        match &self.material {
            Material::Ed25519(key) => {
                let x = URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes());
                PublicKey::from_parts(
                    SigningAlgorithm::EdDsa,
                    json!({"crv": "Ed25519", "kty": "OKP", "x": x}),
                )
            }
            Material::P256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                let x = URL_SAFE_NO_PAD.encode(point.x().map(|x| x.to_vec()).unwrap_or_default());
                let y = URL_SAFE_NO_PAD.encode(point.y().map(|y| y.to_vec()).unwrap_or_default());
                PublicKey::from_parts(
                    SigningAlgorithm::Es256,
                    json!({"crv": "P-256", "kty": "EC", "x": x, "y": y}),
                )
            }
        }
        .unwrap_or_else(|_| unreachable_public_key())
    }

    /// Signs `message` (the JWS signing input), returning the raw JWS signature bytes
    /// (64 bytes for both algorithms; ES256 as fixed-size `r || s`, always in low-S form).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer as _;
        match &self.material {
            Material::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
            Material::P256(key) => {
                let signature: p256::ecdsa::Signature = key.sign(message);
                // p256 signs with whichever of s and n − s falls out; both verify. Haechi emits
                // only the low one, so a token's signature has exactly one accepted encoding
                // and verification can refuse the other (see `PublicKey::check_signature`).
                signature
                    .normalize_s()
                    .unwrap_or(signature)
                    .to_bytes()
                    .to_vec()
            }
        }
    }
}

/// How a JWK's text begins (anything else is read as PEM).
const JSON_OBJECT_START: char = '{';

/// A base64url member of a private JWK (`d`), decoded into memory that is zeroized on drop.
fn jwk_member(jwk: &Value, name: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
    let encoded = jwk
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Import(format!("JWK has no \"{name}\"")))?;
    URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map(Zeroizing::new)
        .map_err(|_| Error::Import(format!("JWK \"{name}\" is not base64url")))
}

// The JWK built above from a valid key always has the components jsonwebtoken needs; this
// fallback exists only so that impossible case does not need an `unwrap`.
fn unreachable_public_key() -> PublicKey {
    PublicKey {
        algorithm: SigningAlgorithm::EdDsa,
        jwk: Value::Null,
        decoding_key: DecodingKey::from_ed_der(&[]),
    }
}

impl std::fmt::Debug for SigningKeyMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyMaterial")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

/// What checking a signature found. Only [`SignatureCheck::Valid`] means the key's holder
/// signed the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureCheck {
    /// The signature verifies, and it is the one encoding Haechi accepts.
    Valid,
    /// The signature does not verify (wrong bytes, wrong length, out-of-range values).
    Invalid,
    /// An ES256 signature in high-S form `(r, n − s)`. ECDSA accepts it mathematically, but it
    /// is a re-encoding of some low-S signature, and Haechi signs only low-S: refused before
    /// any verification, as libsecp256k1 and Go's `crypto/ecdsa` users do, so the holder of a
    /// token cannot turn it into a second, differently-hashed token.
    NonCanonical,
}

/// The public half of a signing key: what the JWKS publishes and what verifies signatures.
#[derive(Clone)]
pub struct PublicKey {
    algorithm: SigningAlgorithm,
    jwk: Value,
    decoding_key: DecodingKey,
}

impl PublicKey {
    /// Rebuilds a public key from the JWK members stored for it (`kty`, `crv`, `x`, `y`).
    pub fn from_jwk(algorithm: SigningAlgorithm, jwk: &Value) -> Result<Self, Error> {
        let members = match algorithm {
            SigningAlgorithm::EdDsa => json!({
                "crv": jwk.get("crv"), "kty": jwk.get("kty"), "x": jwk.get("x"),
            }),
            SigningAlgorithm::Es256 => json!({
                "crv": jwk.get("crv"), "kty": jwk.get("kty"), "x": jwk.get("x"), "y": jwk.get("y"),
            }),
        };
        Self::from_parts(algorithm, members)
    }

    pub(crate) fn from_parts(algorithm: SigningAlgorithm, jwk: Value) -> Result<Self, Error> {
        let text = |name: &str| jwk.get(name).and_then(Value::as_str).unwrap_or_default();
        let decoding_key = match algorithm {
            SigningAlgorithm::EdDsa => DecodingKey::from_ed_components(text("x")),
            SigningAlgorithm::Es256 => DecodingKey::from_ec_components(text("x"), text("y")),
        }
        .map_err(|error| Error::Import(format!("public key: {error}")))?;
        Ok(PublicKey {
            algorithm,
            jwk,
            decoding_key,
        })
    }

    /// The algorithm.
    pub fn algorithm(&self) -> SigningAlgorithm {
        self.algorithm
    }

    /// The RFC 7638 JWK thumbprint (base64url SHA-256 of the canonical members), used as
    /// the key id: the same key always gets the same `kid`, so importing it twice is visible.
    pub fn thumbprint(&self) -> String {
        // serde_json without `preserve_order` sorts object keys, which is exactly RFC 7638's
        // lexicographic member order; the members were chosen to be the required ones only.
        let canonical = self.jwk.to_string();
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The public JWK with `kid`, `alg` and `use` set, as published in the JWKS.
    pub fn jwk(&self, kid: &str) -> Value {
        let mut jwk = self.jwk.clone();
        if let Value::Object(members) = &mut jwk {
            members.insert("kid".into(), Value::String(kid.to_string()));
            members.insert(
                "alg".into(),
                Value::String(self.algorithm.jws_name().into()),
            );
            members.insert("use".into(), Value::String("sig".into()));
        }
        jwk
    }

    /// The public members only (`kty`, `crv`, `x`, `y`), as stored.
    pub fn members(&self) -> &Value {
        &self.jwk
    }

    /// Verifies a JWS signature (base64url text) over `message` with jsonwebtoken's
    /// implementation, independent of the code that signed it. High-S ES256 signatures are
    /// refused (see [`SignatureCheck::NonCanonical`]).
    pub fn verify(&self, message: &[u8], signature_b64: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(signature_b64) {
            Ok(signature) => self.check_signature(message, &signature) == SignatureCheck::Valid,
            Err(_) => false,
        }
    }

    /// Checks raw JWS signature bytes over `message`. For ES256 the signature is parsed with
    /// p256 and refused as [`SignatureCheck::NonCanonical`] if its `s` is high (p256's own
    /// `normalize_s` decides), before any verification; what remains is verified with
    /// jsonwebtoken's implementation, independent of the code that signed it.
    pub fn check_signature(&self, message: &[u8], signature: &[u8]) -> SignatureCheck {
        if self.algorithm == SigningAlgorithm::Es256 {
            match p256::ecdsa::Signature::from_slice(signature) {
                Ok(parsed) if parsed.normalize_s().is_some() => {
                    return SignatureCheck::NonCanonical;
                }
                Ok(_) => {}
                Err(_) => return SignatureCheck::Invalid,
            }
        }
        let canonical = URL_SAFE_NO_PAD.encode(signature);
        let valid = jsonwebtoken::crypto::verify(
            &canonical,
            message,
            &self.decoding_key,
            self.algorithm.jsonwebtoken_algorithm(),
        )
        .unwrap_or(false);
        if valid {
            SignatureCheck::Valid
        } else {
            SignatureCheck::Invalid
        }
    }
}

impl std::fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKey")
            .field("algorithm", &self.algorithm)
            .field("jwk", &self.jwk)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsRandom;

    fn sign_and_verify(key: &SigningKeyMaterial) -> bool {
        let message = b"header.claims";
        let signature = URL_SAFE_NO_PAD.encode(key.sign(message));
        key.public_key().verify(message, &signature)
    }

    #[test]
    fn generated_keys_sign_what_jsonwebtoken_verifies() {
        for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let key = SigningKeyMaterial::generate(algorithm, &OsRandom);
            assert_eq!(key.algorithm(), algorithm);
            assert!(sign_and_verify(&key));
            let public = key.public_key();
            assert!(!public.verify(b"other message", &URL_SAFE_NO_PAD.encode(key.sign(b"x"))));
        }
    }

    /// `(r, s)` → `(r, n − s)` with p256's own arithmetic (what a malleating client does).
    fn flip_s(signature: &[u8]) -> Vec<u8> {
        let parsed = p256::ecdsa::Signature::from_slice(signature).unwrap();
        let (r, s) = parsed.split_scalars();
        let negated = p256::ecdsa::Signature::from_scalars(r.to_bytes(), (-*s).to_bytes());
        negated.unwrap().to_bytes().to_vec()
    }

    #[test]
    fn es256_signs_low_s_only_and_refuses_the_high_s_twin() {
        let key = SigningKeyMaterial::generate(SigningAlgorithm::Es256, &OsRandom);
        let public = key.public_key();
        // Half of p256's raw signatures are high-S; 64 signatures all low-S means the signer
        // normalises (the chance of luck is 2^-64).
        for index in 0..64u8 {
            let message = [b'm', index];
            let signature = key.sign(&message);
            let parsed = p256::ecdsa::Signature::from_slice(&signature).unwrap();
            assert!(
                parsed.normalize_s().is_none(),
                "signature {index} is high-S"
            );
            assert_eq!(
                public.check_signature(&message, &signature),
                SignatureCheck::Valid
            );
            let twin = flip_s(&signature);
            // The twin is a valid ECDSA signature (p256 alone accepts it) ...
            use p256::ecdsa::signature::Verifier as _;
            let verifying = match &key.material {
                Material::P256(inner) => *inner.verifying_key(),
                Material::Ed25519(_) => unreachable!(),
            };
            assert!(
                verifying
                    .verify(
                        &message,
                        &p256::ecdsa::Signature::from_slice(&twin).unwrap()
                    )
                    .is_ok()
            );
            // ... and Haechi refuses it before verifying.
            assert_eq!(
                public.check_signature(&message, &twin),
                SignatureCheck::NonCanonical
            );
            assert!(!public.verify(&message, &URL_SAFE_NO_PAD.encode(&twin)));
        }
        assert_eq!(
            public.check_signature(b"m", &[0u8; 64]),
            SignatureCheck::Invalid
        );
        assert_eq!(
            public.check_signature(b"m", b"short"),
            SignatureCheck::Invalid
        );
    }

    #[test]
    fn pkcs8_round_trip_keeps_the_key() {
        for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let key = SigningKeyMaterial::generate(algorithm, &OsRandom);
            let der = key.to_pkcs8_der().unwrap();
            let back = SigningKeyMaterial::from_pkcs8_der(&der).unwrap();
            assert_eq!(
                back.public_key().thumbprint(),
                key.public_key().thumbprint()
            );
        }
    }

    #[test]
    fn imports_pem_and_jwk() {
        let key = SigningKeyMaterial::generate(SigningAlgorithm::EdDsa, &OsRandom);
        let ed = match &key.material {
            Material::Ed25519(inner) => inner.clone(),
            Material::P256(_) => unreachable!(),
        };
        let pem = ed.to_pkcs8_pem(Default::default()).unwrap();
        let imported = SigningKeyMaterial::import(&pem).unwrap();
        assert_eq!(
            imported.public_key().thumbprint(),
            key.public_key().thumbprint()
        );

        let jwk = json!({
            "kty": "OKP", "crv": "Ed25519",
            "d": URL_SAFE_NO_PAD.encode(ed.to_bytes()),
            "x": URL_SAFE_NO_PAD.encode(ed.verifying_key().as_bytes()),
        });
        let imported = SigningKeyMaterial::import(&jwk.to_string()).unwrap();
        assert_eq!(
            imported.public_key().thumbprint(),
            key.public_key().thumbprint()
        );

        let p256 = p256::SecretKey::random(&mut rand_core::OsRng);
        let sec1 = p256.to_sec1_pem(Default::default()).unwrap();
        let imported = SigningKeyMaterial::import(&sec1).unwrap();
        assert_eq!(imported.algorithm(), SigningAlgorithm::Es256);
        assert!(sign_and_verify(&imported));
    }

    #[test]
    fn import_refuses_public_keys_garbage_and_mismatched_jwks() {
        let key = SigningKeyMaterial::generate(SigningAlgorithm::EdDsa, &OsRandom);
        let other = SigningKeyMaterial::generate(SigningAlgorithm::EdDsa, &OsRandom);
        let der = key.to_pkcs8_der().unwrap();
        let seed = &der[der.len() - 32..];
        let mismatched = json!({
            "kty": "OKP", "crv": "Ed25519",
            "d": URL_SAFE_NO_PAD.encode(seed),
            "x": other.public_key().members()["x"],
        });
        for bad in [
            "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----".to_string(),
            "hello".to_string(),
            "{\"kty\":\"RSA\"}".to_string(),
            "{not json".to_string(),
            mismatched.to_string(),
        ] {
            assert!(
                SigningKeyMaterial::import(&bad).is_err(),
                "{bad} should be refused"
            );
        }
    }

    #[test]
    fn thumbprint_matches_rfc_7638_example_shape() {
        // RFC 8037 appendix A.3: the thumbprint of the example Ed25519 key.
        let jwk =
            json!({"crv":"Ed25519","kty":"OKP","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"});
        let public = PublicKey::from_jwk(SigningAlgorithm::EdDsa, &jwk).unwrap();
        assert_eq!(
            public.thumbprint(),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }

    #[test]
    fn debug_never_shows_private_material() {
        let key = SigningKeyMaterial::generate(SigningAlgorithm::EdDsa, &OsRandom);
        assert_eq!(
            format!("{key:?}"),
            "SigningKeyMaterial { algorithm: EdDsa, .. }"
        );
    }
}
