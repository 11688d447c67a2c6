//! HSM custody against a real PKCS#11 token: SoftHSM2 (Debian's `softhsm2`), its tokens in the
//! directory `SOFTHSM2_CONF` names (`scripts/test` makes one). An Ed25519 key generated in the
//! token signs through `C_Sign`, the signature verifies with the public half the token gives,
//! and the private half is sensitive, not extractable, and its value unreadable.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

mod common;

use std::sync::Arc;

use common::fresh_token;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use haechi_custody::{
    Error, Hsm, MasterKey, MasterKeyRing, OsRandom, SecretContext, SignatureCheck,
    SigningAlgorithm, SigningCustody, SigningKeyMaterial,
};
use haechi_hsm::HsmToken;
use zeroize::Zeroizing;

#[test]
fn a_key_generated_in_the_token_signs_there_and_never_leaves() {
    let _turn = common::one_at_a_time();
    let label = format!("haechi-test-{}", std::process::id());
    let Some(settings) = fresh_token(&label) else {
        return;
    };
    // A wrong PIN does not log in, and its error does not carry the PIN.
    let mut wrong = settings.clone();
    wrong.pin = Zeroizing::new("not-the-pin".into());
    let error = HsmToken::open(wrong).unwrap_err().to_string();
    assert!(!error.contains("not-the-pin"), "{error}");

    let token = HsmToken::open(settings.clone()).unwrap();
    let key = token
        .generate_ed25519(b"kid-1", "haechi signing key")
        .unwrap();

    // The token signs; the signature verifies with the public half it gave.
    let message = b"eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJjdXN0b21lcjpjLTEifQ";
    let signature = token.sign_ed25519(&key.id, message).unwrap();
    let public = VerifyingKey::from_bytes(&key.public.clone().try_into().unwrap()).unwrap();
    public
        .verify(message, &Signature::from_bytes(&signature))
        .expect("the token's signature verifies");
    assert!(
        public
            .verify(b"another message", &Signature::from_bytes(&signature))
            .is_err()
    );

    // The private half cannot be exported: sensitive, not extractable, its value refused.
    let custody = token.custody_of(&key.id).unwrap();
    assert!(custody.sensitive, "{custody:?}");
    assert!(!custody.extractable, "{custody:?}");
    assert!(!custody.value_readable, "{custody:?}");

    // No such key: an error, not a signature.
    assert!(token.sign_ed25519(b"kid-unknown", message).is_err());
}

#[test]
fn a_p256_key_in_the_token_signs_es256_in_low_s_form() {
    let _turn = common::one_at_a_time();
    let Some(settings) = fresh_token(&format!("haechi-p256-{}", std::process::id())) else {
        return;
    };
    let token = Arc::new(HsmToken::open(settings).unwrap());
    let custody = SigningCustody::Token(token.clone() as Arc<dyn Hsm>);
    let master = MasterKeyRing::single(MasterKey::generate(&OsRandom));
    let key = custody
        .generate(SigningAlgorithm::Es256, &master, &OsRandom)
        .unwrap();
    assert!(SigningCustody::is_in_token(&key.stored));
    // The token's signatures verify with the public half it gave, and every one is the low-S
    // encoding (a high-S one would be refused as non-canonical).
    for round in 0..32 {
        let message = format!("header.claims-{round}");
        let signature = key.signer.sign(message.as_bytes()).unwrap();
        assert_eq!(
            key.public.check_signature(message.as_bytes(), &signature),
            SignatureCheck::Valid
        );
    }
    // The store's reference opens the same key again.
    let again = custody
        .open(&key.kid, &key.public, &key.stored, &master)
        .unwrap();
    let signature = again.sign(b"m").unwrap();
    assert_eq!(
        key.public.check_signature(b"m", &signature),
        SignatureCheck::Valid
    );
    // A master-key custody cannot open a key that is in a token.
    assert!(matches!(
        SigningCustody::MasterKey.open(&key.kid, &key.public, &key.stored, &master),
        Err(Error::Hsm(_))
    ));
}

#[test]
fn an_imported_key_signs_in_the_token_and_is_not_extractable_from_then_on() {
    let _turn = common::one_at_a_time();
    let Some(settings) = fresh_token(&format!("haechi-import-{}", std::process::id())) else {
        return;
    };
    let token = Arc::new(HsmToken::open(settings).unwrap());
    let custody = SigningCustody::Token(token.clone() as Arc<dyn Hsm>);
    let master = MasterKeyRing::single(MasterKey::generate(&OsRandom));
    for algorithm in [SigningAlgorithm::EdDsa, SigningAlgorithm::Es256] {
        let legacy = SigningKeyMaterial::generate(algorithm, &OsRandom);
        let public = legacy.public_key();
        let key = custody.take(legacy, &master, &OsRandom).unwrap();
        assert_eq!(key.kid, public.thumbprint());
        let signature = key.signer.sign(b"header.claims").unwrap();
        assert_eq!(
            public.check_signature(b"header.claims", &signature),
            SignatureCheck::Valid,
            "{algorithm}"
        );
        let hex_id = std::str::from_utf8(&key.stored["pkcs11:".len()..]).unwrap();
        let attributes = token.custody_of(&hex::decode(hex_id).unwrap()).unwrap();
        assert!(attributes.sensitive && !attributes.extractable && !attributes.value_readable);
    }
}

