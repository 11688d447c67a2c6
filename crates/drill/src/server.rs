//! The server under test when the drill starts its own: `haechi serve` on a fresh temporary
//! data directory, on the drill clock, trusting `X-Forwarded-For` (the drill plays many
//! networks from one host), with the scenario's customers already in its vault through the
//! bulk path (`haechi customers import -`). The `haechi` binary to run is given, never looked
//! up here, so this crate does not depend on the binary.

use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::Error;

/// A `haechi serve` child process.
pub(crate) struct LocalServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its data directory (removed on drop unless kept).
    pub data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

/// Runs `command` in `dir` with none of the caller's `HAECHI_*` settings and no
/// `haechi.toml` of the caller's directory: the drill's server and tools are configured by
/// the drill alone, so a drill never pages the caller's webhook, writes into its archive or
/// opens its data with its master key.
pub(crate) fn isolate(command: &mut Command, dir: &Path) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("HAECHI_") {
            command.env_remove(name);
        }
    }
    command.current_dir(dir);
}

/// An administrator's (or a service's) client credential.
#[derive(Clone)]
pub struct Credential {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
}

/// An error of the drill's own server, with what it said.
fn failed(message: String) -> Error {
    Error::LocalServer(message)
}

impl LocalServer {
    /// Creates a data directory with an administrator and `customers` customers (the JSON
    /// record of customer `i` is `customer(i)`), then starts the server (`haechi`, the binary
    /// at `exe`) on it with simulated time starting at `start`. Returns the server, the
    /// administrator's credential and the customers' ids, customer `i`'s at `i`.
    pub fn start(
        exe: &Path,
        start: &str,
        keep: Option<&Path>,
        customers: &Customers<'_>,
    ) -> Result<(LocalServer, Credential, Vec<String>), Error> {
        let (temp, data_dir) = data_directory(keep)?;
        let environment = environment(start);
        let credential = create_admin(exe, &data_dir, &environment)?;
        let ids = import_customers(exe, &data_dir, &environment, customers)?;
        let mut serve = Command::new(exe);
        isolate(&mut serve, &data_dir);
        let mut child = serve
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .envs(environment)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(Error::local("cannot start haechi serve"))?;
        let base = listening_address(&mut child)?;
        Ok((
            LocalServer {
                child,
                base,
                data_dir,
                _temp: temp,
            },
            credential,
            ids,
        ))
    }

    /// Whether the server is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Stops the server gracefully (SIGTERM: it evaluates what detection holds and signs a
    /// final audit checkpoint), killing it if it does not stop within a minute.
    pub fn stop(&mut self) -> Result<(), Error> {
        if !self.is_running() {
            return Ok(());
        }
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        Err(failed(
            "haechi serve did not stop within a minute; killed".into(),
        ))
    }
}

/// The data directory: `keep` (created if need be), or a temporary one removed with the
/// server.
fn data_directory(keep: Option<&Path>) -> Result<(Option<tempfile::TempDir>, PathBuf), Error> {
    match keep {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(Error::local(format!("cannot create {}", dir.display())))?;
            Ok((None, dir.to_path_buf()))
        }
        None => {
            let temp = tempfile::Builder::new()
                .prefix("haechi-drill-")
                .tempdir()
                .map_err(Error::local("cannot create a temporary data directory"))?;
            let dir = temp.path().to_path_buf();
            Ok((Some(temp), dir))
        }
    }
}

