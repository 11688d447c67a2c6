//! The vault service: authorization, encryption, masking, quotas and events in one place.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use haechi_custody::{MasterKeyRing, SecretContext, SecureRandom, WrappedSecret};
use haechi_events::{
    Clock, Decision, EventKind, EventSink, Principal, RequestContext, SecurityEvent, Timestamp,
};
use haechi_token::{AdminGrant, NewAccount, TokenAuthority, VerifiedToken};
use parking_lot::{Mutex, RwLock};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

mod leak;
mod lookup;
mod notice;
mod restart;

pub use leak::{
    Comparison, LeakConfirmation, LeakIndexSource, LeakProbe, LeakSession, LeakStats,
    PURPOSE_LEAK_MATCH,
};
pub use notice::{NoticeContact, NoticeDisclosure, PURPOSE_NOTIFICATION};

use crate::quota::{DistinctBudgets, LookupLimiter, ReadClass};
use crate::record::{AddressInput, Validation, validate_addresses};
use crate::{
    Access, BlindIndexKind, BlindIndexer, CustomerInput, CustomerPatch, CustomerRecord, DataKey,
    EncryptedRecord, Error, IndexEntry, PiiField, Policy, PolicyStore, PolicyVersion, VaultStore,
};

/// The purpose a service must declare (and hold) to create customers.
pub const PURPOSE_ACCOUNT: &str = "account";
/// The purpose a service must declare (and hold) to crypto-shred customers.
pub const PURPOSE_ERASURE: &str = "erasure";
/// Most ids in one batch read.
pub const MAX_BATCH: usize = 100;

/// Everything the vault is built from.
#[derive(Debug)]
pub struct VaultParts {
    /// Storage.
    pub store: Arc<dyn VaultStore>,
    /// The token authority (customer login accounts live there).
    pub authority: Arc<TokenAuthority>,
    /// The key-encryption keys (current, and previous ones during a rotation).
    pub master_key: Arc<MasterKeyRing>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Events.
    pub events: Arc<dyn EventSink>,
    /// Randomness.
    pub random: Arc<dyn SecureRandom>,
    /// Access policy.
    pub policy: Policy,
    /// Blind-index key and truncation.
    pub indexer: BlindIndexer,
    /// Where a policy replaced through the API is kept for the next start (`None`: in
    /// memory only, for embedded and test uses; `haechi serve` always gives one).
    pub policy_store: Option<Arc<dyn PolicyStore>>,
}

/// Proof that a service may read some fields of one customer for a purpose, and how. Only
/// [`Vault::authorize`] builds one; [`Vault::read`] requires one.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    service: String,
    customer_ids: Vec<String>,
    purpose: String,
    fields: BTreeMap<PiiField, Access>,
    token: VerifiedToken,
    operation: GrantOperation,
}

/// What an [`AccessGrant`] was made for: a read of records by id, or a blind-index lookup
/// by one identifier (which discloses who holds it, so it is authorized like a read of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantOperation {
    Read,
    Lookup(BlindIndexKind),
}

impl GrantOperation {
    fn event_kind(self) -> EventKind {
        match self {
            GrantOperation::Read => EventKind::PiiRead,
            GrantOperation::Lookup(_) => EventKind::PiiLookup,
        }
    }
}

impl AccessGrant {
    /// The fields granted and how.
    pub fn fields(&self) -> &BTreeMap<PiiField, Access> {
        &self.fields
    }

    fn class(&self) -> ReadClass {
        if self
            .fields
            .values()
            .any(|access| *access == Access::Plaintext)
        {
            ReadClass::Plaintext
        } else {
            ReadClass::Masked
        }
    }

    fn decision(&self) -> Decision {
        match self.class() {
            ReadClass::Plaintext => Decision::Allow,
            ReadClass::Masked => Decision::Mask,
        }
    }
}

/// What a read returns: one JSON object per customer found, in the order asked.
#[derive(Debug, Clone)]
pub struct ReadView {
    /// Customer id → record view.
    pub customers: Vec<(String, Value)>,
    /// Ids not found.
    pub missing: Vec<String>,
}

/// What a bulk-import batch did.
#[derive(Debug, Clone, Default)]
pub struct ImportOutcome {
    /// `(line, customer id)` of every imported customer.
    pub imported: Vec<(u64, String)>,
    /// `(line, reason)` of every rejected line.
    pub rejected: Vec<(u64, String)>,
}

