//! A customer's life in the vault: created by a service holding the `account` purpose,
//! crypto-shredded by one holding `erasure`.

use std::sync::Arc;

use haechi_events::{EventKind, Principal, RequestContext};
use haechi_token::{NewAccount, VerifiedToken};

use crate::shared::{VaultCore, present_fields};
use crate::{CustomerInput, DataKey, Denial, Error, PiiField};

/// The purpose a service must declare (and hold) to create customers.
pub const PURPOSE_ACCOUNT: &str = "account";
/// The purpose a service must declare (and hold) to crypto-shred customers.
pub const PURPOSE_ERASURE: &str = "erasure";

/// Services creating and crypto-shredding customers.
#[derive(Debug)]
pub struct Lifecycle {
    core: Arc<VaultCore>,
}

impl Lifecycle {
    pub(crate) fn new(core: Arc<VaultCore>) -> Self {
        Lifecycle { core }
    }

    /// Creates a customer (service with the `account` purpose): validates every field,
    /// creates the login account, seals the record. Returns the new id.
    pub async fn create(
        &self,
        token: &VerifiedToken,
        input: CustomerInput,
        context: &RequestContext,
    ) -> Result<String, Error> {
        let core = &self.core;
        let service = require_service(token, PURPOSE_ACCOUNT)?;
        let record = input
            .validate(core.today(), || core.new_address_id())
            .map_err(Error::Invalid)?;
        let customer_id = core.authority.accounts().new_customer_id();
        core.authority
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
        let data_key = DataKey::generate(&*core.random);
        let now = core.clock.now();
        let sealed = core.seal(&customer_id, &data_key, &record, &PiiField::ALL, now, now)?;
        if let Err(error) = core
            .store
            .insert_record(&sealed, &core.index_entries(&record))
            .await
        {
            // Undo the login so a failed create leaves nothing behind.
            let _ = core.store.shred(&customer_id).await;
            return Err(error.into());
        }
        core.emit(
            core.event(EventKind::PiiWrite, token, context)
                .customer(&customer_id)
                .fields(present_fields(&record))
                .purpose(PURPOSE_ACCOUNT)
                .detail("service", service),
        )
        .await?;
        Ok(customer_id)
    }

    /// Crypto-shreds a customer (service with the `erasure` purpose).
    pub async fn delete(
        &self,
        token: &VerifiedToken,
        customer_id: &str,
        context: &RequestContext,
    ) -> Result<(), Error> {
        let core = &self.core;
        require_service(token, PURPOSE_ERASURE)?;
        // Sessions end first: if the shred then fails, the customer is logged out with their
        // data intact (retry the erasure); the other order could leave an erased customer's
        // tokens working. Through the authority's API: the vault never touches its tables.
        core.authority
            .sessions()
            .end_customer_sessions(customer_id, "erased", token.principal(), context)
            .await?;
        // Then the login account (the authority's table, through its API), then the record:
        // one orchestrating call, each part writing only its own tables.
        let had_account = core.authority.accounts().erase(customer_id).await?;
        let existed = core.store.shred(customer_id).await? || had_account;
        let event = core
            .event(EventKind::PiiDelete, token, context)
            .customer(customer_id)
            .fields(PiiField::ALL.iter().map(|field| field.as_str()))
            .purpose(PURPOSE_ERASURE);
        if !existed {
            core.emit(Denial::NotFound.stamp(event)).await?;
            return Err(Denial::NotFound.into());
        }
        core.emit(event.detail("method", "crypto_shred")).await
    }
}

/// The service the token belongs to, if it holds `purpose` (not recorded when refused).
fn require_service(token: &VerifiedToken, purpose: &'static str) -> Result<String, Denial> {
    match token.principal() {
        Principal::Service(name) if token.has_scope(purpose) => Ok(name.clone()),
        Principal::Service(name) => Err(Denial::PurposeNotHeld {
            service: name.clone(),
            purpose,
        }),
        _ => Err(Denial::ServiceOnly { purpose }),
    }
}
