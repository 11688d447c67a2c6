//! A generator of realistic audit archives with an injected attack and its ground truth, for
//! this crate's tests and benchmarks and for drills.
//!
//! The archive is written through the audit crate's archive writer
//! ([`haechi_audit::write_archive_file`]): the same schema, partitioning, row groups,
//! statistics and bloom filters as `haechi audit export`. Records are chained with
//! [`AuditRecord::chained`] and a checkpoint is signed over the end of every file with an audit
//! key derived from the seed, whose public half is written beside the data
//! (`_audit_key.pem`), so `haechi audit verify --archive DIR --key DIR/_audit_key.pem` checks it.
//!
//! # Normal traffic
//!
//! Events are spread over the days with a diurnal rhythm on Korean time (quiet at 4 a.m.,
//! busiest at 9 p.m.). A quarter of the actions are customer sessions (`auth.login_ok`,
//! `token.issued`, then one to four reads of their own profile or address book); most of the
//! rest are service reads with purposes (`shipping` plaintext name/phone/addresses, `support`
//! and `marketing` masked, `billing`), plus lookups, denied reads, failed logins, writes,
//! refreshes and rejected tokens. Customers come from a skewed popularity curve, live on one of
//! tens of thousands of Korean ISP networks (mobile ones change address daily, a sixth use
//! IPv6) and keep one app or browser; services use internal addresses, 15-minute tokens, and a
//! signing key that rotates daily.
//!
//! # The attack (`stolen-key`)
//!
//! As in the 2025 breach: an attacker holding a signing key (one legitimate traffic no longer
//! uses) forges a token for each victim and reads the victim's profile (name, e-mail, phone,
//! for a quarter also the customs code) and address book, at a steady rate (2.8 victims/s by
//! default), from a few dozen foreign addresses and two browser user agents no customer uses.
//! The ground truth (`_ground_truth.json`) lists the key, addresses, agents, window and every
//! victim with fields, times, reads, token and session id.

mod attack;
mod normal;
mod options;
mod truth;
mod world;
mod writers;

pub use options::{Attack, GenerateOptions, StolenKeyAttack};
pub use truth::{AttackTruth, GroundTruth, Victim, read_ground_truth};

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use haechi_audit::{AuditRecord, Checkpoint, GENESIS_HASH};
use haechi_events::{SecurityEvent, Timestamp};
use sha2::{Digest, Sha256};

use crate::Error;
use crate::progress::Progress;
use crate::timestamps::format_time;
use attack::AttackRun;
use normal::{SERVICES, hourly_quotas, normal_hour};
use world::{MICROS_PER_HOUR, MICROS_PER_SECOND, World, key_id};
use writers::{Batch, Handoff, write_in_parallel};

/// The ground-truth file written beside the data.
pub const GROUND_TRUTH_FILE: &str = "_ground_truth.json";
/// The audit public key (PEM) written beside the data.
pub const PUBLIC_KEY_FILE: &str = "_audit_key.pem";

/// What [`generate`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateReport {
    /// The archive directory.
    pub dir: PathBuf,
    /// Parquet files.
    pub files: usize,
    /// Bytes of Parquet.
    pub bytes: u64,
    /// The ground truth (also in `_ground_truth.json`).
    pub truth: GroundTruth,
}

/// Writes the archive described by `options` into `dir`, which must not exist yet. Everything
/// is written under a hidden sibling directory and renamed into place at the end, so a failed
/// or interrupted run leaves no partial archive at `dir`.
pub fn generate(
    dir: &Path,
    options: &GenerateOptions,
    progress: &dyn Progress,
) -> Result<GenerateReport, Error> {
    check_options(options)?;
    if dir.exists() {
        return Err(Error::bad_input(
            format!("--out {}", dir.display()),
            "exists already; generate into a new directory",
        ));
    }
    let name = dir.file_name().ok_or_else(|| {
        Error::bad_input(format!("--out {}", dir.display()), "names no directory")
    })?;
    let parent = dir
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = parent.join(format!(".{}.generating", name.to_string_lossy()));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|error| Error::io(&staging, error))?;
    }
    std::fs::create_dir_all(&staging).map_err(|error| Error::io(&staging, error))?;
    let result = generate_into(&staging, options, progress);
    match result {
        Ok(mut report) => {
            std::fs::rename(&staging, dir).map_err(|error| Error::io(dir, error))?;
            report.dir = dir.to_path_buf();
            Ok(report)
        }
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            Err(error)
        }
    }
}

