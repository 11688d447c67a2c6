//! Lifetimes and windows of tokens and keys, and the checks that keep them consistent.

use std::time::Duration;

use haechi_custody::SigningAlgorithm;

use crate::Error;

/// The token authority's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPolicy {
    /// `iss` of every token, and the RFC 8414 issuer.
    pub issuer: String,
    /// `aud` of every token.
    pub audience: String,
    /// Access-token lifetime (default 15 min).
    pub access_ttl: Duration,
    /// Refresh-token (and customer session) lifetime.
    pub refresh_ttl: Duration,
    /// How long a key keeps verifying after it stops signing. Must cover `access_ttl`, or
    /// tokens would die before their `exp` at every rotation.
    pub verify_window: Duration,
    /// How often the active key is replaced (default daily).
    pub rotation_interval: Duration,
    /// Algorithm of generated keys.
    pub algorithm: SigningAlgorithm,
    /// Clock skew tolerated on `iat`.
    pub clock_skew: Duration,
    /// Failed logins per account per `login_window` before 429.
    pub login_failures_per_account: u32,
    /// Login attempts per source address per `login_window` before 429.
    pub login_attempts_per_source: u32,
    /// The window of both login limits.
    pub login_window: Duration,
    /// Password hashes (argon2id) that may run at once (default 4: with the default cost,
    /// 4 × 19 MiB of memory and 4 cores at most).
    pub login_hash_concurrency: usize,
    /// Logins that may wait for a hashing slot beyond those running (default 64); a login
    /// finding the queue full is refused with 429 and `Retry-After: 1`.
    pub login_hash_queue: usize,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        TokenPolicy {
            issuer: "http://127.0.0.1:8730".into(),
            audience: "haechi".into(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            verify_window: Duration::from_secs(60 * 60),
            rotation_interval: Duration::from_secs(24 * 3600),
            algorithm: SigningAlgorithm::EdDsa,
            clock_skew: Duration::from_secs(30),
            login_failures_per_account: 5,
            login_attempts_per_source: 60,
            login_window: Duration::from_secs(15 * 60),
            login_hash_concurrency: 4,
            login_hash_queue: 64,
        }
    }
}

impl TokenPolicy {
    /// Refuses settings under which tokens could outlive the key that verifies them, or that
    /// make no sense.
    pub fn validate(&self) -> Result<(), Error> {
        if self.access_ttl.is_zero() {
            return Err(Error::Config("token.access_ttl must be positive".into()));
        }
        if self.access_ttl > self.verify_window {
            return Err(Error::Config(format!(
                "token.access_ttl ({}) exceeds keys.verify_window ({}): tokens signed just before a \
                 rotation would stop verifying before they expire; raise keys.verify_window or \
                 lower token.access_ttl",
                humanize(self.access_ttl),
                humanize(self.verify_window)
            )));
        }
        if self.rotation_interval < Duration::from_secs(60) {
            return Err(Error::Config(
                "keys.rotation_interval must be at least 1 minute".into(),
            ));
        }
        if self.refresh_ttl < self.access_ttl {
            return Err(Error::Config(
                "token.refresh_ttl must be at least token.access_ttl".into(),
            ));
        }
        if self.login_hash_concurrency == 0 {
            return Err(Error::Config(
                "login.hash_concurrency must be at least 1".into(),
            ));
        }
        if self.issuer.is_empty() || self.audience.is_empty() {
            return Err(Error::Config(
                "token.issuer and token.audience must be set".into(),
            ));
        }
        Ok(())
    }
}

fn humanize(duration: Duration) -> String {
    format!("{} s", duration.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_is_valid() {
        TokenPolicy::default().validate().unwrap();
    }

    #[test]
    fn token_lifetime_beyond_the_verification_window_is_refused() {
        let policy = TokenPolicy {
            access_ttl: Duration::from_secs(7200),
            ..TokenPolicy::default()
        };
        let message = policy.validate().unwrap_err().to_string();
        assert!(message.contains("access_ttl"), "{message}");
    }
}
