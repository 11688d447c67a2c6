//! Signing keys held in a PKCS#11 token (an HSM; SoftHSM2 in the tests): generated inside the
//! token as sensitive and not extractable, used through `C_Sign`, never in this process's
//! memory. The first step of HSM custody (issue 24): the token, its Ed25519 keys and their
//! signatures; the token authority does not use it yet.
//!
//! The FFI is the `cryptoki` crate's (the Parsec project's safe wrapper): nothing here is
//! `unsafe`. One logged-in session serves every signature, behind a lock (a pool comes with
//! the authority's use of it).

use std::path::PathBuf;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use parking_lot::Mutex;
use zeroize::Zeroizing;

use crate::Error;

/// `CKA_EC_PARAMS` for edwards25519: the curve's name as a DER PrintableString, the form
/// PKCS#11 3.0 gives for Ed25519 (and the one SoftHSM2 takes).
const EDWARDS25519: &[u8] = b"\x13\x0cedwards25519";

/// Where the token is and how to log in to it.
#[derive(Clone)]
pub struct TokenSettings {
    /// The PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`, a vendor's library).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The user PIN (from a file or the environment, never the configuration).
    pub pin: Zeroizing<String>,
}

impl std::fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSettings")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"[redacted]")
            .finish()
    }
}

/// A logged-in token.
pub struct HsmToken {
    /// Kept for as long as the session lives (the module is finalised when it is dropped).
    _context: Pkcs11,
    session: Mutex<Session>,
    /// The private keys' handles by id, found once: a handle is good for the session's life,
    /// and finding it again (`C_FindObjects`) on every signature cost about a sixth of the
    /// signature with SoftHSM2 (BENCHMARKS.md, "HSM custody").
    handles: Mutex<std::collections::HashMap<Vec<u8>, ObjectHandle>>,
}

impl std::fmt::Debug for HsmToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmToken").finish_non_exhaustive()
    }
}

/// An Ed25519 key in the token: its id there and its public half.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HsmKey {
    /// `CKA_ID` of both halves.
    pub id: Vec<u8>,
    /// The public key (32 bytes), for the key set.
    pub public: [u8; 32],
}

/// What the token says of a private key's custody.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyCustody {
    /// `CKA_SENSITIVE`: its value is never revealed.
    pub sensitive: bool,
    /// `CKA_EXTRACTABLE`: it can be wrapped out of the token.
    pub extractable: bool,
    /// Whether `C_GetAttributeValue` on `CKA_VALUE` gave anything (it must not).
    pub value_readable: bool,
}

fn hsm(what: &str) -> impl FnOnce(cryptoki::error::Error) -> Error + '_ {
    move |error| Error::Hsm(format!("{what}: {error}"))
}

