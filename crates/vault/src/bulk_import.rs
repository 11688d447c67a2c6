//! Bulk import by the operator (`haechi customers import`): lines validated and sealed, stored
//! a batch per transaction together with the import's progress, so a stopped import resumes.

use std::sync::Arc;

use haechi_events::{EventKind, SecurityEvent, Timestamp};
use haechi_token::{AccountRecord, AdminGrant};

use crate::shared::{VaultCore, present_fields};
use crate::{CustomerInput, DataKey, Error, ImportItem, PiiField};

/// What a bulk-import batch did.
#[derive(Debug, Clone, Default)]
pub struct ImportOutcome {
    /// `(line, customer id)` of every imported customer.
    pub imported: Vec<(u64, String)>,
    /// `(line, reason)` of every rejected line.
    pub rejected: Vec<(u64, String)>,
}

/// The operator's bulk import of customers.
#[derive(Debug)]
pub struct BulkImport {
    core: Arc<VaultCore>,
}

/// One good line of a batch, sealed: its item is stored, the rest names it in the outcome and
/// its event.
struct SealedLine {
    line: u64,
    customer_id: String,
    fields: Vec<&'static str>,
}

impl BulkImport {
    pub(crate) fn new(core: Arc<VaultCore>) -> Self {
        BulkImport { core }
    }

    /// Validates each line, seals the good ones and stores the batch in one transaction
    /// together with the import's progress. Invalid lines and lines whose e-mail or phone is
    /// taken are rejected with a reason; the good lines go in regardless. Each imported
    /// customer is one `pii.write` by the operator with purpose `import`.
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
        let now = self.core.clock.now();
        let (mut sealed, mut items) = (Vec::new(), Vec::new());
        for (line, parsed) in lines {
            match self.seal_line(line, parsed, now).await? {
                Ok((good, item)) => {
                    sealed.push(good);
                    items.push(item);
                }
                Err(reason) => outcome.rejected.push((line, reason)),
            }
        }
        let inserted = self
            .core
            .store
            .import_batch(source, last_line, &items)
            .await?;
        let mut events = Vec::new();
        for (good, inserted) in sealed.into_iter().zip(inserted) {
            if inserted {
                events.push(
                    SecurityEvent::new(now, EventKind::PiiWrite, actor.clone())
                        .context(context)
                        .customer(&good.customer_id)
                        .fields(good.fields)
                        .purpose("import"),
                );
                outcome.imported.push((good.line, good.customer_id));
            } else {
                outcome.rejected.push((
                    good.line,
                    "a customer with this e-mail or phone already exists".into(),
                ));
            }
        }
        // All at once, so a durable sink commits the batch's events with one fsync.
        for result in
            futures::future::join_all(events.into_iter().map(|event| self.core.emit(event))).await
        {
            result?;
        }
        outcome.rejected.sort_by_key(|(line, _)| *line);
        Ok(outcome)
    }

    /// The last committed line of an import source.
    pub async fn import_progress(&self, source: &str) -> Result<Option<u64>, Error> {
        Ok(self.core.store.import_progress(source).await?)
    }

    /// One line validated and sealed, with its login account; `Ok(Err(reason))` when the line
    /// is rejected.
    async fn seal_line(
        &self,
        line: u64,
        parsed: Result<CustomerInput, String>,
        now: Timestamp,
    ) -> Result<Result<(SealedLine, ImportItem), String>, Error> {
        let core = &self.core;
        let input = match parsed {
            Ok(input) => input,
            Err(reason) => return Ok(Err(reason)),
        };
        let record = match input.validate(core.today(), || core.new_address_id()) {
            Ok(record) => record,
            Err(errors) => {
                let reason = errors
                    .iter()
                    .map(|error| format!("{}: {}", error.field, error.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                return Ok(Err(reason));
            }
        };
        let customer_id = core.authority.accounts().new_customer_id();
        let login_hashes = core.login_hashes(&record)?;
        let password_hash = match &input.password {
            Some(password) => Some(
                core.authority
                    .accounts()
                    .hash_password(password.clone())
                    .await?,
            ),
            None => None,
        };
        let data_key = DataKey::generate(&*core.random);
        let sealed = core.seal(&customer_id, &data_key, &record, &PiiField::ALL, now, now)?;
        let item = ImportItem {
            record: sealed,
            indexes: core.index_entries(&record),
            account: AccountRecord {
                customer_id: customer_id.clone(),
                login_hashes,
                password_hash,
                created_at: now,
            },
        };
        let good = SealedLine {
            line,
            customer_id,
            fields: present_fields(&record),
        };
        Ok(Ok((good, item)))
    }
}
