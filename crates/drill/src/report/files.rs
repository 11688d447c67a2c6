//! Report files: each written whole or not at all.

use std::path::Path;

use super::Report;
use crate::Error;

impl Report {
    /// Writes `report.json`, `report.md` and `report.html` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        std::fs::create_dir_all(dir)
            .map_err(Error::local(format!("cannot create {}", dir.display())))?;
        let json = serde_json::to_vec_pretty(self)?;
        write_atomically(&dir.join("report.json"), &json)?;
        write_atomically(&dir.join("report.md"), self.markdown().as_bytes())?;
        write_atomically(&dir.join("report.html"), self.html().as_bytes())?;
        Ok(())
    }
}

/// Writes through a temporary file renamed into place: a report is whole or absent.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(Error::local(format!("cannot create {}", dir.display())))?;
    let temporary = tempfile::NamedTempFile::new_in(dir)
        .map_err(Error::local(format!("cannot write in {}", dir.display())))?;
    let cannot_write = format!("cannot write {}", path.display());
    std::fs::write(temporary.path(), bytes).map_err(Error::local(cannot_write.clone()))?;
    temporary
        .persist(path)
        .map_err(Error::local(cannot_write))?;
    Ok(())
}