fn check_options(options: &GenerateOptions) -> Result<(), Error> {
    if options.customers == 0 {
        return Err(Error::bad_input("--customers", "must be at least 1"));
    }
    if options.days == 0 || options.days > 3660 {
        return Err(Error::bad_input("--days", "must be 1 to 3660"));
    }
    if options.file_records == 0 || options.export.row_group_rows == 0 {
        return Err(Error::bad_input("--file-records", "must be at least 1"));
    }
    if let Attack::StolenKey(attack) = &options.attack {
        if attack.victims == 0 || attack.victims > options.customers {
            return Err(Error::bad_input(
                "--victims",
                format!(
                    "must be 1 to the number of customers ({})",
                    options.customers
                ),
            ));
        }
        if attack.addresses == 0 || attack.addresses > 100_000 {
            return Err(Error::bad_input("--attack-ips", "must be 1 to 100000"));
        }
        if !(attack.victims_per_second > 0.0 && attack.victims_per_second <= 100_000.0) {
            return Err(Error::bad_input(
                "--attack-rate",
                "must be above 0 and at most 100000",
            ));
        }
        if attack.victims.saturating_mul(2) >= options.events {
            return Err(Error::bad_input(
                "--events",
                format!(
                    "{} events leave no room for normal traffic beside the attack's {} reads",
                    options.events,
                    attack.victims * 2
                ),
            ));
        }
    }
    Ok(())
}

/// Generates into `dir`: the attack planned, every hour's events produced and chained on this
/// thread while writer threads encode the files, then the checkpoints, key and ground truth.
fn generate_into(
    dir: &Path,
    options: &GenerateOptions,
    progress: &dyn Progress,
) -> Result<GenerateReport, Error> {
    let start_micros = options.start.midnight().assume_utc().unix_timestamp() * MICROS_PER_SECOND;
    let hours = i64::from(options.days) * 24;
    let end_micros = start_micros + hours * MICROS_PER_HOUR;
    let world = World {
        seed: options.seed,
        customers: options.customers,
        start_micros,
        attacker_kid: key_id(options.seed, "stolen-legacy-key"),
    };
    let mut attack = plan_attack(&world, options, end_micros)?;
    let attack_events = attack.as_ref().map_or(0, |run| run.victims * 2);
    let quotas = hourly_quotas(options.events - attack_events, hours);
    let signing_key = audit_key(options.seed);

    let mut checkpoints = Vec::new();
    let mut records = 0u64;
    let written = write_in_parallel(dir, options.export, |handoff| {
        progress.phase("generating", options.events);
        let mut producer = Producer {
            options,
            signing_key: &signing_key,
            handoff,
            checkpoints: &mut checkpoints,
            records: &mut records,
            prev_hash: GENESIS_HASH,
            batch: Vec::with_capacity(options.file_records),
            batch_day: i64::MIN,
        };
        let mut hour_events = Vec::new();
        for (hour, quota) in quotas.iter().enumerate() {
            let hour = hour as i64;
            hour_events.clear();
            normal_hour(&world, hour, *quota, &mut hour_events);
            if let Some(run) = attack.as_mut() {
                run.take_until(
                    &world,
                    start_micros + (hour + 1) * MICROS_PER_HOUR,
                    &mut hour_events,
                );
            }
            hour_events.sort_by_key(|event| event.time);
            for event in hour_events.drain(..) {
                producer.push(event)?;
            }
            progress.advance(*quota);
            producer.handoff.check()?;
        }
        producer.flush()
    });
    progress.finish();
    let written = written?;
    haechi_audit::write_archive_checkpoints(dir, &checkpoints)?;
    let pem = haechi_audit::public_key_pem(&signing_key.verifying_key())?;
    write_file(&dir.join(PUBLIC_KEY_FILE), pem.as_bytes())?;

    let truth = GroundTruth {
        seed: options.seed,
        customers: options.customers,
        events: records,
        start: format_time(Timestamp::from_micros(start_micros)),
        end: format_time(Timestamp::from_micros(end_micros)),
        services: SERVICES
            .iter()
            .map(|(name, ..)| format!("service:{name}"))
            .collect(),
        attack: attack.map(AttackRun::into_truth),
    };
    let json = serde_json::to_vec(&truth)
        .map_err(|error| Error::bad_input("ground truth", error.to_string()))?;
    write_file(&dir.join(GROUND_TRUTH_FILE), &json)?;
    Ok(GenerateReport {
        dir: dir.to_path_buf(),
        files: written.len(),
        bytes: written.iter().map(|(_, bytes)| bytes).sum(),
        truth,
    })
}

