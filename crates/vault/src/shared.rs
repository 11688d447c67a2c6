//! What every part of the vault shares: storage, keys, clock, events, the policy in force, and
//! the steps they all take — sealing a record, opening one, stamping an event.

use std::collections::BTreeMap;
use std::sync::Arc;

use haechi_custody::{MasterKeyRing, SecretContext, SecureRandom, WrappedSecret};
use haechi_events::{Clock, EventKind, EventSink, RequestContext, SecurityEvent, Timestamp};
use haechi_token::{LoginIdentifier, TokenAuthority, VerifiedToken};
use parking_lot::RwLock;
use zeroize::Zeroizing;

use crate::{
    BlindIndexKind, BlindIndexer, CustomerRecord, DataKey, EncryptedRecord, Error, IndexEntry,
    PiiField, Policy, PolicyStore, VaultStore,
};

/// The shared state of the vault's parts. Each part holds it behind an `Arc`; none of them
/// owns it.
#[derive(Debug)]
pub(crate) struct VaultCore {
    pub(crate) store: Arc<dyn VaultStore>,
    pub(crate) authority: Arc<TokenAuthority>,
    pub(crate) master_key: Arc<MasterKeyRing>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) events: Arc<dyn EventSink>,
    pub(crate) random: Arc<dyn SecureRandom>,
    pub(crate) policy: RwLock<Arc<Policy>>,
    pub(crate) indexer: BlindIndexer,
    pub(crate) policy_store: Option<Arc<dyn PolicyStore>>,
}

impl VaultCore {
    /// The policy in force.
    pub(crate) fn policy(&self) -> Arc<Policy> {
        Arc::clone(&self.policy.read())
    }

    /// An event by the token's principal, naming its session, token and key.
    pub(crate) fn event(
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

    /// Records `event`; an act whose event the sink refuses is not carried out.
    pub(crate) async fn emit(&self, event: SecurityEvent) -> Result<(), Error> {
        self.events.record(event).await?;
        Ok(())
    }

    /// Today's date by the vault's clock (birth dates are validated against it).
    pub(crate) fn today(&self) -> time::Date {
        time::OffsetDateTime::from_unix_timestamp(self.clock.now().as_secs())
            .map(|now| now.date())
            .unwrap_or(time::Date::MIN)
    }

    /// A fresh id for a new address.
    pub(crate) fn new_address_id(&self) -> String {
        let bytes = self.random.bytes16();
        format!("a{}", hex::encode(&bytes[..6]))
    }

    /// The blind-index entries of a record (its e-mail and phone).
    pub(crate) fn index_entries(&self, record: &CustomerRecord) -> Vec<IndexEntry> {
        [
            (BlindIndexKind::Email, record.email.as_str()),
            (BlindIndexKind::Phone, record.phone.as_str()),
        ]
        .into_iter()
        .map(|(kind, value)| IndexEntry {
            kind,
            value: self.indexer.index_normalised(kind, value),
        })
        .collect()
    }

    /// The keyed hashes of a record's login identifiers (its e-mail and phone), as the token
    /// authority stores them.
    pub(crate) fn login_hashes(&self, record: &CustomerRecord) -> Result<Vec<[u8; 32]>, Error> {
        Ok(vec![
            self.authority
                .accounts()
                .login_hash(&LoginIdentifier::Email(record.email.as_str().to_string()))?,
            self.authority
                .accounts()
                .login_hash(&LoginIdentifier::Phone(record.phone.as_str().to_string()))?,
        ])
    }

    /// Unwraps a stored record's data key.
    pub(crate) fn unwrap_data_key(&self, stored: &EncryptedRecord) -> Result<DataKey, Error> {
        self.unwrap_key_of(
            &stored.customer_id,
            &stored.wrapped_data_key,
            stored.key_version,
        )
    }

    /// Unwraps the data key of `customer_id` from its stored form.
    pub(crate) fn unwrap_key_of(
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

    /// Seals `fields` of a new record under `data_key`, wrapping the key under the master key.
    pub(crate) fn seal(
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

    /// Reads and decrypts a whole record.
    pub(crate) async fn open_record(
        &self,
        customer_id: &str,
    ) -> Result<(CustomerRecord, EncryptedRecord), Error> {
        let stored = self
            .store
            .record(customer_id)
            .await?
            .ok_or(crate::Denial::NotFound)?;
        let record = self.open_fields(&stored, &PiiField::ALL)?;
        Ok((record, stored))
    }

    /// Decrypts `wanted` plus the fields a record cannot be rebuilt without.
    pub(crate) fn open_fields(
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

/// The fields a record holds a value of, by name (for events).
pub(crate) fn present_fields(record: &CustomerRecord) -> Vec<&'static str> {
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
