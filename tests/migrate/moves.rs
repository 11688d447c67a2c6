//! Moves that succeed: whole and verified, twice, after an interruption, after a kill -9,
//! without a bus, and without the master key.

use std::process::Stdio;
use std::time::{Duration, Instant};

use haechi_bus::BusOptions;
use sqlx::Row as _;

use crate::compare::{assert_moved, sqlite_counts};
use crate::deployment::deployment;
use crate::{audit_public_key, audit_records, migrate, migrate_with_bus, servers, summary_row};

/// Tables a deployment made by [`deployment`] has rows in (alert acknowledgements and leak
/// exposures need detection and a leak; the library's tests fill them).
const FILLED: &[&str] = &[
    "signing_keys",
    "secrets",
    "sessions",
    "issued_tokens",
    "refresh_tokens",
    "accounts",
    "account_logins",
    "clients",
    "customers",
    "blind_index",
    "import_progress",
    "network_blocks",
    "principal_suspensions",
    "policy_versions",
];

/// The move's record in the cluster store: (finished, audit location, audit records, head).
async fn transfer_record(url: &str) -> (bool, String, i64, Option<Vec<u8>>) {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let row = sqlx::query(
        "SELECT finished_at, audit_location, audit_records, audit_head FROM embedded_transfers",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    (
        row.get::<Option<i64>, _>(0).is_some(),
        row.get(1),
        row.get(2),
        row.get(3),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_deployment_moves_whole_into_the_cluster_and_verifies() {
    let Some(servers) = servers().await else {
        return;
    };
    let instance = deployment(300).await;
    let data = instance.data_dir();
    let records = audit_records(&data);
    let key = audit_public_key(&instance);
    let before = sqlite_counts(&data).await;

    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("(first run)"), "{stdout}");
    assert!(stdout.contains("verification: OK"), "{stdout}");
    for (table, rows) in &before {
        let (source, inserted, present, target, content) = summary_row(&stdout, table);
        assert_eq!(
            (source, inserted, present, target),
            (*rows as u64, *rows as u64, 0, *rows as u64)
        );
        assert_eq!(content, "same", "{table}");
    }
    let counts = assert_moved(&data, &servers.database.url).await;
    for table in FILLED {
        assert!(counts[*table] > 0, "{table} is empty: {counts:?}");
    }
    assert_eq!(counts["customers"], 300, "{counts:?}");
    assert!(
        stdout.contains(&format!("audit: {records} records")),
        "{stdout}"
    );

    // The chain, read back from the stream alone, verifies against the audit key, whole.
    let bus = haechi_bus::Bus::connect(BusOptions::new(&servers.nats.url, &servers.nats.prefix, 1))
        .await
        .unwrap();
    let key = haechi_audit::parse_public_key(&key).unwrap();
    let chain = haechi_bus::verify_node(&bus, "embedded", &key)
        .await
        .unwrap();
    assert!(chain.is_intact(), "{chain}");
    assert_eq!((chain.first_seq, chain.records), (1, records), "{chain}");
    assert!(chain.checkpoints_verified > 0, "{chain}");
    let (finished, location, moved_records, head) = transfer_record(&servers.database.url).await;
    assert!(finished);
    assert!(location.contains("node embedded"), "{location}");
    assert_eq!(moved_records as u64, records);
    assert_eq!(head.map(|head| head.len()), Some(32));

    // Run again: nothing inserted, nothing published, the same verified result.
    let (code, again, stderr) = migrate_with_bus(&instance, &servers, &[]);
    assert_eq!(code, 0, "{again}\n{stderr}");
    assert!(again.contains("(repeated a finished move)"), "{again}");
    for table in before.keys() {
        let (source, inserted, present, _, content) = summary_row(&again, table);
        assert_eq!(
            (inserted, present, content.as_str()),
            (0, source, "same"),
            "{table}"
        );
    }
    assert!(
        again.contains("(0 records and 0 checkpoints published by this run)"),
        "{again}"
    );
    assert!(again.contains("verification: OK"), "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_move_resumes_to_the_same_content() {
    let Some(servers) = servers().await else {
        return;
    };
    let instance = deployment(200).await;
    let (code, stdout, stderr) = migrate_with_bus(
        &instance,
        &servers,
        &["--batch-rows", "50", "--stop-after-batches", "4"],
    );
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("stopped after 4 batches"), "{stderr}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );

    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &["--batch-rows", "50"]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("(resumed an interrupted run)"), "{stdout}");
    let (_, _, present, _, _) = summary_row(&stdout, "signing_keys");
    assert!(present > 0, "{stdout}");
    assert!(stdout.contains("verification: OK"), "{stdout}");
    assert_moved(&instance.data_dir(), &servers.database.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_move_killed_mid_copy_resumes() {
    let Some(servers) = servers().await else {
        return;
    };
    let instance = deployment(3_000).await;
    let data = instance.data_dir();
    let mut command = instance.command(&[
        "migrate",
        "--from",
        data.to_str().unwrap(),
        "--to",
        &servers.database.url,
        "--batch-rows",
        "10",
    ]);
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // kill -9 once part of the records are in (the run takes far longer than this wait).
    let pool = sqlx::PgPool::connect(&servers.database.url).await.unwrap();
    let started = Instant::now();
    loop {
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
            .fetch_one(&pool)
            .await
            .unwrap_or(0);
        if rows > 0 || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let partial: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    assert!(
        partial > 0 && partial < 3_000,
        "killed at {partial} customers"
    );

    let (code, stdout, stderr) = migrate(
        &instance,
        &[
            "--from",
            data.to_str().unwrap(),
            "--to",
            &servers.database.url,
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("(resumed an interrupted run)"), "{stdout}");
    let (_, inserted, present, target, _) = summary_row(&stdout, "customers");
    // At least what was counted after the kill is found present (a COMMIT sent just before
    // the kill may still land after the count), and the two runs together moved everything.
    assert!(
        present as i64 >= partial,
        "{present} present, {partial} counted"
    );
    assert_eq!(inserted + present, target);
    assert!(stdout.contains("verification: OK"), "{stdout}");
    assert_moved(&data, &servers.database.url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bus_the_history_stays_verified_and_referenced() {
    let Some(servers) = servers().await else {
        return;
    };
    let instance = deployment(20).await;
    let data = instance.data_dir();
    let records = audit_records(&data);
    let (code, stdout, stderr) = migrate(
        &instance,
        &[
            "--from",
            data.to_str().unwrap(),
            "--to",
            &servers.database.url,
        ],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("audit: {records} records stay in")),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "audit chain in place: all {records} records verify"
        )),
        "{stdout}"
    );
    let (finished, location, moved_records, head) = transfer_record(&servers.database.url).await;
    assert!(
        finished && location.starts_with("embedded log "),
        "{location}"
    );
    assert_eq!(moved_records as u64, records);
    let last = haechi_audit::read_history(&data.join("audit"))
        .unwrap()
        .last()
        .unwrap()
        .unwrap();
    assert_eq!(head, Some(last.hash.to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_move_never_needs_the_master_key() {
    let Some(servers) = servers().await else {
        return;
    };
    let instance = deployment(10).await;
    let data = instance.data_dir();
    let key_file = instance.dir.path().join("audit-key.hex");
    std::fs::write(&key_file, audit_public_key(&instance)).unwrap();
    // The master key leaves the machine (it goes to the cluster's KMS, not through migrate).
    std::fs::rename(
        data.join("master.key"),
        instance.dir.path().join("master.key.elsewhere"),
    )
    .unwrap();

    // Without it and without the auditor's public key, the chain could not be verified:
    // refused before anything is written.
    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &[]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("--audit-key"), "{stderr}");
    let pool = sqlx::PgPool::connect(&servers.database.url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(tables, 0, "nothing was created in the target");

    let (code, stdout, stderr) = migrate_with_bus(
        &instance,
        &servers,
        &["--audit-key", key_file.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("verification: OK"), "{stdout}");
    assert!(!data.join("master.key").exists());
    assert_moved(&data, &servers.database.url).await;
}
