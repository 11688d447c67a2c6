//! Key lifecycle and custody: the signing keys (pending → active → retiring → retired, or
//! revoked), generated or imported into custody (wrapped under the master key, or inside an
//! HSM), rotated on schedule or by an administrator; the named secrets wrapped under the
//! master key; and re-wrapping both when the master key is replaced.

use std::sync::Arc;

use haechi_custody::{
    KeyInCustody, KeyOrigin, KeyRecord, KeyState, PublicKey, SecretContext, SigningCustody,
    SigningKeyMaterial, WrappedSecret,
};
use haechi_events::{EventKind, Principal, RequestContext, SecurityEvent, Timestamp};
use parking_lot::RwLock;
use zeroize::Zeroizing;

use super::environment::Environment;
use crate::keyring::{KeyEntry, KeyRing};
use crate::{AdminGrant, Error, StoredKey};

/// Most sessions listed in one `key.revoked` event (the count is always exact).
const MAX_SESSIONS_IN_EVENT: usize = 1000;

/// The outcome of revoking a signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedKey {
    /// The key.
    pub kid: String,
    /// Sessions that held unexpired tokens it signed (those tokens stopped working).
    pub sessions: Vec<String>,
    /// The key now active, if the revoked key was the active one.
    pub replaced_by: Option<String>,
}

/// The signing keys in custody and every change to them. Changes are serialised (one at a
/// time) and each is written to the store before the key ring in memory, which verification
/// and issuance read. Private halves are unwrapped only for pending and active keys.
#[derive(Debug)]
pub struct KeyLifecycle {
    environment: Arc<Environment>,
    ring: Arc<RwLock<KeyRing>>,
    changes: tokio::sync::Mutex<()>,
}

impl KeyLifecycle {
    /// Loads every key in custody, unwrapping the private halves of those that may sign.
    pub(crate) async fn load(environment: Arc<Environment>) -> Result<Self, Error> {
        let mut ring = KeyRing::default();
        for stored in environment.store.keys().await? {
            ring.insert(load_key(&environment, stored)?);
        }
        Ok(KeyLifecycle {
            environment,
            ring: Arc::new(RwLock::new(ring)),
            changes: tokio::sync::Mutex::new(()),
        })
    }

    /// Reloads every key from the store, for a cluster node that learned another node
    /// changed one (rotation, revocation, import). The store is the truth; the new ring
    /// replaces the old at once, so a key revoked elsewhere stops verifying here.
    pub async fn reload(&self) -> Result<(), Error> {
        let _serialised = self.changes.lock().await;
        let mut ring = KeyRing::default();
        for stored in self.environment.store.keys().await? {
            ring.insert(load_key(&self.environment, stored)?);
        }
        *self.ring.write() = ring;
        Ok(())
    }

    /// The HSM keeping the signing keys, if they are kept in one (readiness: without it no
    /// token is issued).
    pub fn custody_token(&self) -> Option<&Arc<dyn haechi_custody::Hsm>> {
        self.environment.custody.token()
    }

    /// The HSM keeping the master key, if it is kept in one (readiness: without it nothing is
    /// unwrapped).
    pub fn master_key_token(&self) -> Option<&Arc<dyn haechi_custody::Hsm>> {
        self.environment.master_key.current().hsm()
    }

    /// The key ring, for the parts that verify and sign.
    pub(crate) fn ring(&self) -> &Arc<RwLock<KeyRing>> {
        &self.ring
    }

    /// The JWKS: public keys of pending, active and retiring keys (RFC 7517).
    pub fn jwks(&self) -> serde_json::Value {
        let now = self.environment.clock.now();
        let keys = self.ring.read();
        let published: Vec<serde_json::Value> = keys
            .published(now)
            .into_iter()
            .map(|entry| entry.public.jwk(&entry.record.kid))
            .collect();
        serde_json::json!({ "keys": published })
    }

    /// Every key's lifecycle record (never private material).
    pub fn records(&self) -> Vec<KeyRecord> {
        self.ring.read().records()
    }

    /// The lifecycle state of key `kid`, if it was ever in custody. Memory only.
    pub fn state(&self, kid: &str) -> Option<KeyState> {
        self.ring.read().get(kid).map(|entry| entry.record.state)
    }

