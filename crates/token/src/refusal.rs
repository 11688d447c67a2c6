//! A refusal of a presented token as the verifier sees it: the public reason and what the
//! issuance ledger knew, which the record of the refusal carries.

use crate::Rejection;

/// What the issuance ledger said about a token that a dead (revoked or retired) key really
/// signed. Recorded as `detail.ledger` so that the revoked-key rule contains only sources of
/// tokens the ledger never issued — a client still holding a genuine token is refused, not
/// blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LedgerKnowledge {
    /// The ledger holds this exact token: Haechi issued it before the key died.
    Issued,
    /// The ledger holds no such token (and no token with its claims).
    NotIssued,
    /// The ledger could not be asked.
    Unknown,
}

impl LedgerKnowledge {
    /// The `detail.ledger` value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            LedgerKnowledge::Issued => "issued",
            LedgerKnowledge::NotIssued => "not_issued",
            LedgerKnowledge::Unknown => "unknown",
        }
    }
}

/// Why verification refused a token, with what the record of it should add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    /// The reason (the event's `reason`; the caller only ever hears `invalid_token`).
    pub rejection: Rejection,
    /// For dead-key refusals: what the ledger knew.
    pub ledger: Option<LedgerKnowledge>,
}

impl Refusal {
    /// A dead-key refusal with what the ledger knew.
    pub(crate) fn ledger(rejection: Rejection, knowledge: LedgerKnowledge) -> Self {
        Refusal {
            rejection,
            ledger: Some(knowledge),
        }
    }
}

impl From<Rejection> for Refusal {
    fn from(rejection: Rejection) -> Self {
        Refusal {
            rejection,
            ledger: None,
        }
    }
}
