//! The custody entry of a file: the SHA-256 of exactly the bytes a scope consulted (footer,
//! bloom filters probed, column chunks read) and, on request, of the whole file.

use std::fs::File;
use std::io::Read as _;
use std::os::unix::fs::FileExt as _;

use sha2::{Digest, Sha256};

use super::plan::FilePlan;
use super::rows::ByteRanges;
use crate::Error;
use crate::custody::{ArchiveFileCustody, DigestMode};

/// The custody entry of one file: what was consulted and its digest.
pub(super) fn file_custody(
    plan: &FilePlan,
    read: &[(usize, ByteRanges)],
    digest: DigestMode,
) -> Result<ArchiveFileCustody, Error> {
    let path = &plan.file.path;
    let handle = File::open(path).map_err(|error| Error::io(path, error))?;
    let mut ranges = plan.consulted.clone();
    for (_, chunk_ranges) in read {
        ranges.extend(chunk_ranges);
    }
    let mut hasher = Sha256::new();
    let mut consulted_bytes = 0u64;
    let mut buffer = vec![0u8; 1 << 20];
    for (start, length) in &ranges {
        hash_range(&handle, *start, *length, &mut hasher, &mut buffer)
            .map_err(|error| Error::io(path, error))?;
        consulted_bytes += length;
    }
    let sha256 = match digest {
        DigestMode::Consulted => None,
        DigestMode::Full => {
            let mut full = Sha256::new();
            let mut reader = File::open(path).map_err(|error| Error::io(path, error))?;
            loop {
                let read = reader
                    .read(&mut buffer)
                    .map_err(|error| Error::io(path, error))?;
                if read == 0 {
                    break;
                }
                full.update(&buffer[..read]);
            }
            Some(hex::encode(full.finalize()))
        }
    };
    Ok(ArchiveFileCustody {
        archive: plan.file.archive,
        path: plan.file.relative.clone(),
        node: plan.file.node.as_deref().map(str::to_string),
        bytes: plan.bytes,
        first_seq: plan.seqs.map(|(first, _)| first),
        last_seq: plan.seqs.map(|(_, last)| last),
        row_groups: plan.metadata.metadata().num_row_groups(),
        row_groups_read: read.iter().map(|(group, _)| *group).collect(),
        pruned_by_time: plan.pruned_by_time,
        pruned_by_filter: plan.pruned_by_filter,
        consulted_bytes,
        consulted_sha256: hex::encode(hasher.finalize()),
        sha256,
    })
}

fn hash_range(
    file: &File,
    start: u64,
    length: u64,
    hasher: &mut Sha256,
    buffer: &mut [u8],
) -> std::io::Result<()> {
    let mut offset = start;
    let end = start + length;
    while offset < end {
        let want = usize::try_from((end - offset).min(buffer.len() as u64)).unwrap_or(buffer.len());
        file.read_exact_at(&mut buffer[..want], offset)?;
        hasher.update(&buffer[..want]);
        offset += want as u64;
    }
    Ok(())
}
