//! The evidence desk: gathers the facts an auditor's report is judged from — the store's
//! principals, keys and secrets, the policy in force, the configuration, the audit trail, a
//! fresh scan of the data directory, the drill reports — and signs what it renders with the
//! audit key. Used by `GET /v1/admin/evidence`, the monthly review routes and, on a stopped or
//! running server alike, by `haechi evidence` (everything here only reads).

use std::path::PathBuf;
use std::sync::Arc;

use ed25519_dalek::{SigningKey, VerifyingKey};
use haechi_events::{Principal, Timestamp};
use haechi_evidence::facts::{
    AuditFacts, AuthenticationFacts, CryptographyFacts, FieldProtection, GrantFacts,
    MasterKeySource, PrincipalFacts, SigningKeyFacts,
};
use haechi_evidence::{EvidenceReport, Facts, MonthlyReview, Period, YearMonth, collect};
use haechi_store::Store;
use haechi_vault::{Access, Policy};

/// What the desk reads besides the store: the configuration's facts and where things are.
#[derive(Debug, Clone)]
pub struct EvidenceSettings {
    /// The company's name, as the report's heading says it.
    pub organisation: String,
    /// The data directory, scanned for plaintext.
    pub data_dir: PathBuf,
    /// The audit log's directory.
    pub audit_dir: PathBuf,
    /// Where `haechi drill --out` writes (`[evidence] drill_reports`).
    pub drill_reports: Option<PathBuf>,
    /// Distinct customers one principal reads in one day that make a bulk read.
    pub bulk_read_customers: u64,
    /// Sign-in limits and password hashing in force.
    pub authentication: AuthenticationFacts,
    /// `audit.retention` in days (`None`: kept forever).
    pub retention_days: Option<u64>,
    /// Whether `audit.archive_dir` is set.
    pub archive_configured: bool,
    /// `audit.witness`, read back to check the log's tail against it.
    pub witness: Option<String>,
    /// Where the master key comes from.
    pub master_key_source: MasterKeySource,
    /// `keys.rotation_interval` in days.
    pub rotation_interval_days: u64,
    /// `vault.blind_index_bits`.
    pub blind_index_bits: u32,
    /// Whether this node is one of a cluster's (its trail is its own chain).
    pub cluster_node: bool,
}

/// A report and its files, each with its detached signature.
#[derive(Debug, Clone)]
pub struct SignedEvidence {
    /// The report.
    pub report: EvidenceReport,
    /// `report.json`'s bytes.
    pub json: Vec<u8>,
    /// Their signature.
    pub json_signature: [u8; 64],
    /// `report.html`'s bytes.
    pub html: Vec<u8>,
    /// Their signature.
    pub html_signature: [u8; 64],
}

/// Gathers, judges and signs evidence.
pub struct EvidenceDesk {
    settings: EvidenceSettings,
    signing_key: SigningKey,
    store: Arc<dyn Store>,
    /// One gathering at a time (reports, reviews and the review job alike): each reads the
    /// whole trail. The permit travels into the blocking task, so a client that hangs up does
    /// not free it while the reading goes on.
    turn: Arc<tokio::sync::Semaphore>,
}