/// The PII vault.
#[derive(Debug)]
pub struct Vault {
    store: Arc<dyn VaultStore>,
    authority: Arc<TokenAuthority>,
    master_key: Arc<MasterKeyRing>,
    clock: Arc<dyn Clock>,
    events: Arc<dyn EventSink>,
    random: Arc<dyn SecureRandom>,
    policy: RwLock<Arc<Policy>>,
    indexer: BlindIndexer,
    budgets: Mutex<DistinctBudgets>,
    lookups: Mutex<LookupLimiter>,
    customer_requests: Mutex<HashMap<String, VecDeque<Timestamp>>>,
    policy_store: Option<Arc<dyn PolicyStore>>,
}

impl Vault {
    /// A vault over its parts.
    pub fn new(parts: VaultParts) -> Self {
        Vault {
            store: parts.store,
            authority: parts.authority,
            master_key: parts.master_key,
            clock: parts.clock,
            events: parts.events,
            random: parts.random,
            policy: RwLock::new(Arc::new(parts.policy)),
            indexer: parts.indexer,
            budgets: Mutex::new(DistinctBudgets::default()),
            lookups: Mutex::new(LookupLimiter::default()),
            customer_requests: Mutex::new(HashMap::new()),
            policy_store: parts.policy_store,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy.read())
    }

