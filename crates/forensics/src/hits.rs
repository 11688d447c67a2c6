//! What a scan keeps of a matching event, from the archive or the live log alike.

use std::sync::{Arc, Mutex};

use crate::Error;

/// One matching event, as much of it as a scope needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Hit {
    /// The node whose chain holds the record (`None`: a single log's): seqs are unique only
    /// within one chain.
    pub node: Option<Arc<str>>,
    pub seq: u64,
    pub time: i64,
    pub customer: Option<Box<str>>,
    /// Bits of [`FieldTable`].
    pub fields: u64,
}

/// Field names met while scanning, each given one bit. Shared by all workers; the bits are
/// only ever turned back into names, so the order they were handed out in does not matter.
#[derive(Debug, Default)]
pub(crate) struct FieldTable {
    names: Mutex<Vec<String>>,
}

impl FieldTable {
    /// The bit of `name`, handing out a new one on first sight.
    pub fn bit(&self, name: &str) -> Result<u64, Error> {
        let mut names = self
            .names
            .lock()
            .map_err(|_| Error::bad_input("fields", "a scan worker panicked"))?;
        if let Some(index) = names.iter().position(|known| known == name) {
            return Ok(1 << index);
        }
        if names.len() == 64 {
            return Err(Error::bad_input(
                "fields",
                "more than 64 distinct field names in the audit trail",
            ));
        }
        names.push(name.to_string());
        Ok(1 << (names.len() - 1))
    }

    /// The names of the bits set in `mask`, sorted.
    pub fn names(&self, mask: u64) -> Vec<String> {
        let names = match self.names.lock() {
            Ok(names) => names.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let mut out: Vec<String> = names
            .iter()
            .enumerate()
            .filter(|(index, _)| mask & (1 << index) != 0)
            .map(|(_, name)| name.clone())
            .collect();
        out.sort();
        out
    }
}
