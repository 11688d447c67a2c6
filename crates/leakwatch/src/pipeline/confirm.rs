//! Stage 3, matching: each chunk's rows go to a task that normalises them and asks the vault
//! to confirm them, a few batches in flight at once.

use std::collections::VecDeque;
use std::sync::Arc;

use haechi_leak::dump::DumpRow;
use haechi_token::AdminGrant;
use haechi_vault::{LeakConfirmation, LeakSession, Vault};
use tokio::task::JoinHandle;

use super::fold::Fold;
use super::normalise::{Probes, normalise};
use crate::Error;

/// Batches of rows at the vault at once: enough to keep both the database and the CPU busy.
const PIPELINE_DEPTH: usize = 6;

/// A batch's probes and what the vault confirmed of them.
pub(super) struct Confirmed {
    pub(super) probes: Probes,
    pub(super) confirmations: Vec<LeakConfirmation>,
}

/// The matching tasks in flight, oldest first.
pub(super) struct Matcher {
    vault: Arc<Vault>,
    session: Arc<LeakSession>,
    grant: Arc<AdminGrant>,
    in_flight: VecDeque<JoinHandle<Result<Confirmed, Error>>>,
}

impl Matcher {
    pub(super) fn new(
        vault: Arc<Vault>,
        session: Arc<LeakSession>,
        grant: Arc<AdminGrant>,
    ) -> Self {
        Self {
            vault,
            session,
            grant,
            in_flight: VecDeque::new(),
        }
    }

    /// Starts matching `rows`; when [`PIPELINE_DEPTH`] batches are in flight, waits for the
    /// oldest ones and folds them.
    pub(super) async fn submit(
        &mut self,
        rows: Vec<DumpRow>,
        fold: &mut Fold,
    ) -> Result<(), Error> {
        let vault = self.vault.clone();
        let session = self.session.clone();
        let grant = Arc::clone(&self.grant);
        self.in_flight.push_back(tokio::spawn(async move {
            let probes = normalise(rows);
            let confirmations = vault
                .leak_pass()
                .confirm_leaked(&session, &probes.probes, &grant)
                .await
                .map_err(Error::Confirm)?;
            Ok(Confirmed {
                probes,
                confirmations,
            })
        }));
        while self.in_flight.len() >= PIPELINE_DEPTH {
            if let Some(task) = self.in_flight.pop_front() {
                fold.absorb(task.await??);
            }
        }
        Ok(())
    }

    /// Waits for every batch still in flight and folds it.
    pub(super) async fn drain(self, fold: &mut Fold) -> Result<(), Error> {
        for task in self.in_flight {
            fold.absorb(task.await??);
        }
        Ok(())
    }
}
