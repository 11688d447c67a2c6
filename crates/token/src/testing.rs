//! What the unit tests of the authority's parts share: an in-memory [`AuthorityStore`] that
//! keeps the SQLite store's semantics (conflicts, single spending of a refresh token, an
//! existing secret winning), and a fixture opening a whole authority over it on a simulated
//! clock, with its events kept in memory.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use haechi_custody::{KeyRecord, MasterKey, MasterKeyRing, OsRandom};
use haechi_events::{
    EventKind, MemorySink, Principal, RequestContext, SimulatedClock, StoreError, Timestamp,
};
use zeroize::Zeroizing;

use crate::{
    AccountRecord, AdminGrant, AuthorityParts, AuthorityStore, ClientCredential, ClientKind,
    ClientRecord, LedgerEntry, NewAccount, OperatorAccess, PasswordParams, RefreshRecord,
    SessionRecord, StoredKey, TokenAuthority, TokenPair, TokenPolicy,
};

#[derive(Debug, Default)]
struct Tables {
    keys: BTreeMap<String, StoredKey>,
    secrets: BTreeMap<String, Vec<u8>>,
    sessions: BTreeMap<String, SessionRecord>,
    issued: BTreeMap<[u8; 32], LedgerEntry>,
    refresh: BTreeMap<[u8; 32], RefreshRecord>,
    accounts: BTreeMap<String, AccountRecord>,
    clients: BTreeMap<String, ClientRecord>,
}

/// The authority's tables in memory.
#[derive(Debug, Default)]
pub(crate) struct MemoryStore {
    tables: Mutex<Tables>,
}

impl MemoryStore {
    fn tables(&self) -> MutexGuard<'_, Tables> {
        self.tables.lock().unwrap()
    }
}

