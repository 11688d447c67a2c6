//! The issuance ledger and session states, held in memory in front of the store.
//!
//! Invalidation rule (also in ARCHITECTURE.md): memory is written *after* the store and
//! *before* the caller gets an answer, in both directions — a token enters memory only once its
//! ledger row is durable, and a revocation is applied to memory before the revoking request
//! returns. A miss in memory falls back to the store, so memory can only ever be *less*
//! permissive than the store; it never accepts anything the store would refuse.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use haechi_events::{Principal, Timestamp};
use parking_lot::RwLock;

use crate::{LedgerEntry, SessionRecord};

/// An issued token as held in memory.
#[derive(Debug)]
pub(crate) struct LiveToken {
    pub jti: String,
    pub sid: String,
    pub kid: String,
    pub principal: Principal,
    pub scopes: Vec<String>,
    pub expires_at: Timestamp,
    revoked: AtomicBool,
    /// Whether this process has seen the signature verify (it signed the token itself, or
    /// checked it once). Kept in memory only: a row inserted into the database by someone
    /// with write access but without the key still faces a signature check.
    signature_checked: AtomicBool,
}

impl LiveToken {
    pub fn from_entry(entry: &LedgerEntry, signature_checked: bool) -> Self {
        LiveToken {
            jti: entry.jti.clone(),
            sid: entry.sid.clone(),
            kid: entry.kid.clone(),
            principal: entry.principal.clone(),
            scopes: entry.scope.split_whitespace().map(str::to_string).collect(),
            expires_at: entry.expires_at,
            revoked: AtomicBool::new(entry.revoked_at.is_some()),
            signature_checked: AtomicBool::new(signature_checked),
        }
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked.load(Ordering::Acquire)
    }

    pub fn signature_checked(&self) -> bool {
        self.signature_checked.load(Ordering::Acquire)
    }

    pub fn mark_signature_checked(&self) {
        self.signature_checked.store(true, Ordering::Release);
    }
}

/// A session as held in memory.
#[derive(Debug, Clone)]
pub(crate) struct LiveSession {
    pub principal: Principal,
    pub expires_at: Timestamp,
    pub revoked: bool,
}

impl LiveSession {
    pub fn from_record(record: &SessionRecord) -> Self {
        LiveSession {
            principal: record.principal.clone(),
            expires_at: record.expires_at,
            revoked: record.revoked_at.is_some(),
        }
    }

    pub fn is_live(&self, now: Timestamp) -> bool {
        !self.revoked && now < self.expires_at
    }
}

/// Tokens by SHA-256 of the whole token, and sessions by id.
#[derive(Debug, Default)]
pub(crate) struct LiveLedger {
    tokens: RwLock<HashMap<[u8; 32], Arc<LiveToken>>>,
    sessions: RwLock<HashMap<String, LiveSession>>,
    /// Keyed 64-bit fingerprints of the `jti`s of the tokens in memory, so detection can ask
    /// "was this jti issued?" without an index of whole strings (8 bytes a token). The key is
    /// random per process, so nobody can aim a collision; a chance one (n / 2^64) would only
    /// make a never-issued jti look issued to a rule.
    jtis: RwLock<HashSet<u64>>,
    jti_hasher: RandomState,
    /// Counts revocations applied to memory. A row read from the store is cached only if no
    /// revocation was applied while it was read: otherwise a revocation committed (and
    /// applied, finding nothing to mark) between the read and the insert would be lost, and
    /// the stale row would keep the revoked token alive on this node.
    revocations: AtomicU64,
}

/// The ledger's revocation count when a read of the store began ([`LiveLedger::read_mark`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReadMark(u64);

impl LiveLedger {
    pub fn token(&self, hash: &[u8; 32]) -> Option<Arc<LiveToken>> {
        self.tokens.read().get(hash).cloned()
    }

    pub fn insert_token(&self, hash: [u8; 32], token: LiveToken) -> Arc<LiveToken> {
        let fingerprint = self.jti_hasher.hash_one(token.jti.as_str());
        let token = Arc::new(token);
        self.tokens.write().insert(hash, Arc::clone(&token));
        // After the token: a prune rebuilding the fingerprints from the tokens meanwhile
        // includes it either way.
        self.jtis.write().insert(fingerprint);
        token
    }

