//! Refusals: a deployment in use, a target with other content, and hostile command lines —
//! each a clear error (exit 2) that never prints a password.

use crate::deployment::deployment;
use crate::util::Instance;
use crate::{migrate, migrate_with_bus, servers};

/// A password that must never appear in anything the command prints.
const SECRET: &str = "s3cret-pw";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_in_use_is_refused() {
    let Some(servers) = servers().await else {
        return;
    };
    let instance = deployment(0).await;
    let server = instance.serve();
    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &[]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("haechi serve is running on"), "{stderr}");
    assert!(stderr.contains("stop it first"), "{stderr}");
    assert_eq!(server.terminate(), Some(0));

    // A one-shot command holding the audit log (here: this test) is refused too.
    let held = haechi_audit::hold_log(&instance.data_dir().join("audit")).unwrap();
    let (code, _, stderr) = migrate_with_bus(&instance, &servers, &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("is held by another haechi command"),
        "{stderr}"
    );
    drop(held);

    let pool = sqlx::PgPool::connect(&servers.database.url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(tables, 0, "nothing was written to the target");
    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &[]);
    assert_eq!(code, 0, "once stopped, it moves: {stdout}\n{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_with_other_content_under_the_same_keys_is_refused_unmerged() {
    let Some(servers) = servers().await else {
        return;
    };
    let instance = deployment(5).await;
    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // A node of the cluster ran and revoked a session; then someone moves again.
    let pool = sqlx::PgPool::connect(&servers.database.url).await.unwrap();
    sqlx::query(
        "UPDATE sessions SET revoked_at = 1, revoke_reason = 'logout' \
         WHERE sid = (SELECT min(sid) FROM sessions)",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &[]);
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(stderr.contains("table sessions"), "{stderr}");
    assert!(stderr.contains("other content"), "{stderr}");
    assert!(stderr.contains("nothing was merged"), "{stderr}");
    let revoked: i64 =
        sqlx::query_scalar("SELECT count(*) FROM sessions WHERE revoke_reason = 'logout'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(revoked, 1, "the cluster's change is left as it was");
    pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_schema_is_made_without_from() {
    let Some(servers) = servers().await else {
        return;
    };
    let instance = Instance::new();
    let (code, stdout, stderr) = migrate(&instance, &["--to", &servers.database.url]);
    assert_eq!(code, 0, "{stderr}");
    let latest = haechi_store::PgStore::latest_schema_version();
    assert!(
        stdout.contains(&format!("schema at version {latest}")),
        "{stdout}"
    );
    let (code, again, _) = migrate(&instance, &["--to", &servers.database.url]);
    assert_eq!((code, again), (0, stdout));
}

/// Runs `migrate` with `args` and expects exit 2 with `want` in stderr and no password.
fn check_refused(instance: &Instance, args: &[&str], want: &str) {
    let (code, stdout, stderr) = migrate(instance, args);
    assert_eq!(code, 2, "{args:?}: {stdout}\n{stderr}");
    assert!(stderr.contains(want), "{args:?}: {stderr}");
    assert!(
        !stdout.contains(SECRET) && !stderr.contains(SECRET),
        "{args:?} printed the password: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_command_lines_are_clear_errors_without_passwords() {
    let instance = Instance::new();
    let scratch = instance.dir.path();
    let missing = scratch.join("no-such-dir");
    let not_haechi = scratch.join("photos");
    std::fs::create_dir_all(&not_haechi).unwrap();
    std::fs::write(not_haechi.join("cat.jpg"), b"\xff\xd8\xff").unwrap();
    let fake = scratch.join("fake");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(fake.join("haechi.db"), b"not a database at all").unwrap();
    let good_url = format!("postgres://haechi:{SECRET}@127.0.0.1:1/haechi");
    let from = |dir: &std::path::Path| dir.to_str().unwrap().to_string();

    check_refused(
        &instance,
        &["--from", &from(&missing), "--to", &good_url],
        "there is no such directory",
    );
    assert!(!missing.exists(), "the missing directory was created");
    check_refused(
        &instance,
        &["--from", &from(&not_haechi), "--to", &good_url],
        "is not a Haechi data directory",
    );
    check_refused(
        &instance,
        &["--from", &from(&fake), "--to", &good_url],
        "is not a Haechi database",
    );
    check_refused(
        &instance,
        &["--to", &format!("mysql://root:{SECRET}@db/haechi")],
        "give a postgres:// URL",
    );
    check_refused(&instance, &["--to", "definitely not a url"], "not a URL");
    check_refused(
        &instance,
        &[
            "--to",
            &format!("postgres://haechi:{SECRET}@db:notaport/haechi"),
        ],
        "postgres://haechi@db:notaport/haechi",
    );
    // Nothing listens on port 1: the connection fails, naming the database without the password.
    check_refused(
        &instance,
        &["--to", &good_url],
        "postgres://haechi@127.0.0.1:1/haechi",
    );
    check_refused(
        &instance,
        &["--to", &good_url, "--bus", "nats://127.0.0.1:1"],
        "required arguments were not provided",
    );

    // A real deployment, a bus that is not there: refused before anything moves, naming the
    // bus without its password.
    let Some(servers) = servers().await else {
        return;
    };
    let deployment = deployment(0).await;
    let data = deployment.data_dir();
    let (code, stdout, stderr) = migrate(
        &deployment,
        &[
            "--from",
            data.to_str().unwrap(),
            "--to",
            &servers.database.url,
            "--bus",
            &format!("nats://haechi:{SECRET}@127.0.0.1:1"),
        ],
    );
    assert_eq!(code, 2, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("cannot reach the cluster's bus"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(SECRET) && !stdout.contains(SECRET),
        "{stderr}"
    );
    let pool = sqlx::PgPool::connect(&servers.database.url).await.unwrap();
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    assert_eq!(tables, 0, "nothing was written to the target");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_the_source_does_not_have_make_the_verification_fail() {
    let Some(servers) = servers().await else {
        return;
    };
    let instance = deployment(3).await;
    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    // A node acknowledged an alert after the move; the move is run again.
    let pool = sqlx::PgPool::connect(&servers.database.url).await.unwrap();
    sqlx::query("INSERT INTO alert_acks VALUES ('alert-after', 'admin:ops', 1, NULL)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let (code, stdout, stderr) = migrate_with_bus(&instance, &servers, &[]);
    assert_eq!(code, 1, "{stdout}\n{stderr}");
    let (source, _, _, target, content) = crate::summary_row(&stdout, "alert_acks");
    assert_eq!((source, target, content.as_str()), (0, 1, "DIFFERENT"));
    assert!(
        stdout.contains("verification: FAILED: tables differ: alert_acks"),
        "{stdout}"
    );
}