    /// Scheduled upkeep of the keys at `now`: retires keys whose window closed, makes sure an
    /// active and a pending key exist, and rotates when the interval has passed.
    pub(crate) async fn maintain(&self, now: Timestamp) -> Result<(), Error> {
        let _serialised = self.changes.lock().await;
        let actor = Principal::Admin("haechi-scheduler".into());
        let context = RequestContext::local();
        let retiring = self.ring.read().in_state(KeyState::Retiring);
        for mut record in retiring {
            if !record.may_verify(now) {
                record.retire(now)?;
                self.save_record(&record).await?;
                self.emit_key_event(
                    EventKind::KeyRetired,
                    &record.kid,
                    &actor,
                    &context,
                    "window_closed",
                )
                .await?;
            }
        }
        self.promote_if_none_active(&actor, &context, "no_active_key")
            .await?;
        self.ensure_pending(&actor, &context).await?;
        let due = self
            .ring
            .read()
            .in_state(KeyState::Active)
            .first()
            .and_then(|record| record.activated_at)
            .is_some_and(|since| now.since(since) >= self.environment.policy.rotation_interval);
        if due {
            self.rotate_locked(&actor, &context, "scheduled").await?;
        }
        Ok(())
    }

    /// Rotates now: the pending key (published since the last rotation) starts signing, the
    /// active key starts retiring, and a new pending key is generated. Returns the new active
    /// key's record.
    pub async fn rotate(&self, grant: &AdminGrant) -> Result<KeyRecord, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let _serialised = self.changes.lock().await;
        self.rotate_locked(actor, context, "manual").await
    }

    /// The sessions holding unexpired tokens `kid` signed: what revoking it would end.
    pub async fn sessions_signed_by(&self, kid: &str) -> Result<Vec<String>, Error> {
        let environment = &*self.environment;
        let now = environment.clock.now();
        Ok(environment.store.sessions_signed_by(kid, now).await?)
    }

    /// Revokes a key as compromised: every token it signed stops verifying at once (the key
    /// check precedes everything else), the sessions that held its tokens are listed in the
    /// `key.revoked` event, and if it was the active key the pending key takes over.
    pub async fn revoke(&self, kid: &str, grant: &AdminGrant) -> Result<RevokedKey, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let _serialised = self.changes.lock().await;
        let environment = &*self.environment;
        let now = environment.clock.now();
        let mut record = self
            .ring
            .read()
            .get(kid)
            .map(|entry| entry.record.clone())
            .ok_or_else(|| Error::NotFound(format!("key {kid}")))?;
        record.revoke(now)?;
        // If it was the key signing (or no key signs: a revoker that crashed before revocation
        // and promotion were one write), the pending key takes over in the same write.
        let none_would_sign = self
            .ring
            .read()
            .in_state(KeyState::Active)
            .iter()
            .all(|active| active.kid == kid);
        let successor = if none_would_sign {
            self.ring
                .read()
                .in_state(KeyState::Pending)
                .into_iter()
                .next()
        } else {
            None
        };
        let mut changed = vec![record];
        if let Some(mut successor) = successor {
            successor.activate(now)?;
            changed.push(successor);
        }
        self.save_records(&changed).await?;
        let sessions = environment.store.sessions_signed_by(kid, now).await?;
        let listed: Vec<&str> = sessions
            .iter()
            .take(MAX_SESSIONS_IN_EVENT)
            .map(String::as_str)
            .collect();
        environment
            .emit(
                SecurityEvent::new(now, EventKind::KeyRevoked, actor.clone())
                    .context(context)
                    .kid(kid)
                    .reason("compromise")
                    .detail("session_count", sessions.len().to_string())
                    .detail("sessions", listed.join(",")),
            )
            .await?;
        let replaced_by = match changed.get(1) {
            Some(successor) => {
                self.emit_key_event(
                    EventKind::KeyActivated,
                    &successor.kid,
                    actor,
                    context,
                    "revocation",
                )
                .await?;
                Some(successor.kid.clone())
            }
            // No pending key was there to take over: a new one signs (unpublished until now,
            // so relying parties fetch the key set again on its first token).
            None => self
                .promote_if_none_active(actor, context, "revocation")
                .await?
                .map(|active| active.kid),
        };
        self.ensure_pending(actor, context).await?;
        Ok(RevokedKey {
            kid: kid.to_string(),
            sessions,
            replaced_by,
        })
    }

    /// Makes sure a key signs: if none is active (a revocation or rotation interrupted between
    /// its two writes, on any node of a cluster), the pending key is promoted and a new pending
    /// key made. Returns the key promoted, if one was. Scheduled upkeep does the same every
    /// minute; a responder that finds its key already revoked calls this at once.
    pub async fn ensure_active(&self, grant: &AdminGrant) -> Result<Option<KeyRecord>, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let _serialised = self.changes.lock().await;
        let promoted = self
            .promote_if_none_active(actor, context, "no_active_key")
            .await?;
        self.ensure_pending(actor, context).await?;
        Ok(promoted)
    }

    /// Imports the signing key of an existing identity provider (PEM or private JWK) so that
    /// relying services keep working during a migration. The key becomes the active signer
    /// unless `activate` is false (then it waits as the pending key). The import is recorded
    /// as a `key.imported` event. Copies of an imported key may exist elsewhere — which is why
    /// tokens only verify through the issuance ledger.
    pub async fn import(
        &self,
        key_text: &str,
        activate: bool,
        grant: &AdminGrant,
    ) -> Result<KeyRecord, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let _serialised = self.changes.lock().await;
        let material = SigningKeyMaterial::import(key_text)?;
        let kid = material.public_key().thumbprint();
        if self.ring.read().get(&kid).is_some() {
            return Err(Error::Conflict(format!("key {kid} is already in custody")));
        }
        // Into custody first (in a token, the key is there from now on, not extractable), so
        // a token that is down refuses the import before anything changed.
        let environment = &*self.environment;
        let in_custody =
            environment
                .custody
                .take(material, &environment.master_key, &*environment.random)?;
        // Any pending key is retired unused first, so the imported key is the next to sign.
        let pending = self.ring.read().in_state(KeyState::Pending);
        for mut pending in pending {
            pending.retire(self.environment.clock.now())?;
            self.save_record(&pending).await?;
        }
        let record = self
            .take_into_custody(in_custody, KeyOrigin::Imported)
            .await?;
        self.emit_key_event(
            EventKind::KeyImported,
            &record.kid,
            actor,
            context,
            "import",
        )
        .await?;
        if activate {
            return self.rotate_locked(actor, context, "import").await;
        }
        Ok(record)
    }

    /// A named 256-bit secret (an index key, …), created and wrapped under the master key on
    /// first use.
    pub async fn named_secret(&self, name: &str) -> Result<Zeroizing<[u8; 32]>, Error> {
        self.environment.named_secret(name).await
    }

    /// Re-wraps every signing key and named secret that is not under the current master key.
    /// Idempotent, so an interrupted rotation is finished by running it again. Returns how
    /// many were re-wrapped.
    pub async fn rewrap_to_current(&self) -> Result<usize, Error> {
        let environment = &*self.environment;
        let (master_key, random) = (&environment.master_key, &*environment.random);
        let mut secrets = Vec::new();
        for (name, bytes) in environment.store.secrets().await? {
            let wrapped = WrappedSecret::from_bytes(&bytes)?;
            let context = SecretContext::named(&name);
            if let Some(moved) = master_key.rewrap_to_current(&context, &wrapped, random)? {
                secrets.push((name, moved.to_bytes()));
            }
        }
        let mut keys = Vec::new();
        for stored in environment.store.keys().await? {
            if SigningCustody::is_in_token(&stored.wrapped_private_key) {
                continue;
            }
            let wrapped = WrappedSecret::from_bytes(&stored.wrapped_private_key)?;
            let context = SecretContext::signing_key(&stored.record.kid);
            if let Some(moved) = master_key.rewrap_to_current(&context, &wrapped, random)? {
                keys.push((stored.record.kid.clone(), moved.to_bytes()));
            }
        }
        environment
            .store
            .rewrap_authority_secrets(&secrets, &keys)
            .await?;
        Ok(secrets.len() + keys.len())
    }

    /// Records that the master key was replaced.
    pub async fn record_master_rotation(
        &self,
        rewrapped: u64,
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<(), Error> {
        let environment = &*self.environment;
        environment
            .emit(
                environment
                    .event(EventKind::MasterKeyRotated, actor)
                    .context(context)
                    .detail("previous", environment.master_key.previous_ids().join(","))
                    .detail("current", environment.master_key.id())
                    .detail("rewrapped", rewrapped.to_string()),
            )
            .await
    }

    async fn rotate_locked(
        &self,
        actor: &Principal,
        context: &RequestContext,
        reason: &str,
    ) -> Result<KeyRecord, Error> {
        self.ensure_pending(actor, context).await?;
        // The retirement of the active key and the promotion of the pending one are one write:
        // a crash can leave neither two signing keys nor none.
        let now = self.environment.clock.now();
        let mut retiring = self.ring.read().in_state(KeyState::Active);
        for record in &mut retiring {
            record.start_retiring(now, self.environment.policy.verify_window)?;
        }
        let pending = self
            .ring
            .read()
            .in_state(KeyState::Pending)
            .into_iter()
            .next();
        let mut next = match pending {
            Some(record) => record,
            None => self.generate(actor, context).await?,
        };
        next.activate(now)?;
        let mut changed = retiring;
        changed.push(next.clone());
        self.save_records(&changed).await?;
        for record in &changed[..changed.len() - 1] {
            self.emit_key_event(EventKind::KeyRetiring, &record.kid, actor, context, reason)
                .await?;
        }
        self.emit_key_event(EventKind::KeyActivated, &next.kid, actor, context, reason)
            .await?;
        self.ensure_pending(actor, context).await?;
        Ok(next)
    }

    async fn promote_if_none_active(
        &self,
        actor: &Principal,
        context: &RequestContext,
        reason: &str,
    ) -> Result<Option<KeyRecord>, Error> {
        if self.ring.read().in_state(KeyState::Active).is_empty() {
            Ok(Some(self.promote_pending(actor, context, reason).await?))
        } else {
            Ok(None)
        }
    }

    async fn promote_pending(
        &self,
        actor: &Principal,
        context: &RequestContext,
        reason: &str,
    ) -> Result<KeyRecord, Error> {
        let pending = self
            .ring
            .read()
            .in_state(KeyState::Pending)
            .into_iter()
            .next();
        let mut record = match pending {
            Some(record) => record,
            None => self.generate(actor, context).await?,
        };
        record.activate(self.environment.clock.now())?;
        self.save_record(&record).await?;
        self.emit_key_event(EventKind::KeyActivated, &record.kid, actor, context, reason)
            .await?;
        Ok(record)
    }

    async fn ensure_pending(
        &self,
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<(), Error> {
        if self.ring.read().in_state(KeyState::Pending).is_empty() {
            self.generate(actor, context).await?;
        }
        Ok(())
    }

    async fn generate(
        &self,
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<KeyRecord, Error> {
        let environment = &*self.environment;
        let in_custody = environment.custody.generate(
            environment.policy.algorithm,
            &environment.master_key,
            &*environment.random,
        )?;
        let record = self
            .take_into_custody(in_custody, KeyOrigin::Generated)
            .await?;
        self.emit_key_event(
            EventKind::KeyGenerated,
            &record.kid,
            actor,
            context,
            "generated",
        )
        .await?;
        Ok(record)
    }

    /// Records a key newly in custody as pending: the store first, then the ring.
    async fn take_into_custody(
        &self,
        key: KeyInCustody,
        origin: KeyOrigin,
    ) -> Result<KeyRecord, Error> {
        let environment = &*self.environment;
        let KeyInCustody {
            kid,
            public,
            signer,
            stored,
        } = key;
        if self.ring.read().get(&kid).is_some() {
            return Err(Error::Conflict(format!("key {kid} is already in custody")));
        }
        let record = KeyRecord::pending(
            kid,
            signer.algorithm(),
            origin,
            public.members().clone(),
            environment.clock.now(),
        );
        environment
            .store
            .insert_key(&StoredKey {
                record: record.clone(),
                wrapped_private_key: stored,
            })
            .await?;
        self.ring.write().insert(KeyEntry {
            record: record.clone(),
            public,
            private: Some(Arc::new(signer)),
        });
        Ok(record)
    }

    async fn save_record(&self, record: &KeyRecord) -> Result<(), Error> {
        self.save_records(std::slice::from_ref(record)).await
    }

    /// Saves records changed together in one store write, then memory (the cache rule).
    async fn save_records(&self, records: &[KeyRecord]) -> Result<(), Error> {
        self.environment.store.update_keys(records).await?;
        let mut ring = self.ring.write();
        for record in records {
            ring.update(record.clone());
        }
        Ok(())
    }

    async fn emit_key_event(
        &self,
        kind: EventKind,
        kid: &str,
        actor: &Principal,
        context: &RequestContext,
        reason: &str,
    ) -> Result<(), Error> {
        self.environment
            .emit(
                self.environment
                    .event(kind, actor)
                    .context(context)
                    .kid(kid)
                    .reason(reason),
            )
            .await
    }
}

fn load_key(environment: &Environment, stored: StoredKey) -> Result<KeyEntry, Error> {
    let public = PublicKey::from_jwk(stored.record.algorithm, &stored.record.public_jwk)?;
    let private = match stored.record.state {
        KeyState::Pending | KeyState::Active => Some(Arc::new(environment.custody.open(
            &stored.record.kid,
            &public,
            &stored.wrapped_private_key,
            &environment.master_key,
        )?)),
        _ => None,
    };
    Ok(KeyEntry {
        record: stored.record,
        public,
        private,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::AuthorityStore as _;
    use crate::testing::Fixture;
    use crate::{ClientKind, Rejection};
    use haechi_events::Clock as _;

    #[tokio::test]
    async fn a_rotation_promotes_the_published_pending_key_and_old_tokens_still_verify() {
        let f = Fixture::open().await;
        let keys = f.authority.keys();
        let state_of = |wanted: KeyState| {
            keys.records()
                .into_iter()
                .filter(|record| record.state == wanted)
                .map(|record| record.kid)
                .collect::<Vec<_>>()
        };
        let (active, pending) = (state_of(KeyState::Active), state_of(KeyState::Pending));
        assert_eq!((active.len(), pending.len()), (1, 1));
        let (_, pair) = f.client(ClientKind::Service, "shipping").await;

        let promoted = keys.rotate(&f.grant()).await.unwrap();
        assert_eq!(promoted.kid, pending[0]);
        assert_eq!(keys.state(&active[0]), Some(KeyState::Retiring));
        assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 3);
        assert!(
            f.authority
                .verifier()
                .verify(&pair.access_token, &f.context)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn revoking_the_active_key_stops_its_tokens_and_the_pending_key_takes_over() {
        let f = Fixture::open().await;
        let (_, pair) = f.client(ClientKind::Service, "shipping").await;
        let keys = f.authority.keys();
        let verifier = f.authority.verifier();
        let kid = verifier
            .verify(&pair.access_token, &f.context)
            .await
            .unwrap()
            .kid()
            .to_string();
        let revoked = keys.revoke(&kid, &f.grant()).await.unwrap();
        assert_eq!(revoked.sessions, vec![pair.session_id.clone()]);
        assert!(revoked.replaced_by.is_some());
        assert_eq!(keys.state(&kid), Some(KeyState::Revoked));
        assert_eq!(
            verifier.verify(&pair.access_token, &f.context).await,
            Err(Rejection::RevokedKey)
        );
        assert!(matches!(
            keys.revoke("no-such-key", &f.grant()).await,
            Err(Error::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn a_revocation_interrupted_before_its_promotion_is_repaired_by_the_next_responder() {
        let f = Fixture::open().await;
        let keys = f.authority.keys();
        let active = keys
            .records()
            .into_iter()
            .find(|record| record.state == KeyState::Active);
        let mut active = active.unwrap();
        // A revocation left no key signing (as one that died between two writes did before
        // revocation and promotion became one write).
        active.revoke(f.clock.now()).unwrap();
        f.store.update_keys(&[active]).await.unwrap();
        keys.reload().await.unwrap();
        assert_eq!(
            f.authority
                .keys()
                .records()
                .iter()
                .filter(|record| record.state == KeyState::Active)
                .count(),
            0
        );

        let promoted = keys.ensure_active(&f.grant()).await.unwrap().unwrap();
        assert_eq!(keys.state(&promoted.kid), Some(KeyState::Active));
        assert_eq!(
            keys.records()
                .iter()
                .filter(|record| record.state == KeyState::Pending)
                .count(),
            1
        );
        // With a key signing, there is nothing to repair.
        assert!(keys.ensure_active(&f.grant()).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_named_secret_is_made_once_and_rewrapping_under_the_same_master_key_moves_nothing() {
        let f = Fixture::open().await;
        let keys = f.authority.keys();
        let first = keys.named_secret("blind-index-key").await.unwrap();
        let again = keys.named_secret("blind-index-key").await.unwrap();
        assert_eq!(*first, *again);
        assert_eq!(keys.rewrap_to_current().await.unwrap(), 0);
    }
}
