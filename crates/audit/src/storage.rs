//! How the writer reaches the disk.
//!
//! The writer only ever appends to a file, syncs it, and syncs a directory. Putting those three
//! operations behind a trait lets a test inject the failures that must make the log fail closed
//! (a full disk, an `fsync` error) without root tricks, and keeps the real implementation a
//! dozen lines of `std::fs`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// A file opened for appending.
pub trait AppendFile: Send {
    /// Appends all of `bytes` at the end of the file.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Makes everything appended so far durable (`fdatasync`).
    fn sync_data(&mut self) -> io::Result<()>;
}

/// Where the writer's files live.
pub trait Storage: Send + Sync + fmt::Debug {
    /// Opens `path` for appending, creating it if it does not exist.
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>>;
    /// Makes the directory's entries durable, so a newly created file survives a crash.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileStorage;

impl Storage for FileStorage {
    fn open_append(&self, path: &Path) -> io::Result<Box<dyn AppendFile>> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Box::new(AppendOnlyFile { file }))
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        File::open(dir)?.sync_all()
    }
}

/// A `std::fs::File` opened with `O_APPEND`.
#[derive(Debug)]
struct AppendOnlyFile {
    file: File,
}

impl AppendFile for AppendOnlyFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }
}
