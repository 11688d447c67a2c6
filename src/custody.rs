//! The PKCS#11 token a configuration names (`[keys.pkcs11]`), opened once per process and
//! shared by everything that keeps keys in it: the signing keys (`[keys] custody = "pkcs11"`)
//! and the master key (`master_key = true`). See docs/token-authority.md, "HSM custody".

use std::sync::Arc;

use anyhow::Context as _;
use haechi_custody::{Hsm, MasterKey, SigningCustody};
use haechi_hsm::{HsmToken, TokenSettings};
use zeroize::Zeroizing;

use crate::config::{Config, CustodyMode, Pkcs11Section, is_group_or_world_readable};

/// The token of `[keys.pkcs11]`, if there is one. A token that does not answer yet does not
/// stop the start: whatever needs it fails closed (503) until it answers, and `/readyz` says
/// so. Only a missing PIN, which no waiting mends, is an error here.
pub fn open_token(config: &Config) -> anyhow::Result<Option<Arc<dyn Hsm>>> {
    let Some(section) = &config.keys.pkcs11 else {
        return Ok(None);
    };
    let token: Arc<dyn Hsm> = Arc::new(HsmToken::new(TokenSettings {
        module: section.module.clone(),
        token_label: section.token_label.clone(),
        pin: read_pin(section)?,
        sessions: section.sessions,
    }));
    if let Err(error) = token.check() {
        tracing::error!(
            %error,
            token = section.token_label,
            "the PKCS#11 token is unavailable; what needs it answers 503 until it is back"
        );
    }
    Ok(Some(token))
}

/// Where signing keys are kept, as configured.
pub fn signing_custody(
    config: &Config,
    token: Option<&Arc<dyn Hsm>>,
) -> anyhow::Result<SigningCustody> {
    match (config.keys.custody, token) {
        (CustodyMode::MasterKey, _) => Ok(SigningCustody::MasterKey),
        (CustodyMode::Pkcs11, Some(token)) => Ok(SigningCustody::Token(token.clone())),
        (CustodyMode::Pkcs11, None) => {
            anyhow::bail!("keys.custody = \"pkcs11\" needs a [keys.pkcs11] section")
        }
    }
}

/// The master key in the token, when `[keys.pkcs11] master_key` is on. It is generated there
/// on the first start of a single node; a cluster's nodes never make one (each would make its
/// own): it is made once, in the token they share.
pub fn master_key_in_token(
    config: &Config,
    token: Option<&Arc<dyn Hsm>>,
) -> anyhow::Result<Option<MasterKey>> {
    let (Some(section), Some(token)) = (&config.keys.pkcs11, token) else {
        return Ok(None);
    };
    if !section.master_key {
        return Ok(None);
    }
    if config.master_key.is_some() {
        anyhow::bail!(
            "HAECHI_MASTER_KEY and keys.pkcs11.master_key both name the current master key; to \
             move into the token, give the old key as HAECHI_PREVIOUS_MASTER_KEY instead"
        );
    }
    let file = config.master_key_path();
    if file.exists() && !config.previous_master_key_files.contains(&file) {
        anyhow::bail!(
            "{} holds a master key, and keys.pkcs11.master_key puts the current one in the \
             token: to move everything under the token's key, list the file in \
             previous_master_key_files (haechi serve re-wraps online), then delete the file",
            file.display()
        );
    }
    let create = config.store.url.is_none();
    let key = MasterKey::in_token(token.clone(), &section.master_key_label, create).with_context(
        || {
            format!(
                "the master key {:?} in the PKCS#11 token {:?}",
                section.master_key_label, section.token_label
            )
        },
    )?;
    Ok(Some(key))
}

/// The user PIN: from `pin_file` (trailing newline dropped), else the environment.
fn read_pin(section: &Pkcs11Section) -> anyhow::Result<Zeroizing<String>> {
    if let Some(path) = &section.pin_file {
        if is_group_or_world_readable(path) {
            tracing::warn!(
                path = %path.display(),
                "the PKCS#11 PIN file is readable by group or others; chmod 600 it"
            );
        }
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the PKCS#11 PIN file {}", path.display()))?,
        );
        return Ok(Zeroizing::new(
            text.trim_end_matches(['\r', '\n']).to_string(),
        ));
    }
    match std::env::var(&section.pin_env) {
        Ok(pin) if !pin.is_empty() => Ok(Zeroizing::new(pin)),
        _ => anyhow::bail!(
            "no PIN for the PKCS#11 token {:?}: set keys.pkcs11.pin_file (a file of mode 0600) \
             or the environment variable {}",
            section.token_label,
            section.pin_env
        ),
    }
}
