//! What the pipelines tell the operator while they run.

/// Progress of a run, shown by the caller (the binary draws progress bars). Every method but
/// [`Progress::note`] may ignore what it is told.
pub trait Progress: Sync {
    /// A pass opening every customer record starts.
    fn vault_pass_started(&self) {}

    /// `opened` records of the pass are open so far.
    fn vault_pass_advanced(&self, opened: u64) {
        let _ = opened;
    }

    /// The pass is over.
    fn vault_pass_finished(&self) {}

    /// Reading the input starts; `total_bytes` is 0 when its size is unknown.
    fn reading_started(&self, total_bytes: u64) {
        let _ = total_bytes;
    }

    /// `bytes` more of the input were read.
    fn advanced(&self, bytes: u64) {
        let _ = bytes;
    }

    /// A short status beside the progress (`1200 rows matched`).
    fn status(&self, message: String) {
        let _ = message;
    }

    /// Reading is over.
    fn reading_finished(&self) {}

    /// A line for the operator (a problem with the input), shown without disturbing the
    /// progress display.
    fn note(&self, line: &str);
}
