//! Where a policy replaced through the API is kept, so that a restart loads it: an emergency
//! deny must not be undone by the next deploy.

use async_trait::async_trait;
use haechi_events::StoreError;

/// A policy version as kept: its number and the SHA-256 of its text (both audited).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVersion {
    /// 1, 2, …: one more than the newest version kept.
    pub version: u64,
    /// Hex SHA-256 of the policy text.
    pub digest: String,
}

/// Durable keeping of the access policy. Implementations write atomically (a crash leaves the
/// old policy or the new one in force, never a mix) and keep the versions they replace.
#[async_trait]
pub trait PolicyStore: Send + Sync + std::fmt::Debug {
    /// Makes `text` the policy the next start loads, keeping the one it replaces; returns the
    /// number given to `text`.
    async fn save(&self, text: &str) -> Result<u64, StoreError>;
}

/// Hex SHA-256 of a policy text.
pub fn policy_digest(text: &str) -> String {
    use sha2::Digest as _;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}
