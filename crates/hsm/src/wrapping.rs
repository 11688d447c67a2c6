//! The master key as an AES-256 key of the token: secrets are sealed and opened there with
//! AES-GCM (`C_Encrypt`/`C_Decrypt`, `CKM_AES_GCM`), so the key never exists in this process.
//! The output is the same `ciphertext || tag` an AES-GCM in memory gives, so the envelope
//! layout (`WrappedSecret`) does not change with the custody.

use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, KeyType, ObjectClass};

use haechi_custody::Error;

use crate::{HsmToken, TokenFailure, hsm};

/// GCM's tag, in bits (the full 128, as in memory).
const TAG_BITS: u64 = 128;

impl HsmToken {
    /// The id of the AES master key labelled `label`, generating it in the token (sensitive,
    /// not extractable, for encrypting and decrypting only) if there is none yet and
    /// `create` allows.
    pub fn sealing_key_id(&self, label: &str, create: bool) -> Result<Vec<u8>, Error> {
        self.with_session(|token| {
            let found = token
                .session
                .find_objects(&[
                    Attribute::Class(ObjectClass::SECRET_KEY),
                    Attribute::Label(label.as_bytes().to_vec()),
                ])
                .map_err(hsm("finding the master key"))?;
            if let Some(handle) = found.first() {
                let attributes = token
                    .session
                    .get_attributes(*handle, &[cryptoki::object::AttributeType::Id])
                    .map_err(hsm("reading the master key's id"))?;
                return attributes
                    .into_iter()
                    .find_map(|attribute| match attribute {
                        Attribute::Id(id) if !id.is_empty() => Some(id),
                        _ => None,
                    })
                    .ok_or_else(|| {
                        TokenFailure::Refused(format!("the master key {label:?} has no CKA_ID"))
                    });
            }
            if !create {
                return Err(TokenFailure::Refused(format!(
                    "the token holds no master key labelled {label:?}"
                )));
            }
            let id = token
                .session
                .generate_random_vec(16)
                .map_err(hsm("drawing the master key's id"))?;
            token
                .session
                .generate_key(
                    &Mechanism::AesKeyGen,
                    &[
                        Attribute::Class(ObjectClass::SECRET_KEY),
                        Attribute::KeyType(KeyType::AES),
                        Attribute::ValueLen(32.into()),
                        Attribute::Token(true),
                        Attribute::Private(true),
                        Attribute::Sensitive(true),
                        Attribute::Extractable(false),
                        Attribute::Encrypt(true),
                        Attribute::Decrypt(true),
                        Attribute::Id(id.clone()),
                        Attribute::Label(label.as_bytes().to_vec()),
                    ],
                )
                .map_err(hsm("generating the master key"))?;
            Ok(id)
        })
    }

    /// AES-GCM seal under the token's key `id`: `ciphertext || tag`.
    pub fn seal_with(
        &self,
        id: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.with_session(|token| {
            let key = token.handle(ObjectClass::SECRET_KEY, id)?;
            let mut iv = *nonce;
            let params =
                GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(hsm("the GCM parameters"))?;
            token
                .session
                .encrypt(&Mechanism::AesGcm(params), key, plaintext)
                .map_err(hsm("sealing"))
        })
    }

    /// AES-GCM open under the token's key `id`. A failed authentication is
    /// [`Error::UnwrapFailed`], as in memory. Tokens report it variously (SoftHSM2 answers
    /// `CKR_GENERAL_ERROR`), so every refusal of the decryption itself is one: a forged
    /// envelope must not be able to make the token look gone.
    pub fn open_with(
        &self,
        id: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let mut refused = false;
        let result = self.with_session(|token| {
            let key = token.handle(ObjectClass::SECRET_KEY, id)?;
            let mut iv = *nonce;
            let params =
                GcmParams::new(&mut iv, aad, TAG_BITS.into()).map_err(hsm("the GCM parameters"))?;
            token
                .session
                .decrypt(&Mechanism::AesGcm(params), key, sealed)
                .map_err(|error| {
                    let failure = hsm("opening")(error);
                    refused = matches!(failure, TokenFailure::Refused(_));
                    failure
                })
        });
        match result {
            Err(Error::Hsm(_)) if refused => Err(Error::UnwrapFailed),
            other => other,
        }
    }
}
