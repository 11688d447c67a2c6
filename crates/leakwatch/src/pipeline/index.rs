//! Where the vault finds a dump's candidates (`--index`), and opening the session that does.

use std::sync::Arc;

use haechi_token::AdminGrant;
use haechi_vault::{LeakSession, Vault};

use crate::{Error, Progress};

/// How candidates are found (`--index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IndexChoice {
    /// By the dump's size and the vault's ([`auto_index`]).
    Auto,
    /// Every customer record opened once, rows matched in memory.
    Vault,
    /// The whole blind index read into memory once.
    Snapshot,
    /// Each batch's values looked up in the database.
    Lookups,
}

/// Dumps at least this large are matched over a snapshot of the blind index under `--index
/// auto` (unless the whole vault is cheaper). Reading the snapshot costs one pass over the
/// index (about a second per million customers here); lookups cost a database probe per
/// distinct value, several times a snapshot's search. From ~150,000 rows on, the snapshot wins
/// even against a vault of millions; below, a paste against a large vault would wait on the
/// pass for nothing.
const SNAPSHOT_FROM_BYTES: u64 = 16 * 1024 * 1024;

/// Under `--index auto`, the whole vault is opened once when the dump has at least one row
/// per this many customers: with truncated blind indexes most customers become candidates
/// of a dump that size anyway, and one pass in storage order costs less than chasing them
/// one by one (BENCHMARKS.md, "leak match over the whole vault").
const VAULT_PASS_CUSTOMERS_PER_ROW: u64 = 4;
/// ... and at least this many rows: below, either way takes seconds, and decrypting only
/// the candidates opens fewer records.
const VAULT_PASS_MIN_ROWS: u64 = 100_000;

/// What `--index auto` takes for a dump of `size` bytes (0: standard input) and about
/// `estimated_rows` rows against `customers` customers.
fn auto_index(size: u64, estimated_rows: Option<u64>, customers: u64) -> IndexChoice {
    match estimated_rows {
        Some(rows)
            if rows >= VAULT_PASS_MIN_ROWS
                && rows.saturating_mul(VAULT_PASS_CUSTOMERS_PER_ROW) >= customers =>
        {
            IndexChoice::Vault
        }
        _ if size >= SNAPSHOT_FROM_BYTES => IndexChoice::Snapshot,
        _ => IndexChoice::Lookups,
    }
}

/// Opens the leak session `choice` asks for (deciding `auto` by the dump's `size` and
/// `estimated_rows`).
pub(super) async fn open_session(
    vault: &Arc<Vault>,
    grant: &AdminGrant,
    choice: IndexChoice,
    size: u64,
    estimated_rows: Option<u64>,
    progress: &dyn Progress,
) -> Result<LeakSession, Error> {
    let choice = match choice {
        IndexChoice::Auto => {
            let customers = vault
                .customer_count_estimate()
                .await
                .map_err(Error::CountCustomers)?;
            auto_index(size, estimated_rows, customers)
        }
        asked => asked,
    };
    Ok(match choice {
        IndexChoice::Vault => {
            progress.vault_pass_started();
            let session = vault
                .leak_pass()
                .leak_session_over_vault(grant, &|opened| progress.vault_pass_advanced(opened))
                .await
                .map_err(Error::OpenRecords)?;
            progress.vault_pass_finished();
            session
        }
        IndexChoice::Snapshot => vault
            .leak_pass()
            .leak_session_over_snapshot(grant)
            .await
            .map_err(Error::ReadBlindIndex)?,
        IndexChoice::Lookups | IndexChoice::Auto => vault.leak_pass().leak_session(grant),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_index_opens_the_vault_only_for_dumps_of_its_order() {
        const MIB: u64 = 1024 * 1024;
        // Standard input: size and rows unknown.
        assert_eq!(auto_index(0, None, 10), IndexChoice::Lookups);
        // A paste against a small vault: lookups, whatever the ratio.
        assert_eq!(auto_index(MIB, Some(10_000), 100), IndexChoice::Lookups);
        // A large dump, small against the vault: the snapshot.
        assert_eq!(
            auto_index(20 * MIB, Some(200_000), 10_000_000),
            IndexChoice::Snapshot
        );
        // A row per four customers or more: the whole vault.
        assert_eq!(
            auto_index(250 * MIB, Some(2_500_000), 10_000_000),
            IndexChoice::Vault
        );
        assert_eq!(
            auto_index(990 * MIB, Some(10_000_000), 10_000_000),
            IndexChoice::Vault
        );
    }
}
