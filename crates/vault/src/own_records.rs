//! A customer's access to their own record (`/v1/customers/me`): read it in plaintext,
//! entrance notes included, and change it — within a request rate of their own.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use haechi_events::{EventKind, RequestContext, Timestamp};
use haechi_token::VerifiedToken;
use parking_lot::Mutex;
use serde_json::{Map, Value};

use crate::record::{AddressInput, Validation, validate_addresses};
use crate::shared::{VaultCore, present_fields};
use crate::view::{EntranceNotes, Rendering};
use crate::{CustomerPatch, CustomerRecord, Denial, EncryptedRecord, Error, PiiField, Plaintext};

/// Proof that a customer, authenticated and within their rate, asked for their own exposures
/// and the request was recorded: only [`OwnRecords::open_exposures`] makes one.
#[derive(Debug)]
pub struct OwnExposures {
    customer_id: String,
}

impl OwnExposures {
    /// The customer whose exposures may be read.
    pub fn customer_id(&self) -> &str {
        &self.customer_id
    }
}

/// Customers reading and changing their own records.
#[derive(Debug)]
pub struct OwnRecords {
    core: Arc<VaultCore>,
    /// Each customer's requests in the last minute.
    requests: Mutex<HashMap<String, VecDeque<Timestamp>>>,
}

impl OwnRecords {
    pub(crate) fn new(core: Arc<VaultCore>) -> Self {
        OwnRecords {
            core,
            requests: Mutex::new(HashMap::new()),
        }
    }

    /// A customer reads their own record, in plaintext.
    pub async fn read(
        &self,
        token: &VerifiedToken,
        context: &RequestContext,
    ) -> Result<Plaintext, Error> {
        let customer_id = self.require_customer(token, context).await?;
        let (record, _) = self.core.open_record(&customer_id).await?;
        self.record_act(
            EventKind::PiiRead,
            token,
            context,
            &customer_id,
            present_fields(&record),
        )
        .await?;
        Ok(own_view(&record))
    }

    /// A customer looks at their own exposures (the portal's signed-in view): within their
    /// own request rate, recorded as a read of their own record that opens no field
    /// (`detail.view = exposures`). The proof names the customer whose exposures the caller
    /// may now read from the incident store, and no one else's.
    pub async fn open_exposures(
        &self,
        token: &VerifiedToken,
        context: &RequestContext,
    ) -> Result<OwnExposures, Error> {
        let customer_id = self.require_customer(token, context).await?;
        let event = self
            .core
            .event(EventKind::PiiRead, token, context)
            .customer(&customer_id)
            .detail("view", "exposures");
        self.core.emit(event).await?;
        Ok(OwnExposures { customer_id })
    }

    /// A customer reads their own address book.
    pub async fn read_addresses(
        &self,
        token: &VerifiedToken,
        context: &RequestContext,
    ) -> Result<Plaintext, Error> {
        let customer_id = self.require_customer(token, context).await?;
        let (record, _) = self.core.open_record(&customer_id).await?;
        self.record_act(
            EventKind::PiiRead,
            token,
            context,
            &customer_id,
            ["addresses"],
        )
        .await?;
        Ok(Plaintext::new(record.field_view(
            PiiField::Addresses,
            Rendering::Plaintext,
            EntranceNotes::Reveal,
        )))
    }

    /// A customer changes their own record. Nothing changes unless every field is valid.
    pub async fn patch(
        &self,
        token: &VerifiedToken,
        patch: CustomerPatch,
        context: &RequestContext,
    ) -> Result<Plaintext, Error> {
        let core = &self.core;
        let customer_id = self.require_customer(token, context).await?;
        let (mut record, stored) = core.open_record(&customer_id).await?;
        let changed = patch
            .apply(&mut record, core.today(), || core.new_address_id())
            .map_err(Error::Invalid)?;
        // A new e-mail or phone becomes the login identifier in the same transaction, and one
        // that another account holds is refused: a lookup must never be pointed at someone
        // else's number, and a login never at someone else's account.
        let logins = if changed.contains(&PiiField::Email) || changed.contains(&PiiField::Phone) {
            Some(LoginUpdate::Replace(core.login_hashes(&record)?))
        } else {
            None
        };
        self.save(&customer_id, &record, &stored, &changed, logins)
            .await?;
        let fields = changed.iter().map(|field| field.as_str());
        self.record_act(EventKind::PiiWrite, token, context, &customer_id, fields)
            .await?;
        Ok(own_view(&record))
    }

