//! Shared decisions: what one node of a cluster decides that every node must enforce.
//!
//! A revocation, a logout, a key's new state, a block, a suspension or a new policy is
//! written to the store, and in the same transaction the store appends a [`Change`] to its
//! change log. Every node follows the log ([`ChangeFeed`]) and brings its in-memory state up
//! to date. Memory is only ever made *less* permissive by a change it has not seen yet being
//! applied late, and the node refuses to decide at all when it cannot confirm it has seen
//! every change up to a bounded age (see ARCHITECTURE.md, "What a node may cache").

use async_trait::async_trait;

use crate::StoreError;

/// One shared decision, as a change log entry names it. Entries carry identifiers, never
/// personal data: a follower reads the new state from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A session was revoked (logout, administrator, refresh reuse, erasure, key revocation).
    SessionRevoked {
        /// The session.
        sid: String,
    },
    /// One issued token was revoked (RFC 7009).
    TokenRevoked {
        /// SHA-256 of the token text (the ledger's key).
        token_hash: [u8; 32],
    },
    /// A signing key was added or changed state (rotation, retirement, revocation, import).
    KeysChanged,
    /// A block was added or lifted.
    BlocksChanged,
    /// A suspension was added or lifted.
    SuspensionsChanged,
    /// A new access policy version is in force.
    PolicyChanged,
    /// A customer's record was replaced or shredded: nodes forget their cached copy.
    RecordChanged {
        /// The customer.
        customer_id: String,
    },
    /// Data keys were re-wrapped under a new master key: nodes forget every cached record.
    RecordsRewrapped,
}

impl Change {
    /// The change log's `kind` column.
    pub fn kind(&self) -> &'static str {
        match self {
            Change::SessionRevoked { .. } => "session_revoked",
            Change::TokenRevoked { .. } => "token_revoked",
            Change::KeysChanged => "keys_changed",
            Change::BlocksChanged => "blocks_changed",
            Change::SuspensionsChanged => "suspensions_changed",
            Change::PolicyChanged => "policy_changed",
            Change::RecordChanged { .. } => "record_changed",
            Change::RecordsRewrapped => "records_rewrapped",
        }
    }

    /// The change log's `subject` column: the session id, the token hash in hex, the customer
    /// id, or empty.
    pub fn subject(&self) -> String {
        match self {
            Change::SessionRevoked { sid } => sid.clone(),
            Change::RecordChanged { customer_id } => customer_id.clone(),
            Change::TokenRevoked { token_hash } => token_hash
                .iter()
                .map(|byte| format!("{byte:02x}"))
                .collect(),
            _ => String::new(),
        }
    }

    /// Rebuilds a change from its `kind` and `subject` columns.
    pub fn from_columns(kind: &str, subject: &str) -> Result<Change, StoreError> {
        let corrupt = || StoreError::Corrupt(format!("change log entry {kind:?} is malformed"));
        Ok(match kind {
            "session_revoked" if !subject.is_empty() => Change::SessionRevoked {
                sid: subject.to_string(),
            },
            "token_revoked" => {
                if subject.len() != 64 || !subject.is_ascii() {
                    return Err(corrupt());
                }
                let mut token_hash = [0u8; 32];
                for (index, byte) in token_hash.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&subject[index * 2..index * 2 + 2], 16)
                        .map_err(|_| corrupt())?;
                }
                Change::TokenRevoked { token_hash }
            }
            "keys_changed" => Change::KeysChanged,
            "blocks_changed" => Change::BlocksChanged,
            "suspensions_changed" => Change::SuspensionsChanged,
            "policy_changed" => Change::PolicyChanged,
            "record_changed" if !subject.is_empty() => Change::RecordChanged {
                customer_id: subject.to_string(),
            },
            "records_rewrapped" => Change::RecordsRewrapped,
            _ => return Err(corrupt()),
        })
    }
}

/// A change log entry: its position (increasing in commit order) and the change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedChange {
    /// Position in the log; later commits have higher positions.
    pub position: i64,
    /// What changed.
    pub change: Change,
}

/// The change log of a shared store. Positions increase in *commit* order (a backend
/// serialises the appends), so a follower that read up to `p` never later finds an entry
/// below `p`.
#[async_trait]
pub trait ChangeFeed: Send + Sync + std::fmt::Debug {
    /// The position of the newest entry (0 when the log is empty): where a node that has just
    /// loaded its state from the store starts following.
    async fn change_head(&self) -> Result<i64, StoreError>;
    /// Entries after `position`, oldest first, at most `limit`.
    async fn changes_after(
        &self,
        position: i64,
        limit: u32,
    ) -> Result<Vec<LoggedChange>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_round_trip_through_their_columns() {
        let changes = [
            Change::SessionRevoked { sid: "s-1".into() },
            Change::TokenRevoked {
                token_hash: [0xab; 32],
            },
            Change::KeysChanged,
            Change::BlocksChanged,
            Change::SuspensionsChanged,
            Change::PolicyChanged,
            Change::RecordChanged {
                customer_id: "c-1".into(),
            },
            Change::RecordsRewrapped,
        ];
        for change in changes {
            let back = Change::from_columns(change.kind(), &change.subject()).unwrap();
            assert_eq!(back, change);
        }
    }

    #[test]
    fn malformed_entries_are_corrupt_not_panics() {
        for (kind, subject) in [
            ("token_revoked", "zz"),
            ("token_revoked", &"é".repeat(32)),
            ("session_revoked", ""),
            ("record_changed", ""),
            ("unknown", ""),
        ] {
            assert!(matches!(
                Change::from_columns(kind, subject),
                Err(StoreError::Corrupt(_))
            ));
        }
    }
}
