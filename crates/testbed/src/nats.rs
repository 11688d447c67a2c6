//! NATS servers: the shared one the environment names, or a private one a test may stop.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The shared NATS server, with a prefix no other test uses (for stream and subject names).
#[derive(Debug, Clone)]
pub struct TestNats {
    /// The server's URL.
    pub url: String,
    /// A unique prefix for this test's streams and subjects.
    pub prefix: String,
}

/// The NATS server `HAECHI_TEST_NATS` names, or `None` when the variable is unset (see the
/// crate's documentation).
pub fn nats() -> Option<TestNats> {
    let url = crate::server_url("HAECHI_TEST_NATS")?;
    Some(TestNats {
        url,
        prefix: format!("t{}", crate::unique_suffix()),
    })
}

/// A `nats-server -js` of this test's own, on a free loopback port, with its JetStream store
/// in a temporary directory that outlives restarts.
#[derive(Debug)]
pub struct PrivateNats {
    /// The server's URL.
    pub url: String,
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
}

impl PrivateNats {
    /// Starts one, or `None` when `nats-server` is not installed and servers are not
    /// required.
    pub fn start() -> Option<Self> {
        if Command::new("nats-server")
            .arg("--version")
            .output()
            .is_err()
        {
            if crate::servers_required() {
                panic!("nats-server is not installed and HAECHI_REQUIRE_SERVERS=1");
            }
            eprintln!("SKIPPED: nats-server is not installed (apt-get install nats-server)");
            return None;
        }
        let port = free_port();
        let store = tempfile::tempdir().expect("temporary directory");
        let mut server = PrivateNats {
            url: format!("nats://127.0.0.1:{port}"),
            port,
            store,
            child: None,
        };
        server.resume();
        Some(server)
    }

    /// Kills the server at once (`SIGKILL`); its stream data stays on disk.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store.
    pub fn resume(&mut self) {
        self.kill();
        let child = spawn(self.port, self.store.path());
        self.child = Some(child);
        wait_for_port(self.port);
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(port: u16, store: &Path) -> Child {
    Command::new("nats-server")
        .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
        .arg(store)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server")
}

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("nats-server did not listen on {port} within 10 s");
}
