//! Timings of the hot and bulk paths on both backends, printed, never asserted (no timing
//! thresholds in tests): `cargo test -p haechi-store --release --test conformance -- --ignored
//! --nocapture measure`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use haechi_events::{Principal, Timestamp};
use haechi_token::{
    AccountRecord, Allowance, AttemptLimit, LedgerEntry, MemorySignInLimits, SignInCounter,
    SignInLimits,
};
use haechi_vault::{
    EncryptedRecord, ImportItem, LookupAdmission, LookupLimits, LookupResult, MemoryBudgets,
    MemoryLookupLimits, ReadClass, SharedBudgets,
};

use crate::Store;
use crate::vault::{email, phone};

/// A stream of pseudo-random bytes (splitmix64), so both backends get the same data.
struct Bytes(u64);

impl Bytes {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill(&mut self, length: usize) -> Vec<u8> {
        (0..length).map(|_| self.next() as u8).collect()
    }

    fn hash(&mut self) -> [u8; 32] {
        self.fill(32).try_into().unwrap()
    }
}

/// A customer shaped like the vault's: sealed fields of realistic sizes (nonce, ciphertext,
/// tag), two blind-index entries, an account with two login identifiers.
fn generated_item(n: u64, bytes: &mut Bytes) -> ImportItem {
    let id = format!("c-{n:08}-{:016x}", bytes.next());
    let at = Timestamp::from_micros(1_700_000_000_000_000 + n as i64);
    let record = EncryptedRecord {
        customer_id: id.clone(),
        wrapped_data_key: bytes.fill(60),
        key_version: 1,
        fields: [
            ("name", 40),
            ("email", 56),
            ("phone", 39),
            ("birth_date", 38),
            ("customs_code", 41),
            ("addresses", 220),
        ]
        .into_iter()
        .map(|(field, length)| (field.to_string(), bytes.fill(length)))
        .collect(),
        created_at: at,
        updated_at: at,
    };
    ImportItem {
        record,
        indexes: vec![email(bytes.next() as i64), phone(bytes.next() as i64)],
        account: AccountRecord {
            customer_id: id,
            login_hashes: vec![bytes.hash(), bytes.hash()],
            password_hash: None,
            created_at: at,
        },
    }
}

fn ledger_entry(bytes: &mut Bytes) -> LedgerEntry {
    LedgerEntry {
        token_hash: bytes.hash(),
        jti: format!("{:032x}", bytes.next()),
        sid: format!("{:032x}", bytes.next()),
        kid: "kid-measure".into(),
        principal: Principal::Service("shipping".into()),
        scope: "orders profile:read".into(),
        issued_at: Timestamp::from_secs(1_700_000_000),
        expires_at: Timestamp::from_secs(4_000_000_000),
        revoked_at: None,
    }
}

fn per(total: Duration, count: u32) -> String {
    format!("{:>9.1?} total, {:>8.1?} each", total, total / count)
}

