//! Free space of the volume holding the log.
//!
//! A full disk fails the log closed (every audited act then answers 503). Watching the free
//! space lets an operator act before that: [`crate::AuditLog::check_volume`] compares it with a
//! headroom and says when it crosses it.

use std::path::Path;

use crate::Error;

/// Space on a volume, as an unprivileged process may use it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VolumeSpace {
    /// Bytes available to this process (`f_bavail`: excludes blocks reserved for root).
    pub free_bytes: u64,
    /// Size of the volume in bytes.
    pub total_bytes: u64,
}

impl VolumeSpace {
    /// Free bytes as a percentage of the volume (0 for a volume of size 0).
    pub fn free_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        self.free_bytes as f64 * 100.0 / self.total_bytes as f64
    }
}

/// Whether a volume check crossed the headroom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Crossing {
    /// Free space fell below the headroom at this check.
    BecameLow,
    /// Free space is back above the headroom at this check.
    Recovered,
    /// Same side as at the previous check.
    Unchanged,
}

/// The outcome of [`crate::AuditLog::check_volume`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VolumeCheck {
    /// What the volume has.
    pub space: VolumeSpace,
    /// Whether this check crossed the headroom.
    pub crossing: Crossing,
}

/// The space of the volume holding `path` (`statvfs`).
pub fn volume_space(path: &Path) -> Result<VolumeSpace, Error> {
    let stat = rustix::fs::statvfs(path).map_err(|error| Error::Io {
        path: path.to_path_buf(),
        source: error.into(),
    })?;
    let fragment = stat.f_frsize.max(1);
    Ok(VolumeSpace {
        free_bytes: stat.f_bavail.saturating_mul(fragment),
        total_bytes: stat.f_blocks.saturating_mul(fragment),
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn the_volume_of_a_directory_has_some_size_and_at_most_all_of_it_free() {
        let dir = tempfile::tempdir().unwrap();
        let space = volume_space(dir.path()).unwrap();
        assert!(space.total_bytes > 0);
        assert!(space.free_bytes <= space.total_bytes);
        assert!((0.0..=100.0).contains(&space.free_percent()));
    }
}
