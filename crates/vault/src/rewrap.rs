//! Master-key rotation's share in the vault: every customer data key re-wrapped under the
//! current master key, no field ciphertext touched.

use std::sync::Arc;

use haechi_custody::{SecretContext, WrappedSecret};

use crate::Error;
use crate::shared::VaultCore;

/// Re-wrapping customers' data keys under the current master key.
#[derive(Debug)]
pub struct DataKeyRewrap {
    core: Arc<VaultCore>,
}

impl DataKeyRewrap {
    pub(crate) fn new(core: Arc<VaultCore>) -> Self {
        DataKeyRewrap { core }
    }

    /// Re-wraps every customer data key that is not under the current master key, without
    /// touching any field ciphertext, while the vault keeps serving (every wrapped key names
    /// the master key that sealed it, and the ring opens both). Calls `progress(done, total)`
    /// after each batch. Idempotent: keys already under the current key are skipped, so an
    /// interrupted rotation is finished by running it again. Returns how many were re-wrapped.
    pub async fn rewrap_data_keys(&self, mut progress: impl FnMut(u64, u64)) -> Result<u64, Error> {
        let core = &self.core;
        let total = core.store.count().await?;
        let mut after: Option<String> = None;
        let (mut seen, mut rewrapped_total) = (0u64, 0u64);
        loop {
            let batch = core.store.wrapped_keys(after.as_deref(), 1000).await?;
            let Some((last, _)) = batch.last() else {
                break;
            };
            after = Some(last.clone());
            let mut rewrapped = Vec::with_capacity(batch.len());
            for (customer_id, bytes) in &batch {
                let wrapped = WrappedSecret::from_bytes(bytes)?;
                let context = SecretContext::customer_data_key(customer_id);
                if let Some(moved) =
                    core.master_key
                        .rewrap_to_current(&context, &wrapped, &*core.random)?
                {
                    rewrapped.push((customer_id.clone(), moved.to_bytes()));
                }
            }
            core.store.rewrap_keys(&rewrapped).await?;
            seen += batch.len() as u64;
            rewrapped_total += rewrapped.len() as u64;
            progress(seen, total);
        }
        Ok(rewrapped_total)
    }
}
