//! Breach notices (`haechi scope --out`): an operator's read of contact channels.

use std::collections::HashMap;

use haechi_events::{Decision, EventKind, SecurityEvent};

use haechi_token::AdminGrant;

use super::Vault;
use crate::{Error, PiiField};

/// The purpose recorded when an operator reads contact channels to notify exposed customers.
pub const PURPOSE_NOTIFICATION: &str = "notification";

/// How [`Vault::notice_contacts`] shows the channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeDisclosure {
    /// Masked (`h***@example.com`, `010-****-5678`): enough to review a notice list.
    Masked,
    /// Plaintext: the export that notices are sent from.
    Plaintext,
}

/// A customer's channels for a breach notice; both `None` when the vault holds no record for
/// the id (never created here, or crypto-shredded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeContact {
    /// The customer.
    pub customer_id: String,
    /// E-mail, as disclosed.
    pub email: Option<String>,
    /// Phone, as disclosed.
    pub phone: Option<String>,
}

impl Vault {
    /// An operator (the command line, an administrator) reads the e-mail and phone of
    /// `customer_ids` to notify them of a breach. Every customer found is recorded as a
    /// `pii.read` by `operator` with purpose `notification`, fields `email` and `phone`, and
    /// decision `allow` (plaintext) or `mask`; each event is durable before any channel is
    /// returned. Ids without a record come back with no channels and no event. Callers
    /// holding many ids call this for chunks concurrently, so the audit log commits their
    /// events in groups.
    pub async fn notice_contacts(
        &self,
        grant: &AdminGrant,
        customer_ids: &[String],
        disclosure: NoticeDisclosure,
    ) -> Result<Vec<NoticeContact>, Error> {
        let (operator, context) = (grant.actor(), grant.context());
        let records = self.store.records(customer_ids).await?;
        let mut found = HashMap::with_capacity(records.len());
        for stored in &records {
            let record =
                self.open_fields(stored, &[PiiField::Name, PiiField::Email, PiiField::Phone])?;
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
            self.emit(
                SecurityEvent::new(self.clock.now(), EventKind::PiiRead, operator.clone())
                    .context(context)
                    .customer(&stored.customer_id)
                    .fields([PiiField::Email.as_str(), PiiField::Phone.as_str()])
                    .purpose(PURPOSE_NOTIFICATION)
                    .outcome(decision, 200),
            )
            .await?;
            found.insert(stored.customer_id.clone(), (email, phone));
        }
        Ok(customer_ids
            .iter()
            .map(|id| {
                let channels = found.remove(id);
                NoticeContact {
                    customer_id: id.clone(),
                    email: channels.as_ref().map(|(email, _)| email.clone()),
                    phone: channels.map(|(_, phone)| phone),
                }
            })
            .collect())
    }
}
