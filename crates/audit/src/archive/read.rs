//! Reading archive files back: every file of a directory in seq order, each row decoded into
//! a record or the reason it does not decode.

use std::fs::File;
use std::path::{Path, PathBuf};

use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};

use super::layout::{ARCHIVE_CHECKPOINTS_FILE, first_seq_of_name};
use super::schema::{BatchColumns, FORMAT_KEY, FORMAT_VERSION, archive_schema, row_to_record};
use crate::checkpoint::{Checkpoint, read_checkpoints};
use crate::error::IoContext;
use crate::{AuditRecord, Error};

/// Every Parquet file under an archive directory, in seq order (by the first seq in the file
/// name; files not named by the exporter sort last, by path).
pub(crate) fn list_archive_files(dir: &Path) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).at(&current)? {
            let entry = entry.at(&current)?;
            let path = entry.path();
            let kind = entry.file_type().at(&path)?;
            if kind.is_dir() {
                pending.push(path);
            } else if path
                .extension()
                .is_some_and(|extension| extension == "parquet")
            {
                files.push(path);
            }
        }
    }
    files.sort_by_key(|path| (first_seq_of_name(path).unwrap_or(u64::MAX), path.clone()));
    Ok(files)
}

/// Opens the Parquet file at `path` for reading, refusing a file without the archive's marker
/// or whose columns are not the archive schema.
pub(super) fn open_archive_file(
    path: &Path,
) -> Result<ParquetRecordBatchReaderBuilder<File>, Error> {
    let file = File::open(path).at(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(|error| Error::archive(path, format!("not a readable Parquet file: {error}")))?;
    let marked = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .is_some_and(|pairs| {
            pairs
                .iter()
                .any(|pair| pair.key == FORMAT_KEY && pair.value.as_deref() == Some(FORMAT_VERSION))
        });
    if !marked {
        return Err(Error::archive(
            path,
            "not a Haechi audit archive (no haechi.audit.format marker)",
        ));
    }
    let expected = archive_schema();
    let schema = builder.schema();
    for field in expected.fields() {
        match schema.field_with_name(field.name()) {
            Ok(found) if found.data_type() == field.data_type() => {}
            Ok(found) => {
                return Err(Error::archive(
                    path,
                    format!(
                        "column {} has type {}, expected {}",
                        field.name(),
                        found.data_type(),
                        field.data_type()
                    ),
                ));
            }
            Err(_) => {
                return Err(Error::archive(
                    path,
                    format!("missing column {}", field.name()),
                ));
            }
        }
    }
    Ok(builder)
}

/// One archive row: its index in the file, and its record or why it does not decode.
pub(crate) type ArchiveRow = (u64, Result<AuditRecord, String>);

/// Reads one archive file's rows in order, each decoded into a record or the reason it does
/// not decode.
pub(crate) struct ArchiveFileReader {
    path: PathBuf,
    batches: ParquetRecordBatchReader,
    /// The batch being read (its columns, or why they are not the archive's) and the next
    /// row in it.
    current: Option<(usize, Result<BatchColumns, String>, usize)>,
    row: u64,
    /// The Parquet decoder failed inside (see [`ArchiveFileReader::next_row`]); nothing more
    /// is read from this file.
    broken: bool,
}

impl ArchiveFileReader {
    /// Opens `path`, refusing a file whose columns are not the archive schema.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let builder = open_archive_file(path)?;
        let batches = builder
            .with_batch_size(8192)
            .build()
            .map_err(|error| Error::archive(path, error))?;
        Ok(ArchiveFileReader {
            path: path.to_path_buf(),
            batches,
            current: None,
            row: 0,
            broken: false,
        })
    }

    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The next row: its index in the file and the record (or why it does not decode).
    pub fn next_row(&mut self) -> Result<Option<ArchiveRow>, Error> {
        loop {
            if let Some((rows, columns, index)) = self.current.as_mut() {
                if *index < *rows {
                    // Columns that are not the archive's: every row of the batch says why.
                    let record = match columns {
                        Ok(columns) => row_to_record(columns, *index),
                        Err(reason) => Err(reason.clone()),
                    };
                    *index += 1;
                    let row = self.row;
                    self.row += 1;
                    return Ok(Some((row, record)));
                }
                self.current = None;
            }
            if self.broken {
                return Ok(None);
            }
            // parquet 60 panics on some corrupt pages ("Decoder for dict should have been
            // set") instead of returning an error. Archives are read to find tampering, so a
            // corrupt file is a problem to report, never a crash of the verifier or the
            // server; the decoder's state after the panic is not trusted again.
            let next =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.batches.next()));
            match next {
                Ok(Some(Ok(batch))) => {
                    self.current = Some((batch.num_rows(), BatchColumns::of(&batch), 0));
                }
                Ok(Some(Err(error))) => return Err(Error::archive(&self.path, error)),
                Ok(None) => return Ok(None),
                Err(_) => {
                    self.broken = true;
                    return Err(Error::archive(
                        &self.path,
                        "corrupt Parquet data: the decoder failed",
                    ));
                }
            }
        }
    }
}