#[test]
fn the_master_key_in_the_token_seals_and_opens_there_and_refuses_a_moved_secret() {
    let _turn = common::one_at_a_time();
    let Some(settings) = fresh_token(&format!("haechi-master-{}", std::process::id())) else {
        return;
    };
    let token = Arc::new(HsmToken::open(settings).unwrap());
    // No master key yet, and none may be made: refused.
    assert!(MasterKey::in_token(token.clone() as Arc<dyn Hsm>, "haechi-master", false).is_err());
    let master = MasterKey::in_token(token.clone() as Arc<dyn Hsm>, "haechi-master", true).unwrap();
    assert!(master.is_in_token() && master.to_hex().is_none());
    assert!(master.id().starts_with("mk-hsm-"));
    // Found again (not made again) by its label: the same id, and what one sealed the other
    // opens.
    let again = MasterKey::in_token(token as Arc<dyn Hsm>, "haechi-master", false).unwrap();
    assert_eq!(again.id(), master.id());
    let context = SecretContext::customer_data_key("c-1");
    let sealed = master.wrap(&context, b"a data key", &OsRandom).unwrap();
    assert_eq!(
        again.unwrap(&context, &sealed).unwrap().as_slice(),
        b"a data key"
    );
    // Moved to another customer, or altered: refused as in memory.
    assert!(matches!(
        master.unwrap(&SecretContext::customer_data_key("c-2"), &sealed),
        Err(Error::UnwrapFailed)
    ));
    let mut altered = sealed.clone();
    altered.ciphertext[0] ^= 1;
    assert!(matches!(
        master.unwrap(&context, &altered),
        Err(Error::UnwrapFailed)
    ));
    // Forged envelopes do not make the token look gone.
    assert!(again.unwrap(&context, &sealed).is_ok());
    // A ring moves a secret from a key in memory to the token's key.
    let old = MasterKey::generate(&OsRandom);
    let under_old = old.wrap(&context, b"moved", &OsRandom).unwrap();
    let ring = MasterKeyRing::new(master, vec![old]).unwrap();
    let moved = ring
        .rewrap_to_current(&context, &under_old, &OsRandom)
        .unwrap()
        .unwrap();
    assert!(ring.is_current(&moved));
    assert_eq!(ring.unwrap(&context, &moved).unwrap().as_slice(), b"moved");
}

#[test]
fn a_reference_to_another_key_of_the_token_signs_nothing() {
    let _turn = common::one_at_a_time();
    let Some(settings) = fresh_token(&format!("haechi-swap-{}", std::process::id())) else {
        return;
    };
    let token = Arc::new(HsmToken::open(settings).unwrap());
    let custody = SigningCustody::Token(token.clone() as Arc<dyn Hsm>);
    let master = MasterKeyRing::single(MasterKey::generate(&OsRandom));
    let first = custody
        .generate(SigningAlgorithm::EdDsa, &master, &OsRandom)
        .unwrap();
    let second = custody
        .generate(SigningAlgorithm::EdDsa, &master, &OsRandom)
        .unwrap();
    // The store says `first`, but its reference was swapped for `second`'s.
    let swapped = custody
        .open(&first.kid, &first.public, &second.stored, &master)
        .unwrap();
    assert!(matches!(swapped.sign(b"m"), Err(Error::Hsm(_))));
    // The reference's own key signs.
    let own = custody
        .open(&second.kid, &second.public, &second.stored, &master)
        .unwrap();
    assert!(own.sign(b"m").is_ok());
}

#[test]
fn a_master_key_made_from_a_known_value_or_named_twice_is_refused() {
    use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
    use cryptoki::object::{Attribute, KeyType, ObjectClass};
    use cryptoki::session::UserType;
    use cryptoki::types::AuthPin;

    let _turn = common::one_at_a_time();
    let label = format!("haechi-planted-{}", std::process::id());
    let Some(settings) = fresh_token(&label) else {
        return;
    };
    // Someone who held the PIN once plants an AES key whose value they know, under the label
    // Haechi looks for; and two keys share another label. Made through the module directly.
    {
        let context = Pkcs11::new(&settings.module).unwrap();
        let args = || CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK);
        // Initialised afresh, so that the module lists the token just made (an earlier test
        // may have left it initialised; no connection is open now).
        if context.initialize(args()).is_err() {
            context.clone().finalize().unwrap();
            context.initialize(args()).unwrap();
        }
        let slot = context
            .get_slots_with_token()
            .unwrap()
            .into_iter()
            .find(|slot| context.get_token_info(*slot).unwrap().label().trim_end() == label)
            .unwrap();
        let session = context.open_rw_session(slot).unwrap();
        session
            .login(
                UserType::User,
                Some(&AuthPin::from(settings.pin.to_string())),
            )
            .unwrap();
        let aes = |label: &str, id: u8| {
            vec![
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Id(vec![id; 16]),
                Attribute::Label(label.as_bytes().to_vec()),
            ]
        };
        let mut planted = aes("planted", 1);
        planted.push(Attribute::Value(vec![0x42; 32]));
        session.create_object(&planted).unwrap();
        for id in [2, 3] {
            let mut twin = aes("twice", id);
            twin.push(Attribute::ValueLen(32.into()));
            session
                .generate_key(&cryptoki::mechanism::Mechanism::AesKeyGen, &twin)
                .unwrap();
        }
        drop(session);
        context.finalize().unwrap();
    }
    let token = Arc::new(HsmToken::open(settings).unwrap()) as Arc<dyn Hsm>;
    let planted = MasterKey::in_token(token.clone(), "planted", false).unwrap_err();
    // A created object was never "never extractable" (its value came from outside), nor
    // generated in the token: refused on either count.
    assert!(
        planted
            .to_string()
            .contains("will not use it as the master key"),
        "{planted}"
    );
    let twice = MasterKey::in_token(token.clone(), "twice", false).unwrap_err();
    assert!(twice.to_string().contains("ambiguous"), "{twice}");
    // The token still answers: refusing a key is no outage.
    assert!(token.check().is_ok());
}
