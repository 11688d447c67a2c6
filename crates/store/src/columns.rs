//! Reading named columns from either backend's rows: the row decoders both stores share
//! (`incidents::exposure_row`, `notices::notice`) take `impl Columns`. Each backend implements
//! it beside its own error mapping (`sqlite.rs`, `postgres/rows.rs`).

use haechi_events::StoreError;

/// A row's columns by name.
pub(crate) trait Columns {
    fn text(&self, name: &str) -> Result<String, StoreError>;
    fn optional_text(&self, name: &str) -> Result<Option<String>, StoreError>;
    fn integer(&self, name: &str) -> Result<i64, StoreError>;
    fn optional_integer(&self, name: &str) -> Result<Option<i64>, StoreError>;
}