impl std::fmt::Debug for EvidenceDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvidenceDesk")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl EvidenceDesk {
    /// A desk signing with the audit key (`signing_key`).
    pub fn new(settings: EvidenceSettings, signing_key: SigningKey, store: Arc<dyn Store>) -> Self {
        EvidenceDesk {
            settings,
            signing_key,
            store,
            turn: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }

    /// The audit key's public half: what checks the signatures.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing_key.verifying_key()
    }

    /// The detached signature of `bytes` with the audit key.
    pub fn sign(&self, bytes: &[u8]) -> [u8; 64] {
        haechi_evidence::signature::sign(bytes, &self.signing_key)
    }

    /// The turn to read the trail, or [`haechi_evidence::Error::Busy`].
    fn take_turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, haechi_evidence::Error> {
        self.turn
            .clone()
            .try_acquire_owned()
            .map_err(|_| haechi_evidence::Error::Busy)
    }

    /// Gathers the facts for `period`, as of `now`.
    pub async fn gather(
        &self,
        period: Period,
        generated_by: String,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<Facts, haechi_evidence::Error> {
        let turn = self.take_turn()?;
        let settings = self.settings.clone();
        let customers = self.store.count().await?;
        let principals = self
            .store
            .clients()
            .await?
            .into_iter()
            .map(|client| PrincipalFacts {
                principal: client.principal.to_string(),
                privileged: matches!(client.principal, Principal::Admin(_)),
                scopes: client.scopes,
                created_at: client.created_at,
                suspended_at: client.suspended_at,
            })
            .collect();
        let signing_keys = self
            .store
            .keys()
            .await?
            .into_iter()
            .map(|key| SigningKeyFacts {
                kid: key.record.kid,
                algorithm: key.record.algorithm.to_string(),
                state: key.record.state.as_str().to_string(),
                created_at: key.record.created_at,
                imported: key.record.origin == haechi_custody::KeyOrigin::Imported,
                ended_at: key.record.ended_at,
            })
            .collect();
        let mut named_secrets: Vec<String> = self
            .store
            .secrets()
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        named_secrets.sort();
        let grants = policy
            .grants()
            .into_iter()
            .map(|grant| GrantFacts {
                service: grant.service,
                purposes: grant.purposes,
                fields: grant.fields,
                access: match grant.access {
                    Access::Plaintext => "plaintext",
                    Access::Masked => "masked",
                    Access::Denied => "denied",
                }
                .into(),
            })
            .collect();
        let drill_dir = settings.drill_reports.clone();
        let witness = match &settings.witness {
            Some(address) => Some(match haechi_audit::open_witness(address) {
                Ok(witness) => witness.read_back().await.map_err(|error| error.to_string()),
                Err(error) => Err(error.to_string()),
            }),
            None => None,
        };
        // The trail, the chain check and the scan read files end to end: off the async threads.
        let key = self.verifying_key();
        let (activity, chain, scan, drills) = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            // Each phase's time goes to the log: where a report's minutes go on a large trail.
            let started = std::time::Instant::now();
            let activity =
                collect::fold_trail(&settings.audit_dir, period, settings.bulk_read_customers)?;
            let folded = started.elapsed();
            let chain = collect::verify_chain(&settings.audit_dir, &key, witness)?;
            let verified = started.elapsed();
            let scan = collect::scan_data_dir(&settings.data_dir)?;
            let scanned = started.elapsed();
            let drills = match &drill_dir {
                Some(dir) => collect::read_drills(dir, now)?,
                None => Default::default(),
            };
            tracing::info!(
                records = activity.records,
                fold_ms = folded.as_millis() as u64,
                verify_ms = (verified - folded).as_millis() as u64,
                scan_ms = (scanned - verified).as_millis() as u64,
                scan_bytes = scan.bytes,
                "evidence gathered"
            );
            Ok::<_, haechi_evidence::Error>((activity, chain, scan, drills))
        })
        .await
        .map_err(|error| haechi_evidence::Error::Render(format!("evidence task: {error}")))??;
        let settings = &self.settings;
        Ok(Facts {
            period,
            generated_at: now,
            generated_by,
            organisation: settings.organisation.clone(),
            customers,
            principals,
            grants,
            authentication: settings.authentication.clone(),
            cryptography: CryptographyFacts {
                fields: field_protection(),
                blind_index_bits: settings.blind_index_bits,
                scan,
                master_key_source: settings.master_key_source.clone(),
                signing_keys,
                rotation_interval_days: settings.rotation_interval_days,
                named_secrets,
            },
            audit: AuditFacts {
                retention_days: settings.retention_days,
                archive_configured: settings.archive_configured,
                witness_configured: settings.witness.is_some(),
                chain,
                oldest_record: activity.first_record,
                cluster_node: settings.cluster_node,
            },
            activity,
            drills,
            bulk_read_customers: settings.bulk_read_customers,
        })
    }

    /// Gathers, judges, renders and signs the report for `period`.
    pub async fn generate(
        &self,
        period: Period,
        generated_by: String,
        policy: &Policy,
        now: Timestamp,
    ) -> Result<SignedEvidence, haechi_evidence::Error> {
        let facts = self.gather(period, generated_by, policy, now).await?;
        let report = haechi_evidence::assess(&facts);
        let mut json = serde_json::to_vec_pretty(&report)
            .map_err(|error| haechi_evidence::Error::Render(error.to_string()))?;
        json.push(b'\n');
        let html = haechi_evidence::render::render_html(&report)?.into_bytes();
        Ok(SignedEvidence {
            json_signature: self.sign(&json),
            html_signature: self.sign(&html),
            report,
            json,
            html,
        })
    }

    /// The review of `month` as the trail gives it now, with what was recorded about it.
    pub async fn review(
        &self,
        month: YearMonth,
        now: Timestamp,
    ) -> Result<ReviewState, haechi_evidence::Error> {
        self.reviews(month, month, now)
            .await?
            .pop()
            .ok_or_else(|| haechi_evidence::Error::Period(format!("no month {month}")))
    }

    /// The reviews of the months `first` to `last`, from one pass over the trail.
    pub async fn reviews(
        &self,
        first: YearMonth,
        last: YearMonth,
        now: Timestamp,
    ) -> Result<Vec<ReviewState>, haechi_evidence::Error> {
        let period = Period::new(
            haechi_evidence::period::kst_date(first.start()),
            haechi_evidence::period::kst_date(Timestamp::from_secs(last.end().as_secs() - 1)),
        )?;
        let turn = self.take_turn()?;
        let settings = self.settings.clone();
        let (activity, trail_began) = tokio::task::spawn_blocking(move || {
            let _turn = turn;
            let activity =
                collect::fold_trail(&settings.audit_dir, period, settings.bulk_read_customers)?;
            let began = activity.first_record;
            Ok::<_, haechi_evidence::Error>((activity, began))
        })
        .await
        .map_err(|error| haechi_evidence::Error::Render(format!("review task: {error}")))??;
        Ok(haechi_evidence::review::reviews(&activity, now)
            .into_iter()
            .map(|review| ReviewState {
                trail_began,
                prepared: activity.reviews_prepared.get(&review.month).cloned(),
                overdue: activity.reviews_overdue.contains_key(&review.month),
                acknowledgements: activity
                    .review_acks
                    .items
                    .iter()
                    .filter(|ack| ack.month == review.month)
                    .cloned()
                    .collect(),
                review,
            })
            .collect())
    }
}

/// A month's review and what the trail holds about it.
#[derive(Debug, Clone)]
pub struct ReviewState {
    /// The summary as the trail gives it now.
    pub review: MonthlyReview,
    /// Acknowledgements recorded, oldest first.
    pub acknowledgements: Vec<haechi_evidence::activity::ReviewAck>,
    /// The digest the review job recorded when the month ended, if it has.
    pub prepared: Option<String>,
    /// Whether the job recorded the review as overdue.
    pub overdue: bool,
    /// The trail's oldest record: a month that ended before it had nothing to review.
    pub trail_began: Option<Timestamp>,
}

/// How the vault stores each field: one data key per customer, AES-256-GCM with the customer,
/// field and key version bound as associated data; e-mail and phone also have blind indexes.
fn field_protection() -> Vec<FieldProtection> {
    haechi_vault::PiiField::ALL
        .iter()
        .map(|field| FieldProtection {
            field: field.as_str().to_string(),
            encryption: "AES-256-GCM under a per-customer data key (wrapped under the master \
                         key); customer, field and key version bound as associated data"
                .into(),
            blind_index: matches!(
                field,
                haechi_vault::PiiField::Email | haechi_vault::PiiField::Phone
            ),
        })
        .collect()
}
