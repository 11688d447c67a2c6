//! The master key as an AES-256 key of the token: secrets are sealed and opened there with
//! AES-GCM (`C_Encrypt`/`C_Decrypt`, `CKM_AES_GCM`), so the key never exists in this process.
//! The output is the same `ciphertext || tag` an AES-GCM in memory gives, so the envelope
//! layout (`WrappedSecret`) does not change with the custody.

use cryptoki::error::RvError;
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::Session;

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
            match found.as_slice() {
                [] => {}
                [handle] => return checked_master_key(token.session, *handle, label),
                _ => {
                    return Err(TokenFailure::Refused(format!(
                        "{} keys in the token are labelled {label:?}: which one is the master key \
                         is ambiguous; leave one",
                        found.len()
                    )));
                }
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
                        Attribute::Wrap(false),
                        Attribute::Unwrap(false),
                        Attribute::Derive(false),
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
            let sealed = token
                .session
                .encrypt(&Mechanism::AesGcm(params), key, plaintext)
                .map_err(hsm("sealing"))?;
            // Some modules choose the IV themselves and write it back: the envelope keeps the
            // nonce Haechi drew, so such a seal could never be opened. Refuse it.
            if iv != *nonce {
                return Err(TokenFailure::Refused(
                    "the module replaced the GCM nonce; it cannot keep Haechi's envelope".into(),
                ));
            }
            Ok(sealed)
        })
    }

    /// AES-GCM open under the token's key `id`. A failed authentication is
    /// [`Error::UnwrapFailed`], as in memory (modules report it variously: SoftHSM2 answers
    /// `CKR_GENERAL_ERROR`); none of those counts as the token being gone, so a forged
    /// envelope cannot make Haechi's token look away.
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
                    // What modules answer for a tag that does not verify (SoftHSM2:
                    // CKR_GENERAL_ERROR); anything else is the module's failure, not the
                    // envelope's.
                    refused = matches!(
                        error,
                        cryptoki::error::Error::Pkcs11(
                            RvError::EncryptedDataInvalid
                                | RvError::EncryptedDataLenRange
                                | RvError::GeneralError,
                            _
                        )
                    );
                    hsm("opening")(error)
                })
        });
        match result {
            Err(Error::Hsm(_)) if refused => Err(Error::UnwrapFailed),
            other => other,
        }
    }
}

/// The id of the master key `handle`, once it is shown to be what a master key must be: an
/// AES-256 key generated in the token (`CKA_LOCAL`), sensitive, never extractable. A key
/// created from a known value (`C_CreateObject`), or one that can be wrapped out, is refused:
/// whoever knew or took its value could open every data key offline.
fn checked_master_key(
    session: &Session,
    handle: ObjectHandle,
    label: &str,
) -> Result<Vec<u8>, TokenFailure> {
    let attributes = session
        .get_attributes(
            handle,
            &[
                AttributeType::Id,
                AttributeType::KeyType,
                AttributeType::ValueLen,
                AttributeType::Sensitive,
                AttributeType::Extractable,
                AttributeType::NeverExtractable,
                AttributeType::Local,
            ],
        )
        .map_err(hsm("reading the master key's attributes"))?;
    let (mut id, mut aes, mut length) = (Vec::new(), false, 0u64);
    let (mut sensitive, mut extractable, mut never_extractable, mut local) =
        (false, true, false, false);
    for attribute in attributes {
        match attribute {
            Attribute::Id(value) => id = value,
            Attribute::KeyType(kind) => aes = kind == KeyType::AES,
            Attribute::ValueLen(value) => length = u64::from(value),
            Attribute::Sensitive(value) => sensitive = value,
            Attribute::Extractable(value) => extractable = value,
            Attribute::NeverExtractable(value) => never_extractable = value,
            Attribute::Local(value) => local = value,
            _ => {}
        }
    }
    let problem = if id.is_empty() {
        Some("has no CKA_ID")
    } else if !aes || length != 32 {
        Some("is not an AES-256 key")
    } else if !sensitive || extractable || !never_extractable {
        Some("is (or was) extractable or not sensitive")
    } else if !local {
        Some("was not generated in the token (CKA_LOCAL is false): its value was known outside")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(TokenFailure::Refused(format!(
            "the key labelled {label:?} {problem}; Haechi will not use it as the master key"
        ))),
        None => Ok(id),
    }
}