#[async_trait]
impl AuthorityStore for MemoryStore {
    async fn keys(&self) -> Result<Vec<StoredKey>, StoreError> {
        Ok(self.tables().keys.values().cloned().collect())
    }
    async fn insert_key(&self, key: &StoredKey) -> Result<(), StoreError> {
        let mut tables = self.tables();
        if tables.keys.contains_key(&key.record.kid) {
            return Err(StoreError::Conflict(key.record.kid.clone()));
        }
        tables.keys.insert(key.record.kid.clone(), key.clone());
        Ok(())
    }
    async fn update_keys(&self, records: &[KeyRecord]) -> Result<(), StoreError> {
        let mut tables = self.tables();
        for record in records {
            if let Some(stored) = tables.keys.get_mut(&record.kid) {
                stored.record = record.clone();
            }
        }
        Ok(())
    }
    async fn secret(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.tables().secrets.get(name).cloned())
    }
    async fn secrets(&self) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(self.tables().secrets.clone().into_iter().collect())
    }
    async fn rewrap_authority_secrets(
        &self,
        secrets: &[(String, Vec<u8>)],
        keys: &[(String, Vec<u8>)],
    ) -> Result<(), StoreError> {
        let mut tables = self.tables();
        for (name, wrapped) in secrets {
            tables.secrets.insert(name.clone(), wrapped.clone());
        }
        for (kid, wrapped) in keys {
            if let Some(stored) = tables.keys.get_mut(kid) {
                stored.wrapped_private_key = wrapped.clone();
            }
        }
        Ok(())
    }
    async fn insert_secret_if_absent(
        &self,
        name: &str,
        wrapped: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        let mut tables = self.tables();
        Ok(tables
            .secrets
            .entry(name.to_string())
            .or_insert_with(|| wrapped.to_vec())
            .clone())
    }
    async fn insert_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        self.tables()
            .sessions
            .insert(session.sid.clone(), session.clone());
        Ok(())
    }
    async fn session(&self, sid: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.tables().sessions.get(sid).cloned())
    }
    async fn revoke_session(
        &self,
        sid: &str,
        at: Timestamp,
        reason: &str,
    ) -> Result<(), StoreError> {
        if let Some(session) = self.tables().sessions.get_mut(sid)
            && session.revoked_at.is_none()
        {
            session.revoked_at = Some(at);
            session.revoke_reason = Some(reason.to_string());
        }
        Ok(())
    }
    async fn live_sessions(&self, now: Timestamp) -> Result<Vec<SessionRecord>, StoreError> {
        Ok(self
            .tables()
            .sessions
            .values()
            .filter(|session| session.expires_at > now && session.revoked_at.is_none())
            .cloned()
            .collect())
    }
    async fn record_issued(&self, entry: &LedgerEntry) -> Result<(), StoreError> {
        self.tables().issued.insert(entry.token_hash, entry.clone());
        Ok(())
    }
    async fn issued(&self, token_hash: &[u8; 32]) -> Result<Option<LedgerEntry>, StoreError> {
        Ok(self.tables().issued.get(token_hash).cloned())
    }
    async fn issued_by_jti(&self, jti: &str) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self
            .tables()
            .issued
            .values()
            .filter(|entry| entry.jti == jti)
            .cloned()
            .collect())
    }
    async fn revoke_issued(&self, token_hash: &[u8; 32], at: Timestamp) -> Result<(), StoreError> {
        if let Some(entry) = self.tables().issued.get_mut(token_hash) {
            entry.revoked_at.get_or_insert(at);
        }
        Ok(())
    }
    async fn unexpired_issued(&self, now: Timestamp) -> Result<Vec<LedgerEntry>, StoreError> {
        Ok(self
            .tables()
            .issued
            .values()
            .filter(|entry| entry.expires_at > now)
            .cloned()
            .collect())
    }
    async fn sessions_signed_by(
        &self,
        kid: &str,
        now: Timestamp,
    ) -> Result<Vec<String>, StoreError> {
        let mut sids: Vec<String> = self
            .tables()
            .issued
            .values()
            .filter(|entry| entry.kid == kid && entry.expires_at > now)
            .map(|entry| entry.sid.clone())
            .collect();
        sids.sort();
        sids.dedup();
        Ok(sids)
    }
    async fn prune_expired(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut tables = self.tables();
        let count = tables.issued.len() + tables.refresh.len();
        tables.issued.retain(|_, entry| entry.expires_at >= before);
        tables
            .refresh
            .retain(|_, refresh| refresh.expires_at >= before);
        Ok((count - tables.issued.len() - tables.refresh.len()) as u64)
    }
    async fn insert_refresh(&self, refresh: &RefreshRecord) -> Result<(), StoreError> {
        self.tables()
            .refresh
            .insert(refresh.token_hash, refresh.clone());
        Ok(())
    }
    async fn refresh(&self, token_hash: &[u8; 32]) -> Result<Option<RefreshRecord>, StoreError> {
        Ok(self.tables().refresh.get(token_hash).cloned())
    }
    async fn spend_refresh(
        &self,
        token_hash: &[u8; 32],
        at: Timestamp,
    ) -> Result<bool, StoreError> {
        Ok(match self.tables().refresh.get_mut(token_hash) {
            Some(refresh) if refresh.spent_at.is_none() => {
                refresh.spent_at = Some(at);
                true
            }
            _ => false,
        })
    }
    async fn insert_account(&self, account: &AccountRecord) -> Result<(), StoreError> {
        let mut tables = self.tables();
        let taken = tables.accounts.contains_key(&account.customer_id)
            || tables.accounts.values().any(|existing| {
                existing
                    .login_hashes
                    .iter()
                    .any(|hash| account.login_hashes.contains(hash))
            });
        if taken {
            return Err(StoreError::Conflict(account.customer_id.clone()));
        }
        tables
            .accounts
            .insert(account.customer_id.clone(), account.clone());
        Ok(())
    }
    async fn account_by_login(
        &self,
        login_hash: &[u8; 32],
    ) -> Result<Option<AccountRecord>, StoreError> {
        Ok(self
            .tables()
            .accounts
            .values()
            .find(|account| account.login_hashes.contains(login_hash))
            .cloned())
    }
    async fn delete_account(&self, customer_id: &str) -> Result<bool, StoreError> {
        Ok(self.tables().accounts.remove(customer_id).is_some())
    }
    async fn insert_client(&self, client: &ClientRecord) -> Result<(), StoreError> {
        let mut tables = self.tables();
        if tables.clients.contains_key(&client.client_id) {
            return Err(StoreError::Conflict(client.client_id.clone()));
        }
        tables
            .clients
            .insert(client.client_id.clone(), client.clone());
        Ok(())
    }
    async fn client(&self, client_id: &str) -> Result<Option<ClientRecord>, StoreError> {
        Ok(self.tables().clients.get(client_id).cloned())
    }
    async fn clients(&self) -> Result<Vec<ClientRecord>, StoreError> {
        Ok(self.tables().clients.values().cloned().collect())
    }
}

