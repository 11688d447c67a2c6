//! Detection's resume point: the next sequence number the engine will be handed, persisted in
//! `<data_dir>/detect.seq`.

use std::path::Path;

use crate::Error;

/// The persisted resume point, or `None` if there is none yet.
pub(super) fn read_seq_file(path: &Path) -> Result<Option<u64>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().parse().map_err(|source| {
            Error::ResumePoint {
                path: path.display().to_string(),
                source,
            }
        })?)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::File {
            context: format!("cannot read {}", path.display()),
            source,
        }),
    }
}

/// Writes the resume point atomically: a temporary file, synced, renamed over the old one.
pub(super) fn write_seq_file(path: &Path, seq: u64) -> Result<(), Error> {
    use std::io::Write as _;
    let temporary = path.with_extension("seq.tmp");
    let failed = |context: String| move |source| Error::File { context, source };
    let mut file = std::fs::File::create(&temporary)
        .map_err(failed(format!("cannot create {}", temporary.display())))?;
    file.write_all(format!("{seq}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(failed(format!("cannot write {}", temporary.display())))?;
    std::fs::rename(&temporary, path)
        .map_err(failed(format!("cannot replace {}", path.display())))?;
    Ok(())
}
