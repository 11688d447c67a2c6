//! The JWS compact form of access tokens: building them, and taking presented ones apart.
//!
//! Signing is done by the custody key (so private keys stay zeroizing) and verification by
//! jsonwebtoken's implementation ([`haechi_custody::PublicKey::check_signature`]); this module
//! only encodes and decodes the three base64url parts, strictly and with size limits.
//!
//! Strictness is what keeps one issued token one string: every part must be canonical
//! unpadded base64url (no padding, no stray low bits in the last character), and an ES256
//! signature must be low-S. Whoever holds a token therefore cannot re-encode it into another
//! string that still verifies — which matters because the issuance ledger is keyed by a hash
//! of the whole token, and a well-signed token missing from it is a forgery.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haechi_custody::{PublicKey, SignatureCheck, Signer};
use serde::{Deserialize, Serialize};

use crate::Rejection;

/// Longest token accepted. Haechi's own are about 400 bytes; anything far larger is hostile.
pub(crate) const MAX_TOKEN_LEN: usize = 4096;

/// The claims of a Haechi access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    alg: &'a str,
    typ: &'a str,
    kid: &'a str,
}

#[derive(Deserialize)]
struct HeaderIn {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    crit: Option<serde_json::Value>,
}

/// Builds and signs a token.
/// Fails only when the key is in a PKCS#11 token that is unavailable.
pub(crate) fn encode(
    key: &Signer,
    kid: &str,
    claims: &Claims,
) -> Result<String, haechi_custody::Error> {
    let header = HeaderOut {
        alg: key.algorithm().jws_name(),
        typ: "JWT",
        kid,
    };
    // Serialising these plain structs cannot fail.
    let header_json = serde_json::to_vec(&header).unwrap_or_default();
    let claims_json = serde_json::to_vec(claims).unwrap_or_default();
    let mut token = String::with_capacity(512);
    URL_SAFE_NO_PAD.encode_string(header_json, &mut token);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(claims_json, &mut token);
    let signature = key.sign(token.as_bytes())?;
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature, &mut token);
    Ok(token)
}

/// A presented token taken apart, not yet verified.
#[derive(Debug)]
pub(crate) struct Presented<'a> {
    pub alg: String,
    pub kid: String,
    /// `header.claims`, the bytes the signature covers.
    pub signing_input: &'a str,
    /// The signature, decoded from its (canonical) base64url.
    pub signature: Vec<u8>,
    claims_part: &'a str,
}

/// Proof that a presented token's signature verified under the key its `kid` names. Only
/// [`Presented::verify_with`] makes one, so the refusals that count as a *use* of a key —
/// `forged`, `revoked_key`, `retired_key` — can only be reached with a signature in hand.
#[derive(Debug)]
pub(crate) struct GoodSignature {
    _private: (),
}

impl<'a> Presented<'a> {
    /// Splits a compact JWS and decodes its header and signature. Refuses anything but three
    /// non-empty canonical base64url parts with a JSON header naming `alg` and `kid`, and any
    /// `crit` extension.
    pub fn parse(token: &'a str) -> Result<Self, Rejection> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Rejection::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejection::Malformed);
        };
        if header.is_empty() || claims.is_empty() {
            return Err(Rejection::Malformed);
        }
        let header_bytes = URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| Rejection::Malformed)?;
        let header: HeaderIn =
            serde_json::from_slice(&header_bytes).map_err(|_| Rejection::Malformed)?;
        if header.crit.is_some() {
            return Err(Rejection::UnsupportedAlgorithm);
        }
        if header.alg != "EdDSA" && header.alg != "ES256" {
            return Err(Rejection::UnsupportedAlgorithm);
        }
        if signature.is_empty() {
            return Err(Rejection::Malformed);
        }
        let kid = header.kid.ok_or(Rejection::Malformed)?;
        let signing_input_len = token.len() - signature.len() - 1;
        // The engine is strict: padding, the standard alphabet and non-zero trailing bits are
        // all refused, so a signature has exactly one accepted spelling.
        let signature_bytes = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Rejection::Malformed)?;
        Ok(Presented {
            alg: header.alg,
            kid,
            signing_input: &token[..signing_input_len],
            signature: signature_bytes,
            claims_part: claims,
        })
    }

    /// Checks the signature under `public`. A high-S ES256 signature is a re-encoding of a
    /// signature (perhaps of a genuine token), refused as [`Rejection::Malformed`] before it is
    /// verified; anything else that does not verify is [`Rejection::BadSignature`].
    pub fn verify_with(&self, public: &PublicKey) -> Result<GoodSignature, Rejection> {
        match public.check_signature(self.signing_input.as_bytes(), &self.signature) {
            SignatureCheck::Valid => Ok(GoodSignature { _private: () }),
            SignatureCheck::NonCanonical => Err(Rejection::Malformed),
            SignatureCheck::Invalid => Err(Rejection::BadSignature),
        }
    }

    /// Decodes the claims (only after the signature verified, or to describe a forgery).
    pub fn claims(&self) -> Result<Claims, Rejection> {
        let bytes = URL_SAFE_NO_PAD
            .decode(self.claims_part)
            .map_err(|_| Rejection::Malformed)?;
        serde_json::from_slice(&bytes).map_err(|_| Rejection::Malformed)
    }
}

