//! `[keys] custody` and `[keys.pkcs11]`: keeping the signing keys, and optionally the master
//! key, in a PKCS#11 token (docs/token-authority.md, "HSM custody").

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where signing keys are kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CustodyMode {
    /// Wrapped under the master key at rest, unwrapped into memory to sign (the default).
    #[default]
    MasterKey,
    /// Generated and used inside a PKCS#11 token, never out of it.
    Pkcs11,
}

/// `[keys.pkcs11]`. `Debug` never shows a `pin` someone wrote here.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pkcs11Section {
    /// The vendor's PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so` for SoftHSM2).
    pub module: PathBuf,
    /// The label of the token holding Haechi's keys.
    pub token_label: String,
    /// A file holding the user PIN (mode 0600). Without it the PIN is read from the
    /// environment variable `pin_env` names.
    #[serde(default)]
    pub pin_file: Option<PathBuf>,
    /// The environment variable holding the PIN when there is no `pin_file`.
    #[serde(default = "default_pin_env")]
    pub pin_env: String,
    /// Refused with a clear message: the PIN never goes in the configuration.
    #[serde(default, skip_serializing)]
    pub pin: Option<toml::Value>,
    /// Sessions kept open with the token: at most this many operations at once.
    #[serde(default = "default_sessions")]
    pub sessions: usize,
    /// Keep the master key in the token too (an AES-256 key there wraps and unwraps every data
    /// key, signing key and named secret), so that it never exists in Haechi's memory.
    #[serde(default)]
    pub master_key: bool,
    /// The label of that AES key.
    #[serde(default = "default_master_key_label")]
    pub master_key_label: String,
}

fn default_pin_env() -> String {
    "HAECHI_PKCS11_PIN".into()
}

fn default_sessions() -> usize {
    4
}

fn default_master_key_label() -> String {
    "haechi-master-key".into()
}

impl std::fmt::Debug for Pkcs11Section {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pkcs11Section")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin_file", &self.pin_file)
            .field("pin_env", &self.pin_env)
            .field("pin", &self.pin.as_ref().map(|_| "[refused]"))
            .field("sessions", &self.sessions)
            .field("master_key", &self.master_key)
            .field("master_key_label", &self.master_key_label)
            .finish()
    }
}

impl Pkcs11Section {
    /// Checks what can be checked without the token.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.pin.is_some() {
            anyhow::bail!(
                "keys.pkcs11.pin: the PIN never goes in the configuration (it would be in \
                 every copy of it); put it in a file named by keys.pkcs11.pin_file (mode 0600) \
                 or in the environment variable {}",
                self.pin_env
            );
        }
        if !(1..=64).contains(&self.sessions) {
            anyhow::bail!(
                "keys.pkcs11.sessions must be 1 to 64, not {}",
                self.sessions
            );
        }
        if self.token_label.is_empty() || self.token_label.len() > 32 {
            anyhow::bail!("keys.pkcs11.token_label must be 1 to 32 bytes (a PKCS#11 label)");
        }
        Ok(())
    }
}
