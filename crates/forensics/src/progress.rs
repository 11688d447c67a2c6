//! How a long scan or generation tells the caller how far it is.

/// Told how a long scan goes (the command line draws a progress bar).
pub trait Progress: Sync {
    /// A phase starts with `total` units of work.
    fn phase(&self, name: &str, total: u64);
    /// `units` more are done.
    fn advance(&self, units: u64);
    /// The scan is over.
    fn finish(&self);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _name: &str, _total: u64) {}
    fn advance(&self, _units: u64) {}
    fn finish(&self) {}
}