impl HsmToken {
    /// Loads the module, finds the token labelled `settings.token_label` and logs in as its
    /// user.
    pub fn open(settings: &TokenSettings) -> Result<Self, Error> {
        let context = Pkcs11::new(&settings.module).map_err(hsm("loading the PKCS#11 module"))?;
        context
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
            .map_err(hsm("initialising the module"))?;
        let slot = find_slot(&context, &settings.token_label)?;
        let session = context
            .open_rw_session(slot)
            .map_err(hsm("opening a session"))?;
        let pin = AuthPin::from(settings.pin.as_str().to_string());
        session
            .login(UserType::User, Some(&pin))
            .map_err(hsm("logging in to the token"))?;
        Ok(HsmToken {
            _context: context,
            session: Mutex::new(session),
            handles: Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Generates an Ed25519 key pair inside the token under `id`: the private half sensitive,
    /// not extractable, for signing only; the public half readable.
    pub fn generate_ed25519(&self, id: &[u8], label: &str) -> Result<HsmKey, Error> {
        let public_template = [
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Verify(true),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::EcParams(EDWARDS25519.to_vec()),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let private_template = [
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Sign(true),
            Attribute::KeyType(KeyType::EC_EDWARDS),
            Attribute::Id(id.to_vec()),
            Attribute::Label(label.as_bytes().to_vec()),
        ];
        let session = self.session.lock();
        let (public, _) = session
            .generate_key_pair(
                &Mechanism::EccEdwardsKeyPairGen,
                &public_template,
                &private_template,
            )
            .map_err(hsm("generating an Ed25519 key pair"))?;
        let public = public_key(&session, public)?;
        Ok(HsmKey {
            id: id.to_vec(),
            public,
        })
    }

    /// Signs `message` with the Ed25519 key `id` (`C_Sign`, `CKM_EDDSA`).
    pub fn sign_ed25519(&self, id: &[u8], message: &[u8]) -> Result<[u8; 64], Error> {
        let session = self.session.lock();
        let key = self.private_handle(&session, id)?;
        let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
        let signature = session
            .sign(&mechanism, key, message)
            .map_err(hsm("signing"))?;
        signature
            .try_into()
            .map_err(|_| Error::Hsm("the token's Ed25519 signature is not 64 bytes".into()))
    }

    /// The handle of the private key `id`, found once.
    fn private_handle(&self, session: &Session, id: &[u8]) -> Result<ObjectHandle, Error> {
        if let Some(handle) = self.handles.lock().get(id) {
            return Ok(*handle);
        }
        let handle = find_key(session, ObjectClass::PRIVATE_KEY, id)?;
        self.handles.lock().insert(id.to_vec(), handle);
        Ok(handle)
    }

    /// What the token says of the custody of the private key `id`, and whether asking for its
    /// value (`CKA_VALUE`) gives anything.
    pub fn custody_of(&self, id: &[u8]) -> Result<KeyCustody, Error> {
        let session = self.session.lock();
        let key = find_key(&session, ObjectClass::PRIVATE_KEY, id)?;
        let attributes = session
            .get_attributes(
                key,
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Value,
                ],
            )
            .map_err(hsm("reading the key's attributes"))?;
        let mut custody = KeyCustody {
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
    }
}

/// The slot holding the token labelled `label` (PKCS#11 pads labels with spaces).
fn find_slot(context: &Pkcs11, label: &str) -> Result<Slot, Error> {
    for slot in context
        .get_slots_with_token()
        .map_err(hsm("listing the slots"))?
    {
        let info = context
            .get_token_info(slot)
            .map_err(hsm("reading a token's information"))?;
        if info.label().trim_end() == label {
            return Ok(slot);
        }
    }
    Err(Error::Hsm(format!("no token labelled {label:?}")))
}

fn find_key(session: &Session, class: ObjectClass, id: &[u8]) -> Result<ObjectHandle, Error> {
    let found = session
        .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
        .map_err(hsm("finding the key"))?;
    found
        .first()
        .copied()
        .ok_or_else(|| Error::Hsm(format!("no key {} in the token", hex::encode(id))))
}

/// The 32-byte public key of an Ed25519 public-key object: `CKA_EC_POINT`, a DER OCTET STRING
/// around the point (or, from some tokens, the bare point).
fn public_key(session: &Session, public: ObjectHandle) -> Result<[u8; 32], Error> {
    let attributes = session
        .get_attributes(public, &[AttributeType::EcPoint])
        .map_err(hsm("reading the public key"))?;
    let point = attributes
        .into_iter()
        .find_map(|attribute| match attribute {
            Attribute::EcPoint(point) => Some(point),
            _ => None,
        })
        .ok_or_else(|| Error::Hsm("the public key has no CKA_EC_POINT".into()))?;
    let bare = match point.as_slice() {
        [0x04, 32, rest @ ..] if rest.len() == 32 => rest,
        bare if bare.len() == 32 => bare,
        _ => return Err(Error::Hsm("CKA_EC_POINT is not an Ed25519 point".into())),
    };
    bare.try_into()
        .map_err(|_| Error::Hsm("CKA_EC_POINT is not an Ed25519 point".into()))
}