/// Records read back from an archive directory, in seq order. Each record's `hash` is the one
/// stored in the archive; compare it with [`AuditRecord::computed_hash`] (or run
/// [`crate::verify`]) to check it.
pub struct ArchiveRecords {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<ArchiveFileReader>,
}

impl std::fmt::Debug for ArchiveRecords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveRecords").finish_non_exhaustive()
    }
}

impl Iterator for ArchiveRecords {
    type Item = Result<AuditRecord, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_located()
            .map(|result| result.map(|located| located.record))
    }
}

/// A record read back from an archive file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedRecord {
    /// The record as stored (its `hash` the stored one).
    pub record: AuditRecord,
    /// The Parquet file.
    pub path: PathBuf,
    /// Its row in the file, from 0.
    pub row: u64,
}

impl ArchiveRecords {
    /// The next record with its file and row. A row that does not decode, or a file that
    /// cannot be read, is an `Err` and reading goes on after it (with the next row, or the
    /// next file).
    pub fn next_located(&mut self) -> Option<Result<ArchivedRecord, Error>> {
        loop {
            if self.current.is_none() {
                let path = self.files.next()?;
                match ArchiveFileReader::open(&path) {
                    Ok(reader) => self.current = Some(reader),
                    Err(error) => return Some(Err(error)),
                }
            }
            let reader = self.current.as_mut()?;
            match reader.next_row() {
                Ok(Some((row, record))) => {
                    let path = reader.path.clone();
                    return Some(match record {
                        Ok(record) => Ok(ArchivedRecord { record, path, row }),
                        Err(reason) => Err(Error::archive(path, format!("row {row}: {reason}"))),
                    });
                }
                Ok(None) => self.current = None,
                Err(error) => {
                    self.current = None;
                    return Some(Err(error));
                }
            }
        }
    }
}

/// Reads every record of the archive in `dir` back, file by file in seq order.
pub fn read_archive(dir: &Path) -> Result<ArchiveRecords, Error> {
    Ok(ArchiveRecords {
        files: list_archive_files(dir)?.into_iter(),
        current: None,
    })
}

/// The `_checkpoints` copy of an archive directory, entry by entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArchiveCheckpoints {
    /// The file.
    pub path: PathBuf,
    /// Each whole entry with its index, or why it does not decode.
    pub entries: Vec<(usize, Result<Checkpoint, String>)>,
    /// Whether the file ends in a partial entry (damage: an archive copy is written whole).
    pub torn: bool,
}

/// Reads the `_checkpoints` copy of the archive in `dir` (none there: no entries).
pub fn read_archive_checkpoints(dir: &Path) -> Result<ArchiveCheckpoints, Error> {
    let path = dir.join(ARCHIVE_CHECKPOINTS_FILE);
    let file = read_checkpoints(&path)?;
    Ok(ArchiveCheckpoints {
        path,
        entries: file.entries,
        torn: file.torn_bytes > 0,
    })
}