/// The attack's schedule, checked to fit in the archive's span.
fn plan_attack(
    world: &World,
    options: &GenerateOptions,
    end_micros: i64,
) -> Result<Option<AttackRun>, Error> {
    let start_micros = world.start_micros;
    match &options.attack {
        Attack::None => Ok(None),
        Attack::StolenKey(attack) => {
            let default_start =
                start_micros + i64::from(options.days / 3) * 24 * MICROS_PER_HOUR + MICROS_PER_HOUR;
            let run = AttackRun::new(world, attack, default_start);
            if run.start < start_micros || run.end() > end_micros {
                return Err(Error::bad_input(
                    "--attack",
                    format!(
                        "the attack ({} victims at {}/s, from {}) does not fit in the archive's \
                         {} days: give more --days, fewer --victims or a higher --attack-rate",
                        attack.victims,
                        attack.victims_per_second,
                        format_time(Timestamp::from_micros(run.start)),
                        options.days
                    ),
                ));
            }
            Ok(Some(run))
        }
    }
}

/// The audit key the archive's checkpoints are signed with, derived from the seed.
fn audit_key(seed: u64) -> SigningKey {
    SigningKey::from_bytes(
        &Sha256::new()
            .chain_update(b"haechi.forensics.generate.audit-key\0")
            .chain_update(seed.to_be_bytes())
            .finalize()
            .into(),
    )
}

/// Chains events into records and cuts them into files: at every UTC day and every
/// `file_records` records, each file's end signed by a checkpoint.
struct Producer<'a> {
    options: &'a GenerateOptions,
    signing_key: &'a SigningKey,
    handoff: Handoff<'a>,
    checkpoints: &'a mut Vec<Checkpoint>,
    records: &'a mut u64,
    prev_hash: [u8; 32],
    batch: Batch,
    batch_day: i64,
}

impl Producer<'_> {
    /// Chains `event` as the next record, starting a new file first where one ends.
    fn push(&mut self, event: SecurityEvent) -> Result<(), Error> {
        let day = event.time.as_micros().div_euclid(24 * MICROS_PER_HOUR);
        if day != self.batch_day || self.batch.len() >= self.options.file_records {
            self.flush()?;
            self.batch_day = day;
        }
        *self.records += 1;
        let record = AuditRecord::chained(*self.records, event, self.prev_hash);
        self.prev_hash = record.hash;
        self.batch.push(record);
        Ok(())
    }

    /// Signs the end of the file being filled and hands it to the writers.
    fn flush(&mut self) -> Result<(), Error> {
        if let Some(last) = self.batch.last() {
            self.checkpoints.push(Checkpoint::sign(
                last.seq,
                last.hash,
                last.event.time,
                self.signing_key,
            ));
            let full = std::mem::replace(
                &mut self.batch,
                Vec::with_capacity(self.options.file_records),
            );
            self.handoff.send(full)?;
        }
        Ok(())
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(path, bytes).map_err(|error| Error::io(path, error))
}