    /// Replaces the policy (already parsed and validated), recording who did it. With a
    /// policy store, the policy is first made durable (so a restart keeps it — an emergency
    /// deny must not be undone by the next deploy), then audited with its version and digest,
    /// then put in force. Nothing changes if the store or the audit log refuses; if the audit
    /// log refuses after the store kept the new policy, the previous text is saved back.
    pub async fn replace_policy(
        &self,
        policy: Policy,
        grant: &AdminGrant,
    ) -> Result<PolicyVersion, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let digest = crate::policy_digest(policy.source());
        let version = match &self.policy_store {
            Some(store) => store.save(policy.source()).await?,
            None => 0,
        };
        let recorded = self
            .emit(
                SecurityEvent::new(
                    self.clock.now(),
                    EventKind::AdminConfigChanged,
                    actor.clone(),
                )
                .context(context)
                .reason("policy_replaced")
                .detail("policy_version", version.to_string())
                .detail("policy_sha256", digest.clone()),
            )
            .await;
        if let Err(error) = recorded {
            if let Some(store) = &self.policy_store {
                let previous = self.policy();
                if let Err(undo) = store.save(previous.source()).await {
                    tracing::error!(error = %undo, "the unaudited policy could not be undone on disk");
                }
            }
            return Err(error);
        }
        *self.policy.write() = Arc::new(policy);
        Ok(PolicyVersion { version, digest })
    }

    /// Number of customers (for share-of-base detection and metrics).
    pub async fn customer_count(&self) -> Result<u64, Error> {
        Ok(self.store.count().await?)
    }

    /// About the number of customers, cheaply: the span of record handles where the store
    /// has them (exact after imports and creations, high by the number shredded since), else
    /// the count. Counting ten million rows in SQLite takes seconds; the span, two index
    /// probes.
    pub async fn customer_count_estimate(&self) -> Result<u64, Error> {
        Ok(match self.store.record_span().await? {
            Some((first, last)) => u64::try_from(last.0.saturating_sub(first.0))
                .unwrap_or(0)
                .saturating_add(1),
            None => self.store.count().await?,
        })
    }

    // ---------------------------------------------------------------------------------------
    // Writes
    // ---------------------------------------------------------------------------------------

    /// Creates a customer (service with the `account` purpose): validates every field,
    /// creates the login account, seals the record. Returns the new id.
    pub async fn create(
        &self,
        token: &VerifiedToken,
        input: CustomerInput,
        context: &RequestContext,
    ) -> Result<String, Error> {
        let service = self.require_service(token, PURPOSE_ACCOUNT)?;
        let today = self.today();
        let record = input
            .validate(today, || self.new_address_id())
            .map_err(Error::Invalid)?;
        let customer_id = self.authority.accounts().new_customer_id();
        self.authority
            .accounts()
            .create(
                NewAccount {
                    customer_id: Some(customer_id.clone()),
                    email: Some(record.email.as_str().to_string()),
                    phone: Some(record.phone.as_str().to_string()),
                    password: input.password.clone(),
                },
                token.principal(),
                context,
            )
            .await
            .map_err(|error| match error {
                haechi_token::Error::Conflict(message) => Error::Conflict(message),
                other => Error::Token(other),
            })?;
        let data_key = DataKey::generate(&*self.random);
        let now = self.clock.now();
        let sealed = self.seal(&customer_id, &data_key, &record, &PiiField::ALL, now, now)?;
        if let Err(error) = self
            .store
            .insert_record(&sealed, &self.index_entries(&record))
            .await
        {
            // Undo the login so a failed create leaves nothing behind.
            let _ = self.store.shred(&customer_id).await;
            return Err(error.into());
        }
        self.emit(
            self.event(EventKind::PiiWrite, token, context)
                .customer(&customer_id)
                .fields(present_fields(&record))
                .purpose(PURPOSE_ACCOUNT)
                .detail("service", service),
        )
        .await?;
        Ok(customer_id)
    }

    /// A customer changes their own record. Nothing changes unless every field is valid.
    pub async fn patch_own(
        &self,
        token: &VerifiedToken,
        patch: CustomerPatch,
        context: &RequestContext,
    ) -> Result<Value, Error> {
        let customer_id = self.require_customer(token, context).await?;
        let (mut record, stored) = self.open_record(&customer_id).await?;
        let changed = patch
            .apply(&mut record, self.today(), || self.new_address_id())
            .map_err(Error::Invalid)?;
        // A new e-mail or phone becomes the login identifier in the same transaction, and one
        // that another account holds is refused: a lookup must never be pointed at someone
        // else's number, and a login never at someone else's account.
        let logins = if changed.contains(&PiiField::Email) || changed.contains(&PiiField::Phone) {
            Some(LoginUpdate::Replace(vec![
                self.authority
                    .accounts()
                    .login_hash(&haechi_token::LoginIdentifier::Email(
                        record.email.as_str().to_string(),
                    ))?,
                self.authority
                    .accounts()
                    .login_hash(&haechi_token::LoginIdentifier::Phone(
                        record.phone.as_str().to_string(),
                    ))?,
            ]))
        } else {
            None
        };
        self.save_with(&customer_id, &record, &stored, &changed, logins)
            .await?;
        self.emit(
            self.event(EventKind::PiiWrite, token, context)
                .customer(&customer_id)
                .fields(changed.iter().map(|field| field.as_str())),
        )
        .await?;
        Ok(own_view(&record))
    }

    /// A customer adds an address to their address book.
    pub async fn add_address(
        &self,
        token: &VerifiedToken,
        address: AddressInput,
        context: &RequestContext,
    ) -> Result<Value, Error> {
        let customer_id = self.require_customer(token, context).await?;
        let (mut record, stored) = self.open_record(&customer_id).await?;
        let mut validation = Validation::default();
        let added = validate_addresses(&[address], &mut validation, || self.new_address_id());
        let mut added = validation.finish(added).map_err(|errors| {
            Error::Invalid(
                errors
                    .into_iter()
                    .map(|mut error| {
                        error.field = error.field.replace("addresses[0].", "");
                        error
                    })
                    .collect(),
            )
        })?;
        if record.addresses.len() >= crate::record::MAX_ADDRESSES {
            return Err(Error::Invalid(vec![crate::FieldError {
                field: "addresses".into(),
                message: "The address book is full.".into(),
            }]));
        }
        let new = added.remove(0);
        let view = new.view(false, true);
        record.addresses.push(new);
        self.save(&customer_id, &record, &stored, &[PiiField::Addresses])
            .await?;
        self.emit(
            self.event(EventKind::PiiWrite, token, context)
                .customer(&customer_id)
                .fields(["addresses"]),
        )
        .await?;
        Ok(view)
    }

    /// A customer removes an address by id.
    pub async fn remove_address(
        &self,
        token: &VerifiedToken,
        address_id: &str,
        context: &RequestContext,
    ) -> Result<(), Error> {
        let customer_id = self.require_customer(token, context).await?;
        let (mut record, stored) = self.open_record(&customer_id).await?;
        let before = record.addresses.len();
        record.addresses.retain(|address| address.id != address_id);
        if record.addresses.len() == before {
            return Err(Error::NotFound);
        }
        self.save(&customer_id, &record, &stored, &[PiiField::Addresses])
            .await?;
        self.emit(
            self.event(EventKind::PiiWrite, token, context)
                .customer(&customer_id)
                .fields(["addresses"]),
        )
        .await
    }

    /// Crypto-shreds a customer (service with the `erasure` purpose).
    pub async fn delete(
        &self,
        token: &VerifiedToken,
        customer_id: &str,
        context: &RequestContext,
    ) -> Result<(), Error> {
        self.require_service(token, PURPOSE_ERASURE)?;
        // Sessions end first: if the shred then fails, the customer is logged out with their
        // data intact (retry the erasure); the other order could leave an erased customer's
        // tokens working. Through the authority's API: the vault never touches its tables.
        self.authority
            .sessions()
            .end_customer_sessions(customer_id, "erased", token.principal(), context)
            .await?;
        let existed = self.store.shred(customer_id).await?;
        let event = self
            .event(EventKind::PiiDelete, token, context)
            .customer(customer_id)
            .fields(PiiField::ALL.iter().map(|field| field.as_str()))
            .purpose(PURPOSE_ERASURE);
        if !existed {
            self.emit(event.outcome(Decision::Deny, 404).reason("not_found"))
                .await?;
            return Err(Error::NotFound);
        }
        self.emit(event.detail("method", "crypto_shred")).await
    }

    // ---------------------------------------------------------------------------------------
    // Reads
    // ---------------------------------------------------------------------------------------

    /// A customer reads their own record, in plaintext.
    pub async fn read_own(
        &self,
        token: &VerifiedToken,
        context: &RequestContext,
    ) -> Result<Value, Error> {
        let customer_id = self.require_customer(token, context).await?;
        let (record, _) = self.open_record(&customer_id).await?;
        self.emit(
            self.event(EventKind::PiiRead, token, context)
                .customer(&customer_id)
                .fields(present_fields(&record)),
        )
        .await?;
        Ok(own_view(&record))
    }

    /// A customer reads their own address book.
    pub async fn read_own_addresses(
        &self,
        token: &VerifiedToken,
        context: &RequestContext,
    ) -> Result<Value, Error> {
        let customer_id = self.require_customer(token, context).await?;
        let (record, _) = self.open_record(&customer_id).await?;
        self.emit(
            self.event(EventKind::PiiRead, token, context)
                .customer(&customer_id)
                .fields(["addresses"]),
        )
        .await?;
        Ok(record.field_view(PiiField::Addresses, false, true))
    }

    /// Decides what a caller may read of `customer_ids` for `purpose`. Customers reaching for
    /// another customer's record get `NotFound` (no existence oracle) and a `not_owner` event.
    pub async fn authorize(
        &self,
        token: &VerifiedToken,
        customer_ids: &[String],
        purpose: Option<&str>,
        requested: Option<&[String]>,
        context: &RequestContext,
    ) -> Result<AccessGrant, Error> {
        self.authorize_for(
            GrantOperation::Read,
            token,
            customer_ids,
            purpose,
            requested,
            context,
        )
        .await
    }

    /// The one authorization step of reads and lookups: principal, purpose, policy (deny
    /// wins), per field. Refusals are audited as the operation's event kind.
    async fn authorize_for(
        &self,
        operation: GrantOperation,
        token: &VerifiedToken,
        customer_ids: &[String],
        purpose: Option<&str>,
        requested: Option<&[String]>,
        context: &RequestContext,
    ) -> Result<AccessGrant, Error> {
        let deny = |reason: &str, status: u16| {
            let mut event = self
                .event(operation.event_kind(), token, context)
                .outcome(Decision::Deny, status)
                .reason(reason);
            if let [one] = customer_ids {
                event = event.customer(one);
            }
            if let Some(purpose) = purpose {
                event = event.purpose(purpose.chars().take(64).collect::<String>());
            }
            event
        };
        let service = match token.principal() {
            Principal::Service(name) => name.clone(),
            Principal::Customer(_) if operation != GrantOperation::Read => {
                self.emit(deny("not_a_service", 403)).await?;
                return Err(Error::Forbidden("lookups are for services".into()));
            }
            Principal::Customer(own) => {
                // A customer uses /v1/customers/me; any id of someone else is not theirs.
                let others = customer_ids.iter().any(|id| id != own);
                self.emit(deny(if others { "not_owner" } else { "use_me" }, 404))
                    .await?;
                return Err(Error::NotFound);
            }
            _ => {
                self.emit(deny("not_a_service", 403)).await?;
                return Err(Error::Forbidden(
                    "customer records are read by services (or by the customer via /v1/customers/me)"
                        .into(),
                ));
            }
        };
        let Some(purpose) = purpose.map(str::trim).filter(|p| !p.is_empty()) else {
            self.emit(deny("missing_purpose", 400)).await?;
            return Err(Error::BadRequest(
                "purpose is required: say why this service reads this record".into(),
            ));
        };
        if !token.has_scope(purpose) {
            self.emit(deny("purpose_not_registered", 403)).await?;
            return Err(Error::Forbidden(format!(
                "purpose {purpose:?} is not registered for service {service}"
            )));
        }
        let policy = self.policy();
        if !policy.knows_purpose(&service, purpose) {
            self.emit(deny("policy", 403)).await?;
            return Err(Error::Forbidden(format!(
                "no policy grant for service {service} with purpose {purpose:?}"
            )));
        }
        let mut fields = BTreeMap::new();
        match requested {
            Some(names) => {
                for name in names {
                    let Some(field) = PiiField::parse(name) else {
                        return Err(Error::BadRequest(format!(
                            "unknown field {:?} (fields: name, email, phone, birth_date, customs_code, addresses)",
                            name.chars().take(40).collect::<String>()
                        )));
                    };
                    match policy.decide(&service, purpose, field) {
                        Access::Denied => {
                            self.emit(deny("policy", 403).fields([field.as_str()]))
                                .await?;
                            return Err(Error::Forbidden(format!(
                                "field {} is not granted to {service} for purpose {purpose:?}",
                                field.as_str()
                            )));
                        }
                        access => {
                            fields.insert(field, access);
                        }
                    }
                }
            }
            None => {
                for field in PiiField::ALL {
                    let access = policy.decide(&service, purpose, field);
                    if access != Access::Denied {
                        fields.insert(field, access);
                    }
                }
            }
        }
        if fields.is_empty() {
            self.emit(deny("policy", 403)).await?;
            return Err(Error::Forbidden(format!(
                "no field is granted to {service} for purpose {purpose:?}"
            )));
        }
        Ok(AccessGrant {
            service,
            customer_ids: customer_ids.to_vec(),
            purpose: purpose.to_string(),
            fields,
            token: token.clone(),
            operation,
        })
    }

    /// Reads what `grant` allows, charging the service's budget of distinct customers. One
    /// `pii.read` event per customer returned.
    pub async fn read(
        &self,
        grant: &AccessGrant,
        context: &RequestContext,
    ) -> Result<ReadView, Error> {
        if grant.operation != GrantOperation::Read {
            return Err(Error::Forbidden(
                "this grant is for a lookup, not a read".into(),
            ));
        }
        let records = self.store.records(&grant.customer_ids).await?;
        let found: Vec<&str> = records.iter().map(|r| r.customer_id.as_str()).collect();
        let missing: Vec<String> = grant
            .customer_ids
            .iter()
            .filter(|id| !found.contains(&id.as_str()))
            .cloned()
            .collect();
        for id in &missing {
            self.emit(
                self.event(EventKind::PiiRead, &grant.token, context)
                    .customer(id)
                    .purpose(&grant.purpose)
                    .outcome(Decision::Deny, 404)
                    .reason("not_found"),
            )
            .await?;
        }
        let policy = self.policy();
        let (masked_budget, plaintext_budget) = policy.quota().budget(&grant.service);
        let budget = match grant.class() {
            ReadClass::Masked => masked_budget,
            ReadClass::Plaintext => plaintext_budget,
        };
        let charged = self.budgets.lock().charge(
            &format!("service:{}", grant.service),
            grant.class(),
            &found,
            budget,
            policy.quota().window,
            self.clock.now(),
        );
        if !charged {
            self.emit(
                self.event(EventKind::PiiQuotaExceeded, &grant.token, context)
                    .purpose(&grant.purpose)
                    .fields(grant.fields.keys().map(|f| f.as_str()))
                    .outcome(Decision::Deny, 429)
                    .reason("quota")
                    .detail("budget", budget.to_string())
                    .detail("requested", found.len().to_string()),
            )
            .await?;
            return Err(Error::QuotaExceeded(format!(
                "service {} may read {budget} distinct customers per {} s with these fields",
                grant.service,
                policy.quota().window.as_secs()
            )));
        }
        let wanted: Vec<PiiField> = grant.fields.keys().copied().collect();
        let mut customers = Vec::with_capacity(records.len());
        for stored in &records {
            let record = self.open_fields(stored, &wanted)?;
            let mut view = Map::new();
            view.insert("id".into(), Value::String(stored.customer_id.clone()));
            for (field, access) in &grant.fields {
                view.insert(
                    field.as_str().into(),
                    record.field_view(*field, *access == Access::Masked, false),
                );
            }
            self.emit(
                self.event(EventKind::PiiRead, &grant.token, context)
                    .customer(&stored.customer_id)
                    .fields(wanted.iter().map(|f| f.as_str()))
                    .purpose(&grant.purpose)
                    .outcome(grant.decision(), 200),
            )
            .await?;
            customers.push((stored.customer_id.clone(), Value::Object(view)));
        }
        // Answer in the order asked.
        customers.sort_by_key(|(id, _)| grant.customer_ids.iter().position(|asked| asked == id));
        Ok(ReadView { customers, missing })
    }

    /// Bulk import by the operator (`haechi customers import`): validates each line, seals the
    /// good ones and stores the batch in one transaction together with the import's progress.
    /// Invalid lines and lines whose e-mail or phone is taken are rejected with a reason; the
    /// good lines go in regardless.
    pub async fn import_batch(
        &self,
        source: &str,
        lines: Vec<(u64, Result<CustomerInput, String>)>,
        grant: &AdminGrant,
    ) -> Result<ImportOutcome, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let mut outcome = ImportOutcome::default();
        let Some(last_line) = lines.iter().map(|(line, _)| *line).max() else {
            return Ok(outcome);
        };
        let today = self.today();
        let now = self.clock.now();
        let mut items = Vec::with_capacity(lines.len());
        let mut item_lines = Vec::with_capacity(lines.len());
        for (line, parsed) in lines {
            let input = match parsed {
                Ok(input) => input,
                Err(reason) => {
                    outcome.rejected.push((line, reason));
                    continue;
                }
            };
            let record = match input.validate(today, || self.new_address_id()) {
                Ok(record) => record,
                Err(errors) => {
                    let reason = errors
                        .iter()
                        .map(|error| format!("{}: {}", error.field, error.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    outcome.rejected.push((line, reason));
                    continue;
                }
            };
            let customer_id = self.authority.accounts().new_customer_id();
            let login_hashes = vec![
                self.authority
                    .accounts()
                    .login_hash(&haechi_token::LoginIdentifier::Email(
                        record.email.as_str().to_string(),
                    ))?,
                self.authority
                    .accounts()
                    .login_hash(&haechi_token::LoginIdentifier::Phone(
                        record.phone.as_str().to_string(),
                    ))?,
            ];
            let password_hash = match &input.password {
                Some(password) => Some(
                    self.authority
                        .accounts()
                        .hash_password(password.clone())
                        .await?,
                ),
                None => None,
            };
            let data_key = DataKey::generate(&*self.random);
            let sealed = self.seal(&customer_id, &data_key, &record, &PiiField::ALL, now, now)?;
            items.push(crate::ImportItem {
                record: sealed,
                indexes: self.index_entries(&record),
                account: haechi_token::AccountRecord {
                    customer_id: customer_id.clone(),
                    login_hashes,
                    password_hash,
                    created_at: now,
                },
            });
            item_lines.push((line, customer_id, present_fields(&record)));
        }
        let inserted = self.store.import_batch(source, last_line, &items).await?;
        let mut events = Vec::new();
        for ((line, customer_id, fields), inserted) in item_lines.into_iter().zip(inserted) {
            if inserted {
                events.push(
                    SecurityEvent::new(now, EventKind::PiiWrite, actor.clone())
                        .context(context)
                        .customer(&customer_id)
                        .fields(fields)
                        .purpose("import"),
                );
                outcome.imported.push((line, customer_id));
            } else {
                outcome.rejected.push((
                    line,
                    "a customer with this e-mail or phone already exists".into(),
                ));
            }
        }
        // All at once, so a durable sink commits the batch's events with one fsync.
        for result in
            futures::future::join_all(events.into_iter().map(|event| self.emit(event))).await
        {
            result?;
        }
        outcome.rejected.sort_by_key(|(line, _)| *line);
        Ok(outcome)
    }

    /// The last committed line of an import source.
    pub async fn import_progress(&self, source: &str) -> Result<Option<u64>, Error> {
        Ok(self.store.import_progress(source).await?)
    }

    // ---------------------------------------------------------------------------------------
    // Master-key rotation
    // ---------------------------------------------------------------------------------------

    /// Re-wraps every customer data key that is not under the current master key, without
    /// touching any field ciphertext, while the vault keeps serving (every wrapped key names
    /// the master key that sealed it, and the ring opens both). Calls `progress(done, total)`
    /// after each batch. Idempotent: keys already under the current key are skipped, so an
    /// interrupted rotation is finished by running it again. Returns how many were re-wrapped.
    pub async fn rewrap_data_keys(&self, mut progress: impl FnMut(u64, u64)) -> Result<u64, Error> {
        let total = self.store.count().await?;
        let mut after: Option<String> = None;
        let (mut seen, mut rewrapped_total) = (0u64, 0u64);
        loop {
            let batch = self.store.wrapped_keys(after.as_deref(), 1000).await?;
            let Some((last, _)) = batch.last() else {
                break;
            };
            after = Some(last.clone());
            let mut rewrapped = Vec::with_capacity(batch.len());
            for (customer_id, bytes) in &batch {
                let wrapped = WrappedSecret::from_bytes(bytes)?;
                let context = SecretContext::customer_data_key(customer_id);
                if let Some(moved) =
                    self.master_key
                        .rewrap_to_current(&context, &wrapped, &*self.random)?
                {
                    rewrapped.push((customer_id.clone(), moved.to_bytes()));
                }
            }
            self.store.rewrap_keys(&rewrapped).await?;
            seen += batch.len() as u64;
            rewrapped_total += rewrapped.len() as u64;
            progress(seen, total);
        }
        Ok(rewrapped_total)
    }

    // ---------------------------------------------------------------------------------------
    // Internals
    // ---------------------------------------------------------------------------------------

    fn require_service(&self, token: &VerifiedToken, purpose: &str) -> Result<String, Error> {
        match token.principal() {
            Principal::Service(name) if token.has_scope(purpose) => Ok(name.clone()),
            Principal::Service(name) => Err(Error::Forbidden(format!(
                "service {name} does not hold the {purpose:?} purpose"
            ))),
            _ => Err(Error::Forbidden(format!(
                "only a service with the {purpose:?} purpose may do this"
            ))),
        }
    }

    async fn require_customer(
        &self,
        token: &VerifiedToken,
        context: &RequestContext,
    ) -> Result<String, Error> {
        let Some(customer_id) = token.customer_id() else {
            return Err(Error::Forbidden(
                "/v1/customers/me is for customers; services read /v1/customers/{id}".into(),
            ));
        };
        let limit = self.policy().quota().customer_requests_per_minute;
        let now = self.clock.now();
        let retry_after = {
            let mut requests = self.customer_requests.lock();
            let times = requests.entry(customer_id.to_string()).or_default();
            let start = now.minus(Duration::from_secs(60));
            while times.front().is_some_and(|time| *time <= start) {
                times.pop_front();
            }
            if times.len() >= limit as usize {
                times.front().map(|oldest| {
                    oldest
                        .plus(Duration::from_secs(60))
                        .since(now)
                        .as_secs()
                        .max(1)
                })
            } else {
                times.push_back(now);
                None
            }
        };
        if let Some(retry_after_secs) = retry_after {
            self.emit(
                self.event(EventKind::PiiQuotaExceeded, token, context)
                    .customer(customer_id)
                    .outcome(Decision::Deny, 429)
                    .reason("customer_rate"),
            )
            .await?;
            return Err(Error::RateLimited { retry_after_secs });
        }
        Ok(customer_id.to_string())
    }

    fn event(
        &self,
        kind: EventKind,
        token: &VerifiedToken,
        context: &RequestContext,
    ) -> SecurityEvent {
        SecurityEvent::new(self.clock.now(), kind, token.principal().clone())
            .context(context)
            .sid(token.sid())
            .jti(token.jti())
            .kid(token.kid())
    }

    async fn emit(&self, event: SecurityEvent) -> Result<(), Error> {
        self.events.record(event).await?;
        Ok(())
    }

    fn today(&self) -> time::Date {
        time::OffsetDateTime::from_unix_timestamp(self.clock.now().as_secs())
            .map(|now| now.date())
            .unwrap_or(time::Date::MIN)
    }

    fn new_address_id(&self) -> String {
        let bytes = self.random.bytes16();
        format!("a{}", hex::encode(&bytes[..6]))
    }

    fn index_entries(&self, record: &CustomerRecord) -> Vec<IndexEntry> {
        vec![
            IndexEntry {
                kind: BlindIndexKind::Email,
                value: self
                    .indexer
                    .index_normalised(BlindIndexKind::Email, record.email.as_str()),
            },
            IndexEntry {
                kind: BlindIndexKind::Phone,
                value: self
                    .indexer
                    .index_normalised(BlindIndexKind::Phone, record.phone.as_str()),
            },
        ]
    }

    fn unwrap_data_key(&self, stored: &EncryptedRecord) -> Result<DataKey, Error> {
        self.unwrap_key_of(
            &stored.customer_id,
            &stored.wrapped_data_key,
            stored.key_version,
        )
    }

    fn unwrap_key_of(
        &self,
        customer_id: &str,
        wrapped_data_key: &[u8],
        key_version: u32,
    ) -> Result<DataKey, Error> {
        let wrapped = WrappedSecret::from_bytes(wrapped_data_key)?;
        let bytes = self
            .master_key
            .unwrap(&SecretContext::customer_data_key(customer_id), &wrapped)?;
        DataKey::from_bytes(&bytes, key_version)
    }

    fn seal(
        &self,
        customer_id: &str,
        data_key: &DataKey,
        record: &CustomerRecord,
        fields: &[PiiField],
        created_at: Timestamp,
        updated_at: Timestamp,
    ) -> Result<EncryptedRecord, Error> {
        let wrapped = self.master_key.wrap(
            &SecretContext::customer_data_key(customer_id),
            data_key.as_bytes(),
            &*self.random,
        )?;
        let mut sealed = BTreeMap::new();
        for field in fields {
            if let Some(plaintext) = record.field_plaintext(*field) {
                sealed.insert(
                    field.as_str().to_string(),
                    data_key.seal(customer_id, field.as_str(), &plaintext, &*self.random)?,
                );
            }
        }
        Ok(EncryptedRecord {
            customer_id: customer_id.to_string(),
            wrapped_data_key: wrapped.to_bytes(),
            key_version: data_key.version(),
            fields: sealed,
            created_at,
            updated_at,
        })
    }

    /// Re-seals the changed fields of a record and stores it with fresh index entries.
    async fn save(
        &self,
        customer_id: &str,
        record: &CustomerRecord,
        stored: &EncryptedRecord,
        changed: &[PiiField],
    ) -> Result<(), Error> {
        self.save_with(customer_id, record, stored, changed, None)
            .await
    }

    /// [`Vault::save`], also replacing the account's login identifiers when asked.
    async fn save_with(
        &self,
        customer_id: &str,
        record: &CustomerRecord,
        stored: &EncryptedRecord,
        changed: &[PiiField],
        logins: Option<LoginUpdate>,
    ) -> Result<(), Error> {
        let data_key = self.unwrap_data_key(stored)?;
        let mut next = stored.clone();
        // During a master-key rotation, a record written now leaves under the current key, so
        // this write can never put back a key the background re-wrap already moved.
        let wrapped = WrappedSecret::from_bytes(&stored.wrapped_data_key)?;
        if let Some(moved) = self.master_key.rewrap_to_current(
            &SecretContext::customer_data_key(customer_id),
            &wrapped,
            &*self.random,
        )? {
            next.wrapped_data_key = moved.to_bytes();
        }
        for field in changed {
            match record.field_plaintext(*field) {
                Some(plaintext) => {
                    next.fields.insert(
                        field.as_str().to_string(),
                        data_key.seal(customer_id, field.as_str(), &plaintext, &*self.random)?,
                    );
                }
                None => {
                    next.fields.remove(field.as_str());
                }
            }
        }
        next.updated_at = self.clock.now();
        match logins {
            None => {
                self.store
                    .replace_record(&next, &self.index_entries(record))
                    .await?
            }
            Some(LoginUpdate::Replace(hashes)) => self
                .store
                .replace_record_and_logins(&next, &self.index_entries(record), &hashes)
                .await
                .map_err(|error| match error {
                    // The store's message may be the database's; say it in our words.
                    haechi_events::StoreError::Conflict(_) => {
                        Error::Conflict("this e-mail or phone belongs to another account".into())
                    }
                    other => Error::Store(other),
                })?,
        }
        Ok(())
    }

    async fn open_record(
        &self,
        customer_id: &str,
    ) -> Result<(CustomerRecord, EncryptedRecord), Error> {
        let stored = self
            .store
            .record(customer_id)
            .await?
            .ok_or(Error::NotFound)?;
        let record = self.open_fields(&stored, &PiiField::ALL)?;
        Ok((record, stored))
    }

    /// Decrypts `wanted` plus the fields a record cannot be rebuilt without.
    fn open_fields(
        &self,
        stored: &EncryptedRecord,
        wanted: &[PiiField],
    ) -> Result<CustomerRecord, Error> {
        let data_key = self.unwrap_data_key(stored)?;
        let mut opened: Vec<(PiiField, Zeroizing<Vec<u8>>)> = Vec::new();
        for field in PiiField::ALL {
            // Name, e-mail and phone are always opened: the record type requires them. What
            // leaves is decided by the grant, not by what was decrypted.
            let required = matches!(field, PiiField::Name | PiiField::Email | PiiField::Phone);
            if !required && !wanted.contains(&field) {
                continue;
            }
            if let Some(sealed) = stored.fields.get(field.as_str()) {
                opened.push((
                    field,
                    data_key.open(&stored.customer_id, field.as_str(), sealed)?,
                ));
            }
        }
        CustomerRecord::from_plaintext(&opened).map_err(Error::Tampered)
    }
}

/// What a save does to the account's login identifiers.
#[derive(Debug)]
enum LoginUpdate {
    /// They become these keyed hashes (of the record's e-mail and phone).
    Replace(Vec<[u8; 32]>),
}

fn present_fields(record: &CustomerRecord) -> Vec<&'static str> {
    PiiField::ALL
        .into_iter()
        .filter(|field| match field {
            PiiField::BirthDate => record.birth_date.is_some(),
            PiiField::CustomsCode => record.customs_code.is_some(),
            PiiField::Addresses => !record.addresses.is_empty(),
            _ => true,
        })
        .map(PiiField::as_str)
        .collect()
}

fn own_view(record: &CustomerRecord) -> Value {
    let mut view = Map::new();
    for field in PiiField::ALL {
        view.insert(field.as_str().into(), record.field_view(field, false, true));
    }
    Value::Object(view)
}
