//! Bulk import by the operator (`haechi customers import`): lines validated and sealed on
//! every core, stored a batch per transaction together with the import's progress, so a
//! stopped import resumes. Sealing and storing are separate steps ([`BulkImport::seal_batch`],
//! [`BulkImport::store_batch`]) so a caller can seal the next batch while the store writes
//! this one.

use std::sync::Arc;

use haechi_events::{EventKind, SecurityEvent, Timestamp};
use haechi_token::{AccountRecord, AdminGrant};
use zeroize::Zeroizing;

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

/// A batch whose good lines are validated and sealed, ready for [`BulkImport::store_batch`].
/// Holds ciphertext and keyed hashes only; the plaintext lines are gone.
#[derive(Debug)]
pub struct SealedBatch {
    /// The batch's last line (the import's progress once it is stored).
    last_line: Option<u64>,
    sealed: Vec<SealedLine>,
    items: Vec<ImportItem>,
    rejected: Vec<(u64, String)>,
    sealed_at: Timestamp,
}

impl SealedBatch {
    /// Lines in the batch (good and rejected).
    pub fn len(&self) -> usize {
        self.sealed.len() + self.rejected.len()
    }

    /// Whether the batch has no line.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The operator's bulk import of customers.
#[derive(Debug)]
pub struct BulkImport {
    core: Arc<VaultCore>,
}

/// One good line of a batch, sealed: its item is stored, the rest names it in the outcome and
/// its event.
#[derive(Debug)]
struct SealedLine {
    line: u64,
    customer_id: String,
    fields: Vec<&'static str>,
}

impl BulkImport {
    pub(crate) fn new(core: Arc<VaultCore>) -> Self {
        BulkImport { core }
    }

    /// Seals and stores one batch ([`BulkImport::seal_batch`], then
    /// [`BulkImport::store_batch`]).
    pub async fn import_batch(
        &self,
        source: &str,
        lines: Vec<(u64, Result<CustomerInput, String>)>,
        grant: &AdminGrant,
    ) -> Result<ImportOutcome, Error> {
        let batch = self.seal_batch(lines).await?;
        self.store_batch(source, batch, grant).await
    }

    /// Validates each line and seals the good ones, on every core: the lines are split into
    /// one share per core, each sealed on a blocking thread. The passwords of good lines that
    /// have one are then hashed on the token authority's bounded argon2 pool. Lines that are
    /// not valid are rejected with a reason; nothing is stored.
    pub async fn seal_batch(
        &self,
        lines: Vec<(u64, Result<CustomerInput, String>)>,
    ) -> Result<SealedBatch, Error> {
        let now = self.core.clock.now();
        let last_line = lines.iter().map(|(line, _)| *line).max();
        let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
        let share = lines.len().div_ceil(cores).max(1);
        let mut workers = Vec::with_capacity(cores);
        let mut lines = lines.into_iter();
        loop {
            let chunk: Vec<_> = lines.by_ref().take(share).collect();
            if chunk.is_empty() {
                break;
            }
            let core = Arc::clone(&self.core);
            workers.push(tokio::task::spawn_blocking(move || {
                chunk
                    .into_iter()
                    .map(|(line, input)| seal_line(&core, line, input, now))
                    .collect::<Vec<_>>()
            }));
        }
        let (mut sealed, mut items, mut passwords, mut rejected) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for worker in workers {
            let results = worker
                .await
                .map_err(|error| Error::Worker(error.to_string()))?;
            for result in results {
                match result? {
                    Ok((good, item, password)) => {
                        sealed.push(good);
                        items.push(item);
                        passwords.push(password);
                    }
                    Err(reason) => rejected.push(reason),
                }
            }
        }
        let accounts = self.core.authority.accounts();
        let hashes = futures::future::join_all(passwords.into_iter().map(|password| async move {
            match password {
                Some(password) => accounts.hash_password(password).await.map(Some),
                None => Ok(None),
            }
        }))
        .await;
        for (item, hash) in items.iter_mut().zip(hashes) {
            item.account.password_hash = hash?;
        }
        Ok(SealedBatch {
            last_line,
            sealed,
            items,
            rejected,
            sealed_at: now,
        })
    }

    /// Stores a sealed batch in one transaction together with the import's progress. Lines
    /// whose e-mail or phone is taken are rejected; the good lines go in regardless. Each
    /// imported customer is one `pii.write` by the operator with purpose `import`, all of the
    /// batch's events committed together.
    pub async fn store_batch(
        &self,
        source: &str,
        batch: SealedBatch,
        grant: &AdminGrant,
    ) -> Result<ImportOutcome, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        let mut outcome = ImportOutcome {
            imported: Vec::with_capacity(batch.sealed.len()),
            rejected: batch.rejected,
        };
        let Some(last_line) = batch.last_line else {
            return Ok(outcome);
        };
        let inserted = self
            .core
            .store
            .import_batch(source, last_line, &batch.items)
            .await?;
        let mut events = Vec::with_capacity(batch.sealed.len());
        for (good, inserted) in batch.sealed.into_iter().zip(inserted) {
            if inserted {
                events.push(
                    SecurityEvent::new(batch.sealed_at, EventKind::PiiWrite, actor.clone())
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
}

/// One line validated and sealed, with its login account (its password, if any, still to
/// hash); `Ok(Err((line, reason)))` when the line is rejected. Runs on a blocking thread.
#[allow(clippy::type_complexity, reason = "one private worker's result")]
fn seal_line(
    core: &VaultCore,
    line: u64,
    parsed: Result<CustomerInput, String>,
    now: Timestamp,
) -> Result<Result<(SealedLine, ImportItem, Option<Zeroizing<String>>), (u64, String)>, Error> {
    let input = match parsed {
        Ok(input) => input,
        Err(reason) => return Ok(Err((line, reason))),
    };
    let record = match input.validate(core.today(), || core.new_address_id()) {
        Ok(record) => record,
        Err(errors) => {
            let reason = errors
                .iter()
                .map(|error| format!("{}: {}", error.field, error.message))
                .collect::<Vec<_>>()
                .join("; ");
            return Ok(Err((line, reason)));
        }
    };
    let customer_id = core.authority.accounts().new_customer_id();
    let login_hashes = core.login_hashes(&record)?;
    let data_key = DataKey::generate(&*core.random);
    let sealed = core.seal(&customer_id, &data_key, &record, &PiiField::ALL, now, now)?;
    let item = ImportItem {
        record: sealed,
        indexes: core.index_entries(&record),
        account: AccountRecord {
            customer_id: customer_id.clone(),
            login_hashes,
            password_hash: None,
            created_at: now,
        },
    };
    let good = SealedLine {
        line,
        customer_id,
        fields: present_fields(&record),
    };
    Ok(Ok((good, item, input.password)))
}
