//! The archive's files: found under the archive directories with what their names and `day=`
//! partitions say, and checked by their footers to be Haechi audit archives.

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parquet::arrow::arrow_reader::ArrowReaderMetadata;

use crate::Error;

/// Key-value metadata that marks a Parquet file as a Haechi audit archive (see the audit
/// crate's `SCHEMA.md`).
const FORMAT_KEY: &str = "haechi.audit.format";
const FORMAT_VERSION: &str = "1";

/// An archive file found under an archive directory.
#[derive(Debug, Clone)]
pub(crate) struct ArchiveFile {
    /// Index of the archive directory it was found in.
    pub archive: usize,
    /// Its path relative to that directory (`day=…/part-….parquet`).
    pub relative: String,
    pub path: PathBuf,
    /// `[start, end)` in µs of its `day=` partition, if it sits in one.
    pub day: Option<(i64, i64)>,
    /// The seq range its name states (`part-<first>-<last>`).
    pub named_seqs: Option<(u64, u64)>,
    /// The node whose chain it holds, from the `node=<id>` directory it sits under (a
    /// cluster's archive); `None` in the archive of a single log. Seqs are unique per chain.
    pub node: Option<Arc<str>>,
}

/// Every `*.parquet` file under `dir` (hidden temporaries skipped), in seq order of the names.
pub(crate) fn list_files(archive: usize, dir: &Path) -> Result<Vec<ArchiveFile>, Error> {
    let metadata = std::fs::metadata(dir).map_err(|error| Error::io(dir, error))?;
    if !metadata.is_dir() {
        return Err(Error::bad_input(
            format!("--archive {}", dir.display()),
            "not a directory",
        ));
    }
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let entries = std::fs::read_dir(&current).map_err(|error| Error::io(&current, error))?;
        for entry in entries {
            let entry = entry.map_err(|error| Error::io(&current, error))?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let kind = entry.file_type().map_err(|error| Error::io(&path, error))?;
            if kind.is_dir() {
                pending.push(path);
            } else if name.ends_with(".parquet") {
                let relative = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .to_string_lossy()
                    .into_owned();
                let day = path
                    .parent()
                    .and_then(Path::file_name)
                    .and_then(|name| name.to_str())
                    .and_then(|name| name.strip_prefix("day="))
                    .and_then(day_range);
                let node = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .components()
                    .filter_map(|part| part.as_os_str().to_str())
                    .find_map(|part| part.strip_prefix("node="))
                    .map(Arc::from);
                files.push(ArchiveFile {
                    archive,
                    relative,
                    named_seqs: seqs_of_name(&name),
                    day,
                    node,
                    path,
                });
            }
        }
    }
    files.sort_by(|a, b| {
        let key = |file: &ArchiveFile| file.named_seqs.map_or(u64::MAX, |(first, _)| first);
        a.node
            .cmp(&b.node)
            .then_with(|| key(a).cmp(&key(b)))
            .then_with(|| a.relative.cmp(&b.relative))
    });
    Ok(files)
}

fn day_range(text: &str) -> Option<(i64, i64)> {
    let date = time::Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()?;
    let start = date.midnight().assume_utc().unix_timestamp();
    Some((start * 1_000_000, (start + 86_400) * 1_000_000))
}

fn seqs_of_name(name: &str) -> Option<(u64, u64)> {
    let rest = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    let (first, last) = rest.split_once('-')?;
    Some((first.parse().ok()?, last.parse().ok()?))
}

/// Refuses a file without the archive marker or with a column of another type.
pub(crate) fn check_schema(metadata: &ArrowReaderMetadata, path: &Path) -> Result<(), Error> {
    let marked = metadata
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .is_some_and(|pairs| {
            pairs
                .iter()
                .any(|pair| pair.key == FORMAT_KEY && pair.value.as_deref() == Some(FORMAT_VERSION))
        });
    if !marked {
        return Err(Error::bad_file(
            path,
            "not a Haechi audit archive file (no haechi.audit.format = 1 marker)",
        ));
    }
    let schema = metadata.schema();
    for expected in haechi_audit::archive_schema().fields() {
        match schema.field_with_name(expected.name()) {
            Ok(found) if found.data_type() == expected.data_type() => {}
            Ok(found) => {
                return Err(Error::bad_file(
                    path,
                    format!(
                        "column {} has type {}, expected {}",
                        expected.name(),
                        found.data_type(),
                        expected.data_type()
                    ),
                ));
            }
            Err(_) => {
                return Err(Error::bad_file(
                    path,
                    format!("missing column {}", expected.name()),
                ));
            }
        }
    }
    Ok(())
}

/// Refuses a file whose footer names another node than the `node=<id>` directory it sits
/// in (moved between chains), or a node when it sits in none.
pub(crate) fn check_node(metadata: &ArrowReaderMetadata, file: &ArchiveFile) -> Result<(), Error> {
    let named = metadata
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|pairs| {
            pairs
                .iter()
                .find(|pair| pair.key == haechi_audit::CHAIN_KEY)
        })
        .and_then(|pair| pair.value.as_deref());
    if named != file.node.as_deref() {
        return Err(Error::bad_file(
            &file.path,
            format!(
                "its footer names node {} but it sits under {}: files moved between chains",
                named.unwrap_or("(none)"),
                file.node
                    .as_deref()
                    .map_or("no node= directory".to_string(), |node| format!(
                        "node={node}"
                    ))
            ),
        ));
    }
    Ok(())
}

pub(super) fn seq_metadata(metadata: &ArrowReaderMetadata) -> Option<(u64, u64)> {
    let pairs = metadata.metadata().file_metadata().key_value_metadata()?;
    let value = |key: &str| {
        pairs
            .iter()
            .find(|pair| pair.key == key)
            .and_then(|pair| pair.value.as_deref())
            .and_then(|value| value.parse().ok())
    };
    Some((
        value("haechi.audit.first_seq")?,
        value("haechi.audit.last_seq")?,
    ))
}

/// The byte range of the footer (metadata, its length and the closing magic).
pub(super) fn footer_range(file: &File, bytes: u64, path: &Path) -> Result<(u64, u64), Error> {
    let mut tail = [0u8; 8];
    if bytes < 8 {
        return Err(Error::bad_file(path, "too short for Parquet"));
    }
    file.read_exact_at(&mut tail, bytes - 8)
        .map_err(|error| Error::io(path, error))?;
    let length = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let start = bytes
        .checked_sub(8 + length)
        .ok_or_else(|| Error::bad_file(path, "footer longer than the file"))?;
    Ok((start, bytes - start))
}