async fn measure<S: Store>(name: &str, store: Arc<S>) {
    let mut bytes = Bytes(16);
    let items: Vec<ImportItem> = (0..20_000).map(|n| generated_item(n, &mut bytes)).collect();

    let started = Instant::now();
    for (batch, chunk) in items[..10_000].chunks(1_000).enumerate() {
        let accepted = store
            .import_batch("measure-a", (batch as u64 + 1) * 1_000, chunk)
            .await
            .unwrap();
        assert!(accepted.iter().all(|accepted| *accepted));
    }
    let batches_of_1000 = started.elapsed();
    let started = Instant::now();
    store
        .import_batch("measure-b", 10_000, &items[10_000..])
        .await
        .unwrap();
    let one_batch = started.elapsed();

    let entries: Vec<LedgerEntry> = (0..1_000).map(|_| ledger_entry(&mut bytes)).collect();
    let started = Instant::now();
    for entry in &entries {
        store.record_issued(entry).await.unwrap();
    }
    let writes = started.elapsed();
    let started = Instant::now();
    for entry in &entries {
        assert!(store.issued(&entry.token_hash).await.unwrap().is_some());
    }
    let lookups = started.elapsed();

    let started = Instant::now();
    let snapshot = store.blind_index_snapshot().await.unwrap().unwrap();
    let snapshot_time = started.elapsed();
    assert_eq!(snapshot.len(), 40_000);
    let (first, last) = store.record_span().await.unwrap().unwrap();
    let started = Instant::now();
    let all = store
        .identifying_records_between(first, last)
        .await
        .unwrap();
    let scan = started.elapsed();
    assert_eq!(all.len(), 20_000);

    println!("{name}:");
    println!(
        "  import_batch, 10 x 1,000 customers   {}",
        per(batches_of_1000, 10)
    );
    println!(
        "  import_batch, 1 x 10,000 customers   {}",
        per(one_batch, 1)
    );
    println!(
        "  record_issued, 1,000 sequential      {}",
        per(writes, 1_000)
    );
    println!(
        "  issued(), 1,000 sequential lookups   {}",
        per(lookups, 1_000)
    );
    println!(
        "  blind_index_snapshot, 40,000 entries {}",
        per(snapshot_time, 1)
    );
    println!("  identifying_records_between, 20,000  {}", per(scan, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints timings; run by hand with --release --ignored --nocapture"]
async fn measure_sqlite_and_postgres() {
    let (store, _dir) = crate::sqlite().await;
    measure("SQLite", store.clone()).await;
    store.close().await;
    if let Some((store, _database)) = crate::postgres().await {
        measure("PostgreSQL", store.clone()).await;
        store.close().await;
    }
}

/// How many sequential calls each limit's measurement makes.
const LIMIT_CALLS: u32 = 2_000;

/// Per call of `call(i)` for `i` in `0..LIMIT_CALLS`, run one after the other.
async fn per_call<F, Fut>(mut call: F) -> Duration
where
    F: FnMut(u32) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    for index in 0..LIMIT_CALLS {
        call(index).await;
    }
    started.elapsed() / LIMIT_CALLS
}

/// What each limit costs on the read or sign-in path it guards, in one implementation.
struct LimitCosts {
    lookup_admit: Duration,
    lookup_settle_miss: Duration,
    sign_in_reserve: Duration,
    sign_in_check: Duration,
    charge_repeat: Duration,
    charge_new: Duration,
}

async fn measure_limits(
    lookups: &dyn LookupLimits,
    sign_in: &dyn SignInLimits,
    budgets: &dyn SharedBudgets,
) -> LimitCosts {
    let at = |second: u32| Timestamp::from_secs(1_800_000_000 + i64::from(second));
    // One lookup a second, all misses, at the default 60 a minute: always just admitted.
    let lookup_admit = per_call(|index| async move {
        let admitted = lookups.admit("service:walker", 60, at(index)).await;
        assert_eq!(admitted.unwrap(), LookupAdmission::Admitted);
    })
    .await;
    let lookup_settle_miss = per_call(|index| async move {
        let at = at(index);
        lookups
            .settle("service:walker", at, LookupResult::Miss, 60, at)
            .await
            .unwrap();
    })
    .await;
    // A login's reservation for a source or account with no attempt in the window yet.
    let limit = AttemptLimit {
        attempts: 60,
        window: Duration::from_secs(900),
    };
    let subject = |index: u32| {
        let mut subject = [0u8; 32];
        subject[..4].copy_from_slice(&index.to_be_bytes());
        subject
    };
    let sign_in_reserve = per_call(|index| async move {
        let subject = subject(index);
        let reserved = sign_in.try_reserve(SignInCounter::SourceAttempts, &subject, limit, at(0));
        assert_eq!(reserved.await.unwrap(), Allowance::Allowed);
    })
    .await;
    let sign_in_check = per_call(|index| async move {
        let subject = subject(index);
        let checked = sign_in.check(SignInCounter::SourceAttempts, &subject, limit, at(1));
        assert_eq!(checked.await.unwrap(), Allowance::Allowed);
    })
    .await;
    // A service reading one customer at a time, in a budget of a million over an hour.
    let hour = Duration::from_secs(3600);
    let customer = |index: u32| format!("c-{index:06}");
    let charge_new = per_call(|index| async move {
        let customer = customer(index);
        let customers = [customer.as_str()];
        let charge = budgets.charge(
            "service:shop",
            ReadClass::Masked,
            &customers,
            1_000_000,
            hour,
            at(0),
        );
        assert!(charge.await.unwrap());
    })
    .await;
    let charge_repeat = per_call(|index| async move {
        let customer = customer(index.wrapping_mul(7919) % LIMIT_CALLS);
        let customers = [customer.as_str()];
        let charge = budgets.charge(
            "service:shop",
            ReadClass::Masked,
            &customers,
            1_000_000,
            hour,
            at(1),
        );
        assert!(charge.await.unwrap());
    })
    .await;
    LimitCosts {
        lookup_admit,
        lookup_settle_miss,
        sign_in_reserve,
        sign_in_check,
        charge_repeat,
        charge_new,
    }
}

/// What the limits a cluster shares cost per call on PostgreSQL, beside the embedded ones in
/// memory and one bare round trip: `cargo test -p haechi-store --release --test conformance
/// -- --ignored --nocapture measure_shared_limits`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "prints timings; run by hand with --release --ignored --nocapture"]
async fn measure_shared_limits() {
    let embedded = measure_limits(
        &MemoryLookupLimits::default(),
        &MemorySignInLimits::default(),
        &MemoryBudgets::default(),
    )
    .await;
    let Some((store, _database)) = crate::postgres().await else {
        return;
    };
    let round_trip = per_call(|_| async {
        sqlx::query("SELECT 1").execute(store.pool()).await.unwrap();
    })
    .await;
    let shared = measure_limits(store.as_ref(), store.as_ref(), store.as_ref()).await;
    store.close().await;
    println!("limits, per call ({LIMIT_CALLS} sequential calls each):");
    println!("  {:<45} {:>10} {:>10}", "", "embedded", "PostgreSQL");
    println!(
        "  {:<45} {:>10} {round_trip:>10.1?}",
        "SELECT 1 (one round trip)", ""
    );
    for (name, embedded, shared) in [
        (
            "lookup-miss check (admit: reserve a miss)",
            embedded.lookup_admit,
            shared.lookup_admit,
        ),
        (
            "lookup settled as a miss (+ statistics)",
            embedded.lookup_settle_miss,
            shared.lookup_settle_miss,
        ),
        (
            "sign-in throttle: reserve an attempt",
            embedded.sign_in_reserve,
            shared.sign_in_reserve,
        ),
        (
            "sign-in throttle: check (client grant)",
            embedded.sign_in_check,
            shared.sign_in_check,
        ),
        (
            "budget charge, repeat read",
            embedded.charge_repeat,
            shared.charge_repeat,
        ),
        (
            "budget charge, new customer",
            embedded.charge_new,
            shared.charge_new,
        ),
    ] {
        println!("  {name:<45} {embedded:>10.1?} {shared:>10.1?}");
    }
}