    /// Taken before reading a row from the store that may be cached
    /// ([`LiveLedger::insert_read_token`]).
    pub fn read_mark(&self) -> ReadMark {
        ReadMark(self.revocations.load(Ordering::Acquire))
    }

    /// Caches a token row read from the store after `mark`, unless a revocation was applied
    /// to memory since (then the row is used for this request only; the next one reads again).
    pub fn insert_read_token(
        &self,
        hash: [u8; 32],
        token: LiveToken,
        mark: ReadMark,
    ) -> Arc<LiveToken> {
        let fingerprint = self.jti_hasher.hash_one(token.jti.as_str());
        let token = Arc::new(token);
        {
            let mut tokens = self.tokens.write();
            // Checked under the write lock that revocations also take: none can slip between
            // the check and the insert.
            if self.revocations.load(Ordering::Acquire) != mark.0 {
                return token;
            }
            tokens.insert(hash, Arc::clone(&token));
        }
        self.jtis.write().insert(fingerprint);
        token
    }

    /// Forgets every cached token and session (a cluster node that missed part of the change
    /// log): later verifications read them from the store again.
    pub fn forget_cached(&self) {
        let mut tokens = self.tokens.write();
        self.revocations.fetch_add(1, Ordering::AcqRel);
        tokens.clear();
        self.sessions.write().clear();
        self.jtis.write().clear();
    }

    /// Caches a session row read from the store after `mark`, unless a revocation was
    /// applied to memory since.
    pub fn insert_read_session(&self, sid: String, session: LiveSession, mark: ReadMark) {
        let _tokens = self.tokens.write();
        if self.revocations.load(Ordering::Acquire) != mark.0 {
            return;
        }
        self.sessions.write().insert(sid, session);
    }

    pub fn revoke_token(&self, hash: &[u8; 32]) {
        let tokens = self.tokens.write();
        self.revocations.fetch_add(1, Ordering::AcqRel);
        if let Some(token) = tokens.get(hash) {
            token.revoked.store(true, Ordering::Release);
        }
    }

    pub fn session(&self, sid: &str) -> Option<LiveSession> {
        self.sessions.read().get(sid).cloned()
    }

    pub fn insert_session(&self, sid: String, session: LiveSession) {
        self.sessions.write().insert(sid, session);
    }

    /// Whether session `sid` is in memory and revoked (an unknown session is not).
    pub fn is_session_revoked(&self, sid: &str) -> bool {
        self.sessions
            .read()
            .get(sid)
            .is_some_and(|session| session.revoked)
    }

    pub fn revoke_session(&self, sid: &str) {
        // Under the tokens' write lock too, so a token row read before this revocation is not
        // cached after it (see `revocations`).
        let _tokens = self.tokens.write();
        self.revocations.fetch_add(1, Ordering::AcqRel);
        if let Some(session) = self.sessions.write().get_mut(sid) {
            session.revoked = true;
        }
    }

    /// Drops expired tokens and sessions from memory (the store keeps them for the record
    /// until its own pruning).
    pub fn prune(&self, now: Timestamp) -> usize {
        let mut tokens = self.tokens.write();
        let before = tokens.len();
        tokens.retain(|_, token| token.expires_at > now);
        let removed = before - tokens.len();
        if removed > 0 {
            let jtis: HashSet<u64> = tokens
                .values()
                .map(|token| self.jti_hasher.hash_one(token.jti.as_str()))
                .collect();
            *self.jtis.write() = jtis;
        }
        drop(tokens);
        self.sessions
            .write()
            .retain(|_, session| session.expires_at > now);
        removed
    }

    /// Whether a token with this `jti` is in memory (issued and not yet expired).
    pub fn holds_jti(&self, jti: &str) -> bool {
        self.jtis.read().contains(&self.jti_hasher.hash_one(jti))
    }

    pub fn token_count(&self) -> usize {
        self.tokens.read().len()
    }
}