/// What a refused token claims, read leniently for its record (the signature part is not
/// decoded, so a token refused for its signature's spelling is still described): its `kid`,
/// `sub` and `jti`, unverified and attacker-chosen, each cut to `limit` characters. Never used
/// as the record's subject.
#[derive(Debug, Default)]
pub(crate) struct Claimed {
    pub kid: Option<String>,
    pub sub: Option<String>,
    pub jti: Option<String>,
}

impl Claimed {
    pub fn read(token: &str, limit: usize) -> Self {
        if token.len() > MAX_TOKEN_LEN {
            return Claimed::default();
        }
        let mut parts = token.split('.');
        let (Some(header), Some(claims)) = (parts.next(), parts.next()) else {
            return Claimed::default();
        };
        let json = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .ok()
                .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        };
        let text = |value: &Option<serde_json::Value>, name: &str| {
            value
                .as_ref()
                .and_then(|value| value.get(name))
                .and_then(serde_json::Value::as_str)
                .map(|text| text.chars().take(limit).collect::<String>())
        };
        let (header, claims) = (json(header), json(claims));
        Claimed {
            kid: text(&header, "kid"),
            sub: text(&claims, "sub"),
            jti: text(&claims, "jti"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use haechi_custody::{OsRandom, SigningAlgorithm, SigningKeyMaterial};

    fn claims() -> Claims {
        Claims {
            iss: "i".into(),
            aud: "a".into(),
            sub: "customer:c1".into(),
            sid: "s".into(),
            jti: "j".into(),
            iat: 1,
            exp: 2,
            scope: None,
        }
    }

    #[test]
    fn encoded_tokens_parse_and_verify() {
        let material = SigningKeyMaterial::generate(SigningAlgorithm::EdDsa, &OsRandom);
        let public = material.public_key();
        let key = Signer::in_memory(material);
        let token = encode(&key, "kid1", &claims()).unwrap();
        let presented = Presented::parse(&token).unwrap();
        assert_eq!(presented.alg, "EdDSA");
        assert_eq!(presented.kid, "kid1");
        assert!(presented.verify_with(&public).is_ok());
        assert_eq!(presented.claims().unwrap(), claims());
    }

    #[test]
    fn a_signature_has_one_spelling_only() {
        for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
            let key = Signer::in_memory(SigningKeyMaterial::generate(algorithm, &OsRandom));
            let token = encode(&key, "kid1", &claims()).unwrap();
            let (input, signature) = token.rsplit_once('.').unwrap();
            // 64 bytes in 86 characters: the last one carries 4 bits that must be zero.
            let last = signature.as_bytes()[signature.len() - 1];
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let index = alphabet.iter().position(|&c| c == last).unwrap();
            let stray = alphabet[index | 1] as char;
            let mut respelled = vec![
                format!("{input}.{signature}=="),
                format!("{input}.{}", signature.replace('-', "+").replace('_', "/")),
                format!("{input}.{} ", signature),
            ];
            if index & 1 == 0 {
                respelled.push(format!(
                    "{input}.{}{stray}",
                    &signature[..signature.len() - 1]
                ));
            }
            for other in respelled {
                if other == token {
                    continue;
                }
                assert_eq!(
                    Presented::parse(&other).unwrap_err(),
                    Rejection::Malformed,
                    "{other}"
                );
            }
        }
    }

    #[test]
    fn hostile_shapes_are_malformed_or_unsupported() {
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","kid":"k"}"#);
        let hs_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"k"}"#);
        let crit_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA","kid":"k","crit":["b64"]}"#);
        let no_kid = URL_SAFE_NO_PAD.encode(br#"{"alg":"EdDSA"}"#);
        let body = URL_SAFE_NO_PAD.encode(b"{}");
        let cases = [
            (String::new(), Rejection::Malformed),
            ("a.b".to_string(), Rejection::Malformed),
            ("a.b.c.d".to_string(), Rejection::Malformed),
            ("!!!.b.c".to_string(), Rejection::Malformed),
            (
                format!("{none_header}.{body}."),
                Rejection::UnsupportedAlgorithm,
            ),
            (
                format!("{hs_header}.{body}.c2ln"),
                Rejection::UnsupportedAlgorithm,
            ),
            (
                format!("{crit_header}.{body}.c2ln"),
                Rejection::UnsupportedAlgorithm,
            ),
            (format!("{no_kid}.{body}.c2ln"), Rejection::Malformed),
            ("x".repeat(MAX_TOKEN_LEN + 1), Rejection::Malformed),
        ];
        for (token, expected) in cases {
            assert_eq!(
                Presented::parse(&token).unwrap_err(),
                expected,
                "{token:.40}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(token in ".{0,600}") {
            let _ = Presented::parse(&token).map(|presented| presented.claims());
            let _ = Claimed::read(&token, 64);
        }
    }
}