    /// A customer adds an address to their address book.
    pub async fn add_address(
        &self,
        token: &VerifiedToken,
        address: AddressInput,
        context: &RequestContext,
    ) -> Result<Plaintext, Error> {
        let customer_id = self.require_customer(token, context).await?;
        let (mut record, stored) = self.core.open_record(&customer_id).await?;
        let mut validation = Validation::default();
        let added = validate_addresses(&[address], &mut validation, || self.core.new_address_id());
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
        let view = Plaintext::new(new.view(Rendering::Plaintext, EntranceNotes::Reveal));
        record.addresses.push(new);
        self.save(&customer_id, &record, &stored, &[PiiField::Addresses], None)
            .await?;
        self.record_act(
            EventKind::PiiWrite,
            token,
            context,
            &customer_id,
            ["addresses"],
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
        let (mut record, stored) = self.core.open_record(&customer_id).await?;
        let before = record.addresses.len();
        record.addresses.retain(|address| address.id != address_id);
        if record.addresses.len() == before {
            return Err(Denial::NotFound.into());
        }
        self.save(&customer_id, &record, &stored, &[PiiField::Addresses], None)
            .await?;
        self.record_act(
            EventKind::PiiWrite,
            token,
            context,
            &customer_id,
            ["addresses"],
        )
        .await
    }

    /// Records the customer's read or write of `fields` of their own record.
    async fn record_act<'a>(
        &self,
        kind: EventKind,
        token: &VerifiedToken,
        context: &RequestContext,
        customer_id: &str,
        fields: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), Error> {
        let event = self.core.event(kind, token, context);
        self.core
            .emit(event.customer(customer_id).fields(fields))
            .await
    }

    /// The customer the token belongs to, if they are within their requests per minute
    /// (`[quota] customer_requests_per_minute`); over it, a recorded `customer_rate` refusal.
    async fn require_customer(
        &self,
        token: &VerifiedToken,
        context: &RequestContext,
    ) -> Result<String, Error> {
        let Some(customer_id) = token.customer_id() else {
            return Err(Denial::NotACustomer.into());
        };
        let limit = self.core.policy().quota().customer_requests_per_minute;
        let now = self.core.clock.now();
        let retry_after = {
            let mut requests = self.requests.lock();
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
            let denial = Denial::CustomerRate { retry_after_secs };
            self.core
                .emit(
                    denial.stamp(
                        self.core
                            .event(EventKind::PiiQuotaExceeded, token, context)
                            .customer(customer_id),
                    ),
                )
                .await?;
            return Err(denial.into());
        }
        Ok(customer_id.to_string())
    }

    /// Re-seals the changed fields of a record and stores it with fresh index entries, also
    /// replacing the account's login identifiers when `logins` says so.
    async fn save(
        &self,
        customer_id: &str,
        record: &CustomerRecord,
        stored: &EncryptedRecord,
        changed: &[PiiField],
        logins: Option<LoginUpdate>,
    ) -> Result<(), Error> {
        let core = &self.core;
        let data_key = core.unwrap_data_key(stored)?;
        let mut next = stored.clone();
        // During a master-key rotation, a record written now leaves under the current key, so
        // this write can never put back a key the background re-wrap already moved.
        let wrapped = haechi_custody::WrappedSecret::from_bytes(&stored.wrapped_data_key)?;
        if let Some(moved) = core.master_key.rewrap_to_current(
            &haechi_custody::SecretContext::customer_data_key(customer_id),
            &wrapped,
            &*core.random,
        )? {
            next.wrapped_data_key = moved.to_bytes();
        }
        for field in changed {
            match record.field_plaintext(*field) {
                Some(plaintext) => {
                    next.fields.insert(
                        field.as_str().to_string(),
                        data_key.seal(customer_id, field.as_str(), &plaintext, &*core.random)?,
                    );
                }
                None => {
                    next.fields.remove(field.as_str());
                }
            }
        }
        next.updated_at = core.clock.now();
        let indexes = core.index_entries(record);
        match logins {
            None => core.store.replace_record(&next, &indexes).await?,
            Some(LoginUpdate::Replace(hashes)) => core
                .store
                .replace_record_and_logins(&next, &indexes, &hashes)
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
}

/// What a save does to the account's login identifiers.
#[derive(Debug)]
enum LoginUpdate {
    /// They become these keyed hashes (of the record's e-mail and phone).
    Replace(Vec<[u8; 32]>),
}

/// The customer's own view of their record: every field in plaintext, entrance notes too.
fn own_view(record: &CustomerRecord) -> Plaintext {
    let mut view = Map::new();
    for field in PiiField::ALL {
        view.insert(
            field.as_str().into(),
            record.field_view(field, Rendering::Plaintext, EntranceNotes::Reveal),
        );
    }
    Plaintext::new(Value::Object(view))
}
