//! `haechi migrate` end to end: the real binary moves an embedded deployment — made by the
//! binary's own commands and a real server (keys, administrators, services, a bulk import of
//! generated customers, logins and refreshes, a block, a suspension, a policy replaced, the
//! audit log all of that wrote) — into the real PostgreSQL and NATS of `haechi-testbed`, and
//! the result is compared table by table with the SQLite file, and the moved audit chain is
//! verified from the stream.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]

#[path = "../util.rs"]
mod util;

mod compare;
mod deployment;
mod hostile;
mod moves;
mod scale;

use std::path::Path;

use util::Instance;

/// The servers of one test: a fresh database, and the shared NATS under a prefix of its own.
pub struct Servers {
    /// A database of this test's own.
    pub database: haechi_testbed::TestDatabase,
    /// The shared NATS and this test's prefix on it.
    pub nats: haechi_testbed::TestNats,
}

/// Both servers, or `None` (the test bed says SKIPPED; CI requires them).
pub async fn servers() -> Option<Servers> {
    let database = haechi_testbed::postgres().await?;
    let nats = haechi_testbed::nats()?;
    Some(Servers { database, nats })
}

/// Runs `haechi migrate` with `args` for `instance`'s data directory; (exit code, stdout,
/// stderr).
pub fn migrate(instance: &Instance, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["migrate"];
    all.extend_from_slice(args);
    instance.run(&all, None)
}

/// `haechi migrate --from DATA --to URL --bus NATS --bus-prefix PREFIX` and `extra`.
pub fn migrate_with_bus(
    instance: &Instance,
    servers: &Servers,
    extra: &[&str],
) -> (i32, String, String) {
    let data = instance.data_dir();
    let mut args = vec![
        "--from",
        data.to_str().unwrap(),
        "--to",
        &servers.database.url,
        "--bus",
        &servers.nats.url,
        "--bus-prefix",
        &servers.nats.prefix,
    ];
    args.extend_from_slice(extra);
    migrate(instance, &args)
}

/// The data directory's audit public key, as `haechi audit public-key --format hex` prints it.
pub fn audit_public_key(instance: &Instance) -> String {
    let (code, stdout, stderr) = instance.run(&["audit", "public-key", "--format", "hex"], None);
    assert_eq!(code, 0, "{stderr}");
    stdout.trim().to_string()
}

/// The summary's row of `table`: (source rows, inserted, present, target rows, content).
pub fn summary_row(stdout: &str, table: &str) -> (u64, u64, u64, u64, String) {
    let line = stdout
        .lines()
        .find(|line| line.split_whitespace().next() == Some(table))
        .unwrap_or_else(|| panic!("no summary row for {table} in:\n{stdout}"));
    let fields: Vec<&str> = line.split_whitespace().collect();
    let number = |index: usize| fields[index].parse::<u64>().unwrap();
    (
        number(1),
        number(2),
        number(3),
        number(4),
        fields[5].to_string(),
    )
}

/// The audit records of the log in `dir` (live and archived).
pub fn audit_records(dir: &Path) -> u64 {
    haechi_audit::read_history(&dir.join("audit"))
        .unwrap()
        .count() as u64
}
