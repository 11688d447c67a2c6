//! Where the audit trail is: the archive directories and the live log.

use std::path::PathBuf;

/// Where the audit trail is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sources {
    /// Parquet archive directories.
    pub archives: Vec<PathBuf>,
    /// The live log directory (`<data_dir>/audit`), if there is one to read.
    pub live_log: Option<PathBuf>,
}