/// The drill server's settings, all the drill's own, with simulated time from `start`.
fn environment(start: &str) -> [(&'static str, &str); 6] {
    [
        ("HAECHI_DRILL__DANGEROUS_SIMULATED_CLOCK", "true"),
        ("HAECHI_DRILL__START", start),
        (
            "HAECHI_SERVER__TRUSTED_PROXIES",
            r#"["127.0.0.0/8", "::1/128"]"#,
        ),
        ("HAECHI_DETECT__RESPONSE", "enforce"),
        // The headroom watch speaks of the host's disk, not of the drill: on a nearly
        // full machine its alert would be scored as a false positive of the scenario.
        ("HAECHI_AUDIT__MIN_FREE_HEADROOM", "0%"),
        ("HAECHI_LOG", "error"),
    ]
}

/// `haechi admin create drill` on the data directory: the administrator's credential.
fn create_admin(
    exe: &Path,
    data_dir: &Path,
    environment: &[(&str, &str)],
) -> Result<Credential, Error> {
    let mut admin = Command::new(exe);
    isolate(&mut admin, data_dir);
    admin
        .args(["admin", "create", "drill", "--data-dir"])
        .arg(data_dir)
        .envs(environment.iter().copied());
    let output = admin
        .output()
        .map_err(Error::local("cannot run haechi admin create"))?;
    if !output.status.success() {
        return Err(failed(format!(
            "haechi admin create failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let field = |name: &str| {
        stdout
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name}=")))
            .map(str::to_string)
            .ok_or_else(|| failed(format!("haechi admin create printed no {name}")))
    };
    Ok(Credential {
        client_id: field("client_id")?,
        client_secret: field("client_secret")?,
    })
}

/// The customers a drill's own server starts with.
pub(crate) struct Customers<'a> {
    /// How many.
    pub count: u64,
    /// The JSON record (`POST /v1/customers`'s body) of customer `i`.
    pub record: &'a (dyn Fn(u64) -> serde_json::Value + Sync),
}

/// `haechi customers import -` on the data directory, fed the customers through a pipe (their
/// plaintext never touches the disk): the bulk path, tens of times faster than creating them
/// one request at a time. Their ids, in the customers' order.
fn import_customers(
    exe: &Path,
    data_dir: &Path,
    environment: &[(&str, &str)],
    customers: &Customers<'_>,
) -> Result<Vec<String>, Error> {
    let ids_file = data_dir.join("drill-customer-ids.tsv");
    let mut import = Command::new(exe);
    isolate(&mut import, data_dir);
    let mut child = import
        .args(["customers", "import", "-", "--data-dir"])
        .arg(data_dir)
        .arg("--ids-out")
        .arg(&ids_file)
        .envs(environment.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::local("cannot run haechi customers import"))?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| failed("no stdin to haechi customers import".into()))?;
    // The records are written on a thread of their own while this one collects what the
    // import says, so neither side waits on a full pipe.
    let (written, output) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || -> std::io::Result<()> {
            let mut stdin = BufWriter::with_capacity(1 << 16, stdin);
            for index in 0..customers.count {
                serde_json::to_writer(&mut stdin, &(customers.record)(index))?;
                stdin.write_all(b"\n")?;
            }
            stdin.flush()
        });
        let output = child.wait_with_output();
        (writer.join(), output)
    });
    let output = output.map_err(Error::local("haechi customers import"))?;
    if !output.status.success() {
        return Err(failed(format!(
            "haechi customers import failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    match written {
        Ok(Ok(())) => {}
        Ok(Err(error)) => return Err(failed(format!("feeding haechi customers import: {error}"))),
        Err(_) => {
            return Err(failed(
                "the thread feeding haechi customers import panicked".into(),
            ));
        }
    }
    let listed = std::fs::read_to_string(&ids_file)
        .map_err(Error::local("cannot read the imported customers' ids"))?;
    let _ = std::fs::remove_file(&ids_file);
    let mut ids: Vec<(u64, String)> = listed
        .lines()
        .filter_map(|line| {
            let (number, id) = line.split_once('\t')?;
            Some((number.parse().ok()?, id.to_string()))
        })
        .collect();
    ids.sort_unstable_by_key(|(line, _)| *line);
    // Line n is customer n - 1; a rejected line is a gap.
    let in_order = ids
        .iter()
        .enumerate()
        .all(|(index, (line, _))| *line == index as u64 + 1);
    if ids.len() as u64 != customers.count || !in_order {
        return Err(failed(format!(
            "haechi customers import imported {} of {} customers: {}",
            ids.len(),
            customers.count,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}

/// The base URL `haechi serve` prints once it listens, waited for up to a minute.
fn listening_address(child: &mut Child) -> Result<String, Error> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| failed("no stdout from haechi serve".into()))?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(base) = line.strip_prefix("haechi listening on ") {
                let _ = sender.send(base.trim().to_string());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(base) = receiver.recv_timeout(Duration::from_millis(100)) {
            return Ok(base);
        }
        if let Some(status) = child.try_wait()? {
            return Err(failed(format!(
                "haechi serve exited before listening ({status})"
            )));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(failed(
                "haechi serve did not start listening within a minute".into(),
            ));
        }
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
