//! The serving side of the anonymous exposure check ([`haechi_leak::private_check`]): the
//! directory of tags kept in memory, so an answer never waits on the database, and kept up to
//! date from the store — exposed hashes not yet tagged under the key are tagged on every core,
//! kept, and merged into a new directory that replaces the old one at once.

use std::sync::{Arc, RwLock};

use haechi_leak::exposure::ExposureHash;
use haechi_leak::private_check::{
    Bucket, CheckKey, CheckTagStore, ELEMENT_BYTES, ExposureDirectory, MemberTag,
};

use crate::Error;

/// Exposed hashes tagged per round (one store read, one write).
const TAG_BATCH: usize = 20_000;

/// One answer: the evaluated element and the bucket's tags, under the key named `key_id`.
#[derive(Debug, Clone)]
pub struct CheckAnswer {
    /// The name of the key both were made under.
    pub key_id: String,
    /// RFC 9497 `BlindEvaluate` of the request's element.
    pub evaluated: [u8; ELEMENT_BYTES],
    /// The bucket's tags, sorted.
    pub tags: Vec<MemberTag>,
}

/// What a refresh did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CheckRefresh {
    /// Exposed hashes tagged (and kept) in this refresh.
    pub tagged: usize,
    /// Tags the directory serves after it.
    pub serving: usize,
    /// Tags of earlier keys deleted.
    pub dropped: u64,
}

/// The exposure check: its key, and the directory it answers from.
pub struct ExposureCheck {
    key: Arc<CheckKey>,
    store: Arc<dyn CheckTagStore>,
    directory: RwLock<Arc<ExposureDirectory>>,
    loaded: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ExposureCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExposureCheck")
            .field("key", &self.key.id())
            .finish_non_exhaustive()
    }
}

impl ExposureCheck {
    /// A check under `key` over the tags in `store`, serving nothing until the first
    /// [`ExposureCheck::refresh`].
    ///
    /// # Errors
    /// [`Error::Check`] never in practice (an empty directory always builds).
    pub fn new(key: CheckKey, store: Arc<dyn CheckTagStore>) -> Result<Self, Error> {
        let directory = ExposureDirectory::build(key.id(), []).map_err(Error::Check)?;
        Ok(ExposureCheck {
            key: Arc::new(key),
            store,
            directory: RwLock::new(Arc::new(directory)),
            loaded: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The name of the key.
    pub fn key_id(&self) -> &str {
        self.key.id()
    }

    /// How many exposed hashes the directory serves.
    pub fn serving(&self) -> usize {
        self.current().len()
    }

    fn current(&self) -> Arc<ExposureDirectory> {
        self.directory
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Answers a check: the blinded element evaluated and the bucket's tags. CPU only (one
    /// scalar multiplication, tens of microseconds): no IO.
    ///
    /// # Errors
    /// [`Error::Check`] with [`haechi_leak::Error::BadBlindedElement`] for anything but one
    /// canonical element.
    pub fn answer(&self, bucket: Bucket, blinded: &[u8]) -> Result<CheckAnswer, Error> {
        let evaluated = self.key.evaluate_blinded(blinded).map_err(Error::Check)?;
        let directory = self.current();
        Ok(CheckAnswer {
            key_id: directory.key_id().to_string(),
            evaluated,
            tags: directory.bucket(bucket).to_vec(),
        })
    }

    /// Tags every exposed hash not yet tagged under the key (on every core, a batch at a
    /// time, each batch kept before the next), then serves the new tags. The first refresh
    /// loads every kept tag and deletes earlier keys' tags.
    ///
    /// # Errors
    /// [`Error::CheckTags`] if the store fails; what was kept stays kept, and the directory
    /// in service is untouched.
    pub async fn refresh(&self) -> Result<CheckRefresh, Error> {
        let outcome = self.tag_and_serve().await;
        if outcome.is_err() {
            // Tags kept before the failure are no longer untagged, so no later round would
            // find them: the next refresh loads the whole directory from the store again.
            self.loaded
                .store(false, std::sync::atomic::Ordering::Release);
        }
        outcome
    }

    async fn tag_and_serve(&self) -> Result<CheckRefresh, Error> {
        let key_id = self.key.id().to_string();
        let mut report = CheckRefresh::default();
        let mut fresh: Vec<(Bucket, MemberTag)> = Vec::new();
        loop {
            let untagged = self
                .store
                .untagged_exposures(&key_id, TAG_BATCH)
                .await
                .map_err(Error::CheckTags)?;
            if untagged.is_empty() {
                break;
            }
            let key = self.key.clone();
            let tags =
                tokio::task::spawn_blocking(move || tag_on_every_core(&key, &untagged)).await??;
            self.store
                .record_check_tags(&key_id, &tags)
                .await
                .map_err(Error::CheckTags)?;
            report.tagged += tags.len();
            fresh.extend(tags.iter().map(|(hash, tag)| (Bucket::of(hash), *tag)));
        }
        let first = !self.loaded.load(std::sync::atomic::Ordering::Acquire);
        if first {
            let all = self
                .store
                .check_tags(&key_id)
                .await
                .map_err(Error::CheckTags)?;
            self.replace(ExposureDirectory::build(&key_id, all).map_err(Error::Check)?);
            report.dropped = self
                .store
                .drop_check_tags_except(&key_id)
                .await
                .map_err(Error::CheckTags)?;
            self.loaded
                .store(true, std::sync::atomic::Ordering::Release);
        } else if !fresh.is_empty() {
            let current = self.current();
            let merged = ExposureDirectory::build(&key_id, current.entries().chain(fresh))
                .map_err(Error::Check)?;
            self.replace(merged);
        }
        report.serving = self.serving();
        Ok(report)
    }

    fn replace(&self, directory: ExposureDirectory) {
        *self
            .directory
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(directory);
    }
}

/// The tags of `hashes`, computed on every core.
fn tag_on_every_core(
    key: &CheckKey,
    hashes: &[ExposureHash],
) -> Result<Vec<(ExposureHash, MemberTag)>, Error> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let chunk = hashes.len().div_ceil(cores).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = hashes
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    part.iter()
                        .map(|hash| Ok((*hash, key.member_tag(hash).map_err(Error::Check)?)))
                        .collect::<Result<Vec<_>, Error>>()
                })
            })
            .collect();
        let mut tags = Vec::with_capacity(hashes.len());
        for worker in workers {
            let part = worker.join().map_err(|_| {
                Error::Check(haechi_leak::Error::CheckKey(
                    "a tagging thread panicked".into(),
                ))
            })??;
            tags.extend(part);
        }
        Ok(tags)
    })
}
