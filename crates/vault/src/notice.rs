//! Breach notices (`haechi scope --out`): an operator's read of contact channels.

use std::collections::HashMap;
use std::sync::Arc;

use haechi_events::{Decision, EventKind, SecurityEvent};

use haechi_token::AdminGrant;
use zeroize::Zeroizing;

use crate::shared::VaultCore;
use crate::{Error, PiiField};

/// The purpose recorded when an operator reads contact channels to notify exposed customers.
pub const PURPOSE_NOTIFICATION: &str = "notification";

/// How [`NoticeContacts::contacts`] shows the channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeDisclosure {
    /// Masked (`h***@example.com`, `010-****-5678`): enough to review a notice list.
    Masked,
    /// Plaintext: the export that notices are sent from.
    Plaintext,
}

/// A customer's channels for a breach notice; both `None` when the vault holds no record for
/// the id (never created here, or crypto-shredded). The channels are wiped from memory when
/// dropped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeContact {
    /// The customer.
    pub customer_id: String,
    /// E-mail, as disclosed.
    pub email: Option<Zeroizing<String>>,
    /// Phone, as disclosed.
    pub phone: Option<Zeroizing<String>>,
}

/// An operator's read of customers' contact channels, to notify them of a breach.
#[derive(Debug)]
pub struct NoticeContacts {
    core: Arc<VaultCore>,
}

impl NoticeContacts {
    pub(crate) fn new(core: Arc<VaultCore>) -> Self {
        NoticeContacts { core }
    }

    /// An operator (the command line, an administrator) reads the e-mail and phone of
    /// `customer_ids` to notify them of a breach. Every customer found is recorded as a
    /// `pii.read` by `operator` with purpose `notification`, fields `email` and `phone`, and
    /// decision `allow` (plaintext) or `mask`; each event is durable before any channel is
    /// returned. Ids without a record come back with no channels and no event. Callers
    /// holding many ids call this for chunks concurrently, so the audit log commits their
    /// events in groups.
    pub async fn contacts(
        &self,
        grant: &AdminGrant,
        customer_ids: &[String],
        disclosure: NoticeDisclosure,
    ) -> Result<Vec<NoticeContact>, Error> {
        let (operator, context) = (grant.actor(), grant.context());
        let records = self.core.store.records(customer_ids).await?;
        let mut found = HashMap::with_capacity(records.len());
        for stored in &records {
            let record = self
                .core
                .open_fields(stored, &[PiiField::Name, PiiField::Email, PiiField::Phone])?;
            let (email, phone, decision) = match disclosure {
                NoticeDisclosure::Masked => {
                    (record.email.masked(), record.phone.masked(), Decision::Mask)
                }
                NoticeDisclosure::Plaintext => (
                    record.email.as_str().to_string(),
                    record.phone.formatted(),
                    Decision::Allow,
                ),
            };
            let channels = (Zeroizing::new(email), Zeroizing::new(phone));
            self.core
                .emit(
                    SecurityEvent::new(self.core.clock.now(), EventKind::PiiRead, operator.clone())
                        .context(context)
                        .customer(&stored.customer_id)
                        .fields([PiiField::Email.as_str(), PiiField::Phone.as_str()])
                        .purpose(PURPOSE_NOTIFICATION)
                        .outcome(decision, 200),
                )
                .await?;
            found.insert(stored.customer_id.clone(), channels);
        }
        Ok(customer_ids
            .iter()
            .map(|id| {
                let (email, phone) = found.remove(id).unzip();
                NoticeContact {
                    customer_id: id.clone(),
                    email,
                    phone,
                }
            })
            .collect())
    }
}
