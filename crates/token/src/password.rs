//! Password hashing with argon2id, off the async runtime.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::Error;

/// argon2id cost parameters. The default is OWASP's first recommendation for argon2id
/// (19 MiB, 2 passes, 1 lane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordParams {
    fn default() -> Self {
        PasswordParams {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl PasswordParams {
    fn argon2(&self) -> Result<Argon2<'static>, Error> {
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|error| Error::Hashing(error.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Hashes a password into a PHC string with a fresh random salt. CPU-bound: runs on the
/// blocking pool so the async workers keep serving.
pub(crate) async fn hash_password(
    params: PasswordParams,
    password: Zeroizing<String>,
    salt: [u8; 16],
) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || {
        let salt =
            SaltString::encode_b64(&salt).map_err(|error| Error::Hashing(error.to_string()))?;
        params
            .argon2()?
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| Error::Hashing(error.to_string()))
    })
    .await
    .map_err(|error| Error::Hashing(error.to_string()))?
}

/// Checks a password against a PHC string, on the blocking pool. With no stored hash (unknown
/// account) it checks against `decoy` instead, so both cases take the same time and return the
/// same answer.
pub(crate) async fn verify_password(
    params: PasswordParams,
    password: Zeroizing<String>,
    stored: Option<String>,
    decoy: String,
) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.unwrap_or(decoy);
        let parsed = PasswordHash::new(&phc).map_err(|error| Error::Hashing(error.to_string()))?;
        let matches = params
            .argon2()?
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
    .map_err(|error| Error::Hashing(error.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordParams {
        PasswordParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        }
    }

    #[tokio::test]
    async fn right_password_verifies_and_wrong_one_does_not() {
        let hash = hash_password(cheap(), Zeroizing::new("correct horse".into()), [7; 16])
            .await
            .unwrap();
        assert!(hash.starts_with("$argon2id$"));
        let decoy = hash.clone();
        assert!(
            verify_password(
                cheap(),
                Zeroizing::new("correct horse".into()),
                Some(hash.clone()),
                decoy.clone()
            )
            .await
            .unwrap()
        );
        assert!(
            !verify_password(
                cheap(),
                Zeroizing::new("wrong".into()),
                Some(hash),
                decoy.clone()
            )
            .await
            .unwrap()
        );
        // An unknown account never verifies, even with the decoy's own password.
        assert!(
            !verify_password(cheap(), Zeroizing::new("correct horse".into()), None, decoy)
                .await
                .unwrap()
        );
    }
}
