//! `haechi serve`'s listeners: every one with a long accept queue ([`bind`]), and those beside
//! the main address, each served by a runtime on threads of its own, so that what arrives on
//! one is not queued behind what arrives on another:
//! - the operators' (`server.operator_listen`): the whole API, on a thread the operating
//!   system schedules whatever the main runtime's workers are busy with;
//! - the portal's (`portal.listen`): the public's pages and checks, on threads that run at a
//!   lower priority than the rest of the server (`portal.nice`), so that a surge of the
//!   public takes only the CPU the API, the operators and detection leave idle.

use std::net::SocketAddr;
use std::thread::JoinHandle;

use anyhow::Context as _;
use haechi_server::AppState;
use tokio::net::TcpListener;

use crate::config::{Config, PortalListener};

/// A listener's thread, joined when the server stops. The thread hands its runtime back
/// rather than dropping it: connections of the shared store's pool may have been opened on
/// that runtime, and must keep their I/O driver until the store is closed.
pub struct SideListener {
    name: &'static str,
    thread: JoinHandle<tokio::runtime::Runtime>,
}

/// A stopped listener's runtime, kept until [`Stopped::release`].
pub struct Stopped(tokio::runtime::Runtime);

impl SideListener {
    /// Waits for the listener to finish its requests in flight (its `shutdown` has resolved).
    pub fn join(self) -> Option<Stopped> {
        match self.thread.join() {
            Ok(runtime) => Some(Stopped(runtime)),
            Err(_) => {
                tracing::error!(listener = self.name, "a listener's thread panicked");
                None
            }
        }
    }
}

impl Stopped {
    /// Lets the runtime go, once the store is closed. (From async code: a runtime may not be
    /// dropped where blocking is not allowed.)
    pub fn release(self) {
        self.0.shutdown_background();
    }
}

/// The API on `server.operator_listen`, when set, served by a runtime on a thread of its own.
/// Stops when `shutdown` resolves.
pub fn operators(
    config: &Config,
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<SideListener>> {
    let Some(address) = config.server.operator_listen else {
        return Ok(None);
    };
    let listener = bind(address, "operators")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("haechi-operators")
        .enable_all()
        .build()
        .context("cannot start the operators' runtime")?;
    let state = state.clone();
    let serving = serve_on_thread("operators", runtime, None, listener, move |listener| {
        haechi_server::serve(listener, state, shutdown)
    })?;
    Ok(Some(serving))
}

/// The portal on `portal.listen`, when set: what a `--role portal` node serves, on a runtime
/// whose every thread (workers, blocking pool, the accept loop) runs at `portal.nice`. Stops
/// when `shutdown` resolves.
pub fn portal(
    settings: Option<PortalListener>,
    state: &AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Option<SideListener>> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    let listener = bind(settings.address, "the portal")?;
    // The value every portal thread is set to: the server's own plus `portal.nice`, absolute,
    // since a thread inherits its creator's (a blocking-pool thread may be made by a portal
    // worker, already lowered).
    let nice = below_this_thread(settings.nice);
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = settings.threads {
        builder.worker_threads(threads);
    }
    let runtime = builder
        .thread_name("haechi-portal")
        .on_thread_start(move || run_below(nice))
        .enable_all()
        .build()
        .context("cannot start the portal's runtime")?;
    {
        // The check's pace measures this runtime too: the crowd's checks are answered here.
        let _inside = runtime.enter();
        state.follow_check_load();
    }
    let state = state.clone();
    let serving = serve_on_thread("portal", runtime, nice, listener, move |listener| {
        haechi_server::serve_portal(listener, state, shutdown)
    })?;
    tracing::info!(?nice, "the portal served on a listener of its own");
    Ok(Some(serving))
}

/// Serves `listener` with `serve` on `runtime`, driven by a thread named `haechi-NAME` (at
/// `nice`, when set), and prints `haechi NAME on http://ADDRESS`, the line scripts and tests
/// read the address from. The thread hands the runtime back when `serve` returns.
fn serve_on_thread<Serving>(
    name: &'static str,
    runtime: tokio::runtime::Runtime,
    nice: Option<i32>,
    listener: std::net::TcpListener,
    serve: impl FnOnce(TcpListener) -> Serving + Send + 'static,
) -> anyhow::Result<SideListener>
where
    Serving: Future<Output = std::io::Result<()>>,
{
    let bound = listener.local_addr()?;
    let thread = std::thread::Builder::new()
        .name(format!("haechi-{name}"))
        .spawn(move || {
            run_below(nice);
            runtime.block_on(async move {
                let served = match TcpListener::from_std(listener) {
                    Ok(listener) => serve(listener).await,
                    Err(error) => Err(error),
                };
                if let Err(error) = served {
                    tracing::error!(%error, listener = name, "a listener stopped");
                }
            });
            runtime
        })
        .with_context(|| format!("cannot start the {name} listener's thread"))?;
    println!("haechi {name} on http://{bound}");
    Ok(SideListener { name, thread })
}

/// Connections the kernel holds for a listener before it is asked for them. A surge opens
/// connections faster than a busy server accepts them; when the queue is full the kernel drops
/// the client's SYN and the client tries again only after a second (then three, then seven),
/// so a short queue turns a busy moment into seconds of latency. The kernel caps it at
/// `net.core.somaxconn` (4096 by default since Linux 5.4). Tokio's and std's defaults are 1024
/// and 128.
const ACCEPT_QUEUE: i32 = 4096;

/// A non-blocking listener on `address` with a long accept queue ([`ACCEPT_QUEUE`]).
pub fn bind(address: SocketAddr, whose: &str) -> anyhow::Result<std::net::TcpListener> {
    let listen = || -> std::io::Result<std::net::TcpListener> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(address),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        // As std and tokio do on Unix: a restarted server binds at once, whatever TIME_WAIT
        // is left. (On Windows the same flag would let another process take the port.)
        #[cfg(unix)]
        socket.set_reuse_address(true)?;
        socket.bind(&address.into())?;
        socket.listen(ACCEPT_QUEUE)?;
        socket.set_nonblocking(true)?;
        Ok(socket.into())
    };
    listen().with_context(|| format!("cannot listen on {address} for {whose}"))
}

/// The nice value `lower` below the calling thread's, at most 19 (the lowest); `None` when
/// nothing is to be lowered or this system keeps no per-thread value.
fn below_this_thread(lower: i32) -> Option<i32> {
    if lower == 0 {
        return None;
    }
    #[cfg(target_os = "linux")]
    {
        let own = rustix::process::getpriority_process(None).unwrap_or(0);
        Some((own + lower).min(19))
    }
    #[cfg(not(target_os = "linux"))]
    {
        tracing::warn!(lower, "portal.nice is applied on Linux only");
        None
    }
}

/// Sets the calling thread's nice value (Linux keeps one per thread, and any thread may
/// lower its own). A thread that cannot is logged and runs on at the server's priority:
/// slower under a surge, not wrong.
fn run_below(nice: Option<i32>) {
    #[cfg(target_os = "linux")]
    if let Some(nice) = nice {
        let thread = rustix::thread::gettid();
        if let Err(error) = rustix::process::setpriority_process(Some(thread), nice) {
            tracing::warn!(%error, nice, "cannot lower a portal thread's priority");
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = nice;
}
