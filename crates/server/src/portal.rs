//! The exposure portal's server side: the statement key, the incident statements every
//! portal page shows (held in memory, so a surge of visitors never reaches the store for
//! them), and a customer's own exposure report.

use std::sync::Arc;

use ed25519_dalek::{SigningKey, VerifyingKey};
use haechi_events::StoreError;
use haechi_incident::{IncidentStatement, StatementStore, statement_key_id};
use parking_lot::RwLock;
use sha2::{Digest, Sha256};

use bytes::Bytes;
pub use haechi_portal::ExposureReport;
use haechi_portal::{Lang, Site};

use crate::admission::{Admission, AdmissionSettings};

/// The statements of the incidents not closed, newest publication first, as last read from
/// the store, and the public pages rendered from them.
#[derive(Debug, Default)]
pub struct CurrentStatements {
    /// The statements.
    pub statements: Vec<IncidentStatement>,
    /// A strong validator of exactly these statements (versions and signatures), for the
    /// pages' `ETag`.
    pub digest: String,
    /// The start page in Korean and in English, rendered once per change of the statements:
    /// a surge of visitors is served these bytes, never a template.
    pub home: [Bytes; 2],
    /// The incident page, the same way.
    pub incident: [Bytes; 2],
}

impl CurrentStatements {
    /// `statements` and their pages.
    fn render(
        site: &Site,
        statements: Vec<IncidentStatement>,
    ) -> Result<Self, haechi_portal::Error> {
        let mut digest = Sha256::new();
        for statement in &statements {
            digest.update(statement.signature.as_bytes());
            digest.update(b"\n");
        }
        let digest = hex::encode(&digest.finalize()[..12]);
        let page = |render: &dyn Fn(Lang) -> Result<String, haechi_portal::Error>| {
            Ok::<_, haechi_portal::Error>([
                Bytes::from(render(Lang::Ko)?),
                Bytes::from(render(Lang::En)?),
            ])
        };
        let home = page(&|lang| site.home(lang, &statements, None))?;
        let incident = page(&|lang| site.incident(lang, &statements))?;
        Ok(CurrentStatements {
            statements,
            digest,
            home,
            incident,
        })
    }
}

/// The portal's keys and what it serves from memory.
pub struct Portal {
    site: Site,
    /// The signed-in lane: sign-in and the customer's own exposures (pages and JSON).
    admission: Admission,
    statement_key: SigningKey,
    current: RwLock<Arc<CurrentStatements>>,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal")
            .field("statement_key", &self.key_id())
            .field("statements", &self.current().statements.len())
            .finish()
    }
}

impl Portal {
    /// A portal signing statements with `statement_key` (a key of its own, in custody as a
    /// named secret: it signs nothing else), admitting signed-in requests at `admission`'s
    /// rate. No statement is shown until [`Portal::refresh`].
    pub fn new(
        statement_key: SigningKey,
        admission: AdmissionSettings,
    ) -> Result<Self, haechi_portal::Error> {
        let site = Site::new()?;
        let current = CurrentStatements::render(&site, Vec::new())?;
        Ok(Portal {
            site,
            admission: Admission::new(admission),
            statement_key,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// The signed-in lane's admission.
    pub(crate) fn admission(&self) -> &Admission {
        &self.admission
    }

    /// The pages and assets.
    pub(crate) fn site(&self) -> &Site {
        &self.site
    }

    /// The key statements are signed with.
    pub(crate) fn statement_key(&self) -> &SigningKey {
        &self.statement_key
    }

    /// The public half, for anyone checking a statement.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.statement_key.verifying_key()
    }

    /// The statement key's id (`sk-` and 12 hexadecimal digits).
    pub fn key_id(&self) -> String {
        statement_key_id(&self.verifying_key())
    }

    /// The statements shown now.
    pub fn current(&self) -> Arc<CurrentStatements> {
        self.current.read().clone()
    }

    /// Reads the current statements from the store (another node may have published one, or
    /// closed an incident). On failure the statements shown stay as they were.
    pub async fn refresh(&self, store: &dyn StatementStore) -> Result<(), StoreError> {
        let statements = store.current_statements().await?;
        if statements == self.current().statements {
            return Ok(());
        }
        match CurrentStatements::render(&self.site, statements) {
            Ok(current) => *self.current.write() = Arc::new(current),
            // A template bug the tests would have caught: the pages shown stay as they were.
            Err(error) => tracing::error!(%error, "portal: the pages failed to render"),
        }
        Ok(())
    }
}
