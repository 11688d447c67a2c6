//! The single-writer lock of a log directory.

use std::fs::OpenOptions;
use std::path::Path;

use crate::Error;
use crate::error::IoContext;

/// Takes the exclusive lock on `<dir>/LOCK` that makes this the only writer of the log.
pub(crate) fn lock_dir(dir: &Path) -> Result<std::fs::File, Error> {
    let path = dir.join("LOCK");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(Error::InUse {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(error)) => Err(Error::io(path, error)),
    }
}
