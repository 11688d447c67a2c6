//! A PostgreSQL server of one test's own, which the test may stop and start again (the shared
//! server must not be restarted under the other tests). From Debian's `postgresql` package;
//! run as the `postgres` user when the tests run as root (PostgreSQL refuses root).

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A private PostgreSQL server on a free loopback port, its data in a temporary directory.
#[derive(Debug)]
pub struct PrivatePostgres {
    /// A URL of its `postgres` database (user `haechi`, trusted on loopback).
    pub url: String,
    port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| output.stdout.starts_with(b"0\n"))
}

impl PrivatePostgres {
    /// Creates and starts one, or `None` when PostgreSQL is not installed and servers are not
    /// required.
    pub fn start() -> Option<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|versions| {
                versions
                    .filter_map(Result::ok)
                    .map(|entry| entry.path().join("bin"))
                    .filter(|bin| bin.join("initdb").exists())
                    .max()
            });
        let Some(bin) = bin else {
            if crate::servers_required() {
                panic!("PostgreSQL is not installed and HAECHI_REQUIRE_SERVERS=1");
            }
            eprintln!("SKIPPED: PostgreSQL is not installed (apt-get install postgresql)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temporary directory");
        if as_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(
                status.success(),
                "chown of the private PostgreSQL directory failed"
            );
        }
        let port = crate::nats::free_port();
        let server = PrivatePostgres {
            url: format!("postgres://haechi@127.0.0.1:{port}/postgres"),
            port,
            bin,
            dir,
        };
        let data = server.data().display().to_string();
        server.run(&[
            "initdb",
            "-D",
            &data,
            "-U",
            "haechi",
            "--auth=trust",
            "-E",
            "UTF8",
        ]);
        server.resume();
        Some(server)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn run(&self, command: &[&str]) {
        let program = self.bin.join(command[0]);
        let mut invocation = if as_root() {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(&program);
            runuser
        } else {
            Command::new(&program)
        };
        let status = invocation
            .args(&command[1..])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap_or_else(|error| panic!("{}: {error}", command[0]));
        assert!(status.success(), "{} failed", command.join(" "));
    }

    /// Stops the server at once (`immediate`: no checkpoint, as if it crashed).
    pub fn kill(&self) {
        let data = self.data().display().to_string();
        self.run(&["pg_ctl", "-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    /// Starts the server (again) on the same port and data.
    pub fn resume(&self) {
        let data = self.data().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1",
            self.port,
            self.dir.path().display()
        );
        self.run(&[
            "pg_ctl", "-D", &data, "-l", &log, "-o", &options, "-w", "start",
        ]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        let program = self.bin.join("pg_ctl");
        let mut stop = if as_root() {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        let _ = stop
            .args(["-D", &data, "-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