/// A whole authority over a [`MemoryStore`], opened for the local operator, on a simulated
/// clock; its events are kept in memory.
pub(crate) struct Fixture {
    pub authority: TokenAuthority,
    pub store: Arc<MemoryStore>,
    pub clock: Arc<SimulatedClock>,
    pub events: Arc<MemorySink>,
    pub context: RequestContext,
}

impl Fixture {
    pub async fn open() -> Fixture {
        let store = Arc::new(MemoryStore::default());
        let clock = Arc::new(SimulatedClock::new(Timestamp::from_secs(1_750_000_000)));
        let events = Arc::new(MemorySink::default());
        let authority = TokenAuthority::open(AuthorityParts {
            store: Arc::clone(&store) as Arc<dyn AuthorityStore>,
            custody: haechi_custody::SigningCustody::MasterKey,
            master_key: Arc::new(
                MasterKeyRing::new(MasterKey::from_bytes([7; 32]), Vec::new()).unwrap(),
            ),
            clock: Arc::clone(&clock) as _,
            events: Arc::clone(&events) as _,
            random: Arc::new(OsRandom),
            policy: TokenPolicy::default(),
            password_params: PasswordParams {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
            operator_access: OperatorAccess::LocalOperator,
            sign_in_limits: Arc::new(crate::MemorySignInLimits::default()),
        })
        .await
        .unwrap();
        Fixture {
            authority,
            store,
            clock,
            events,
            context: RequestContext::local(),
        }
    }

    /// The local operator's grant.
    pub fn grant(&self) -> AdminGrant {
        self.authority.operator_grant().unwrap()
    }

    /// Creates a client and signs it in with every scope it holds.
    pub async fn client(&self, kind: ClientKind, name: &str) -> (ClientCredential, TokenPair) {
        let credential = self
            .authority
            .clients()
            .create(kind, name, &[name.to_string()], &self.grant())
            .await
            .unwrap();
        let pair = self
            .authority
            .clients()
            .client_credentials(
                &credential.client_id,
                &credential.client_secret,
                None,
                &self.context,
            )
            .await
            .unwrap();
        (credential, pair)
    }

    /// Creates a customer who logs in with `email` and `password`; returns the customer id.
    pub async fn customer(&self, email: &str, password: &str) -> String {
        self.authority
            .accounts()
            .create(
                NewAccount {
                    email: Some(email.into()),
                    password: Some(Zeroizing::new(password.into())),
                    ..NewAccount::default()
                },
                &Principal::Admin("test".into()),
                &self.context,
            )
            .await
            .unwrap()
    }

    /// The kinds of the events recorded so far, in order.
    pub fn kinds(&self) -> Vec<EventKind> {
        self.events
            .events()
            .iter()
            .map(|event| event.kind)
            .collect()
    }
}
