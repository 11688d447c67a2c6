//! Keys held in a PKCS#11 token (an HSM; SoftHSM2 in the tests): the implementation of
//! custody's [`Hsm`]. Signing keys are generated (or imported) inside the token as sensitive
//! and not extractable and used through `C_Sign`, and optionally the master key is an AES key
//! of the token that wraps and unwraps there (`C_Encrypt`/`C_Decrypt`, AES-GCM). Neither ever
//! exists in this process's memory. This crate is the IO; what to ask the token and how to
//! check its answers is `haechi-custody`'s.
//!
//! PKCS#11 state belongs to the process (a module is initialised once, a token logged in once),
//! so one [`HsmToken`] per token and process is the rule; connections to one module share it.
//!
//! The FFI is the `cryptoki` crate's (the Parsec project's safe wrapper): nothing here is
//! `unsafe`. An [`HsmToken`] survives the token going away: every operation answers
//! [`Error::HsmUnavailable`] while it is gone (the callers fail closed: 503), and the next
//! operation after [`RECONNECT_INTERVAL`] loads the module again, finds the token and logs in.

#![forbid(unsafe_code)]

mod keys;
mod wrapping;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::RvError;
use cryptoki::object::{Attribute, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use parking_lot::{Mutex, MutexGuard};
use zeroize::Zeroizing;

pub use keys::{HsmKey, TokenKeyAttributes};

use haechi_custody::{Error, Hsm, SigningAlgorithm};

/// How often an unavailable token is tried again (operations in between fail at once, so a
/// dead HSM costs a request nothing but the 503).
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);

/// How long an operation waits for a session when all are busy before it answers
/// [`Error::HsmUnavailable`].
pub const SESSION_WAIT: Duration = Duration::from_secs(2);

/// Where the token is and how to log in to it.
#[derive(Clone)]
pub struct TokenSettings {
    /// The PKCS#11 module (`/usr/lib/softhsm/libsofthsm2.so`, a vendor's library).
    pub module: PathBuf,
    /// The token's label.
    pub token_label: String,
    /// The user PIN (from a file or the environment, never the configuration).
    pub pin: Zeroizing<String>,
    /// Sessions kept open: at most this many operations run in the token at once.
    pub sessions: usize,
}

impl std::fmt::Debug for TokenSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSettings")
            .field("module", &self.module)
            .field("token_label", &self.token_label)
            .field("pin", &"[redacted]")
            .field("sessions", &self.sessions)
            .finish()
    }
}

/// A PKCS#11 token, logged in while it is there.
pub struct HsmToken {
    settings: TokenSettings,
    connection: Mutex<Option<Arc<Connection>>>,
    /// Set while one caller (re)connects: the others fail at once instead of queueing.
    connecting: AtomicBool,
    /// The token refused the PIN: never tried again in this process.
    pin_refused: AtomicBool,
    last_attempt: Mutex<Option<Instant>>,
    /// Why the token is unavailable, if it is (for `/readyz` and the alert).
    outage: Mutex<Option<String>>,
}

impl std::fmt::Debug for HsmToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HsmToken")
            .field("token_label", &self.settings.token_label)
            .field("available", &self.is_available())
            .finish_non_exhaustive()
    }
}

/// One logged-in connection: a bounded pool of sessions and the key handles found in them (a
/// handle is good for the connection's life; finding it again on every signature cost about a
/// sixth of a SoftHSM2 signature, BENCHMARKS.md "HSM custody").
struct Connection {
    sessions: Vec<Mutex<Session>>,
    next: AtomicUsize,
    handles: Handles,
    module: PathBuf,
}

type Handles = Mutex<HashMap<(String, Vec<u8>), ObjectHandle>>;

/// A loaded, initialised module and how many connections use it. PKCS#11 state (the module's
/// initialisation, a token's login) belongs to the whole process, so every connection to one
/// module shares one, and it is finalised (to be initialised afresh, which is how a module
/// sees a token that appeared since) only while no connection uses it.
struct Module {
    context: Pkcs11,
    connections: usize,
}

static MODULES: LazyLock<Mutex<HashMap<PathBuf, Module>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn load_module(path: &PathBuf) -> Result<Pkcs11, String> {
    let context = Pkcs11::new(path).map_err(reason("loading the module"))?;
    match context.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {
            Ok(context)
        }
        Err(error) => Err(reason("initialising the module")(error)),
    }
}

impl HsmToken {
    /// A token that connects on first use (and again after it went away). Nothing is loaded
    /// yet: a token that is down at start makes operations fail closed, not the start.
    pub fn new(settings: TokenSettings) -> Self {
        HsmToken {
            settings,
            connection: Mutex::new(None),
            connecting: AtomicBool::new(false),
            pin_refused: AtomicBool::new(false),
            last_attempt: Mutex::new(None),
            outage: Mutex::new(Some("not connected yet".into())),
        }
    }

    /// Loads the module, finds the token labelled `settings.token_label` and logs in as its
    /// user, now (an error if it cannot).
    pub fn open(settings: TokenSettings) -> Result<Self, Error> {
        let token = HsmToken::new(settings);
        token.check()?;
        Ok(token)
    }

    /// The token's label.
    pub fn label(&self) -> &str {
        &self.settings.token_label
    }

    /// Whether the last operation or check found the token there.
    pub fn is_available(&self) -> bool {
        self.outage.lock().is_none()
    }

    /// Why the token is unavailable, if it is (never the PIN).
    pub fn outage(&self) -> Option<String> {
        self.outage.lock().clone()
    }

    /// Connects if needed and asks the token for a session's state: what a health check and
    /// `/readyz` run.
    pub fn check(&self) -> Result<(), Error> {
        self.with_session(|token| {
            token
                .session
                .get_session_info()
                .map(|_| ())
                .map_err(hsm("reading the session's state"))
        })
    }

    /// Runs `operation` in one of the pool's sessions. A failure that says the token, the
    /// session or the login is gone drops the connection: the token is then unavailable
    /// until a reconnection succeeds.
    pub(crate) fn with_session<T>(
        &self,
        operation: impl FnOnce(&InSession<'_>) -> Result<T, TokenFailure>,
    ) -> Result<T, Error> {
        let connection = self.connection()?;
        let result = {
            let Some(session) = connection.session() else {
                return Err(Error::HsmUnavailable(format!(
                    "every one of the {} sessions stayed busy for {} ms",
                    connection.sessions.len(),
                    SESSION_WAIT.as_millis()
                )));
            };
            operation(&InSession {
                session: &session,
                handles: &connection.handles,
            })
        };
        match result {
            Ok(value) => Ok(value),
            Err(TokenFailure::Gone(reason)) => {
                self.give_up(&connection, reason.clone());
                Err(Error::HsmUnavailable(reason))
            }
            Err(TokenFailure::Refused(reason)) => Err(Error::Hsm(reason)),
        }
    }

    /// The live connection; or one attempt to make it, by one caller at a time and at most
    /// once per [`RECONNECT_INTERVAL`], while every other caller fails at once (no request
    /// waits on a module that is loading, or hanging).
    fn connection(&self) -> Result<Arc<Connection>, Error> {
        if let Some(connection) = self.connection.lock().as_ref() {
            return Ok(connection.clone());
        }
        let unavailable = || Error::HsmUnavailable(self.outage().unwrap_or_default());
        if self.pin_refused.load(Ordering::Relaxed) {
            return Err(unavailable());
        }
        {
            let mut last = self.last_attempt.lock();
            if last.is_some_and(|at| at.elapsed() < RECONNECT_INTERVAL) {
                return Err(unavailable());
            }
            if self.connecting.swap(true, Ordering::AcqRel) {
                return Err(unavailable());
            }
            *last = Some(Instant::now());
        }
        let opened = Connection::open(&self.settings);
        let result = match opened {
            Ok(connection) => {
                let connection = Arc::new(connection);
                *self.connection.lock() = Some(connection.clone());
                *self.outage.lock() = None;
                Ok(connection)
            }
            Err(failure) => {
                let reason = match failure {
                    OpenFailure::Unavailable(reason) => reason,
                    OpenFailure::PinRefused(reason) => {
                        // Trying a refused PIN again every second would lock it on a real
                        // HSM (some erase the partition): never again in this process.
                        self.pin_refused.store(true, Ordering::Relaxed);
                        format!(
                            "{reason}; not tried again until Haechi is restarted with the right PIN"
                        )
                    }
                };
                *self.outage.lock() = Some(reason.clone());
                Err(Error::HsmUnavailable(reason))
            }
        };
        self.connecting.store(false, Ordering::Release);
        result
    }

    fn give_up(&self, connection: &Arc<Connection>, reason: String) {
        let mut slot = self.connection.lock();
        if slot
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, connection))
        {
            // Dropped when the last operation holding it lets go.
            slot.take();
            *self.outage.lock() = Some(reason);
        }
    }
}

impl Connection {
    /// Finds the token and logs in; every error is a reason the token is unavailable (never
    /// carrying the PIN: `C_Login` errors name the return value only).
    fn open(settings: &TokenSettings) -> Result<Connection, OpenFailure> {
        let mut modules = MODULES.lock();
        let module = match modules.entry(settings.module.clone()) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(Module {
                context: load_module(&settings.module)?,
                connections: 0,
            }),
        };
        let slot = match find_slot(&module.context, &settings.token_label) {
            Ok(slot) => slot,
            Err(_) if module.connections == 0 => {
                // Nobody uses the module: initialise it afresh, so that it lists the tokens
                // there are now, and look once more.
                let _ = module.context.clone().finalize();
                module.context = load_module(&settings.module)?;
                find_slot(&module.context, &settings.token_label)?
            }
            Err(reason) => return Err(reason.into()),
        };
        let mut sessions = Vec::with_capacity(settings.sessions.max(1));
        for _ in 0..settings.sessions.max(1) {
            let session = module
                .context
                .open_rw_session(slot)
                .map_err(reason("opening a session"))?;
            sessions.push(Mutex::new(session));
        }
        if settings.pin.is_empty() {
            return Err(OpenFailure::PinRefused("the PIN is empty".into()));
        }
        let pin = AuthPin::from(settings.pin.as_str().to_string());
        // Login is per process and token: one logs in every session of this connection (and
        // a second connection to the same token in this process finds it logged in).
        if let Some(first) = sessions.first() {
            match first.lock().login(UserType::User, Some(&pin)) {
                Ok(()) | Err(cryptoki::error::Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => {}
                Err(
                    error @ cryptoki::error::Error::Pkcs11(
                        RvError::PinIncorrect
                        | RvError::PinLocked
                        | RvError::PinExpired
                        | RvError::PinInvalid
                        | RvError::PinLenRange,
                        _,
                    ),
                ) => {
                    return Err(OpenFailure::PinRefused(
                        reason("the token refused the PIN")(error),
                    ));
                }
                Err(error) => return Err(reason("logging in to the token")(error).into()),
            }
        }
        module.connections += 1;
        Ok(Connection {
            sessions,
            next: AtomicUsize::new(0),
            handles: Mutex::new(HashMap::new()),
            module: settings.module.clone(),
        })
    }

    /// A free session if one is, else the next in turn, waited for at most [`SESSION_WAIT`]:
    /// the pool bounds how many operations reach the token at once, and a module call that
    /// hangs holds up its own session only.
    fn session(&self) -> Option<MutexGuard<'_, Session>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.sessions.len();
        for offset in 0..count {
            if let Some(guard) = self.sessions[(start + offset) % count].try_lock() {
                return Some(guard);
            }
        }
        self.sessions[start % count].try_lock_for(SESSION_WAIT)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        let mut modules = MODULES.lock();
        self.sessions.clear();
        if let Some(module) = modules.get_mut(&self.module) {
            module.connections = module.connections.saturating_sub(1);
        }
    }
}

/// Why a connection could not be made.
enum OpenFailure {
    /// The module or the token is not there (yet): tried again.
    Unavailable(String),
    /// The token refused the PIN: trying it again could lock it.
    PinRefused(String),
}

impl From<String> for OpenFailure {
    fn from(reason: String) -> Self {
        OpenFailure::Unavailable(reason)
    }
}

/// A session of the pool, lent to one operation, and the key handles found so far.
pub(crate) struct InSession<'a> {
    pub session: &'a Session,
    handles: &'a Handles,
}

impl InSession<'_> {
    /// The handle of the object of `class` with `CKA_ID` `id`, found once per connection.
    pub fn handle(&self, class: ObjectClass, id: &[u8]) -> Result<ObjectHandle, TokenFailure> {
        let key = (class.to_string(), id.to_vec());
        if let Some(handle) = self.handles.lock().get(&key) {
            return Ok(*handle);
        }
        let found = self
            .session
            .find_objects(&[Attribute::Class(class), Attribute::Id(id.to_vec())])
            .map_err(hsm("finding the key"))?;
        let handle = found.first().copied().ok_or_else(|| {
            TokenFailure::Refused(format!("no key {} in the token", hex::encode(id)))
        })?;
        self.handles.lock().insert(key, handle);
        Ok(handle)
    }
}

/// A failed operation: the token (or its session or login) is gone, or it refused this one.
#[derive(Debug)]
pub(crate) enum TokenFailure {
    Gone(String),
    Refused(String),
}

/// Sorts a PKCS#11 error into [`TokenFailure`] with `what` as its context. Only errors that
/// say the device, the session or the login is gone count as gone; anything else (SoftHSM2's
/// `CKR_GENERAL_ERROR` for a failed GCM tag among them) refuses the one operation, so no input
/// can make the token look unavailable.
pub(crate) fn hsm(what: &str) -> impl FnOnce(cryptoki::error::Error) -> TokenFailure + '_ {
    move |error| {
        let reason = format!("{what}: {error}");
        let gone = matches!(
            error,
            cryptoki::error::Error::Pkcs11(
                RvError::DeviceError
                    | RvError::DeviceRemoved
                    | RvError::TokenNotPresent
                    | RvError::TokenNotRecognized
                    | RvError::SessionHandleInvalid
                    | RvError::SessionClosed
                    | RvError::UserNotLoggedIn
                    | RvError::CryptokiNotInitialized
                    | RvError::SlotIdInvalid
                    // A handle that no longer names its object (the key destroyed, the token
                    // re-initialised): reconnecting finds the keys afresh.
                    | RvError::KeyHandleInvalid
                    | RvError::ObjectHandleInvalid,
                _
            )
        );
        if gone {
            TokenFailure::Gone(reason)
        } else {
            TokenFailure::Refused(reason)
        }
    }
}

/// Says what failed, for a reason the token is unavailable.
fn reason(what: &'static str) -> impl FnOnce(cryptoki::error::Error) -> String {
    move |error| format!("{what}: {error}")
}

/// The slot holding the token labelled `label` (PKCS#11 pads labels with spaces).
fn find_slot(context: &Pkcs11, label: &str) -> Result<Slot, String> {
    let slots = context
        .get_slots_with_token()
        .map_err(|error| format!("listing the slots: {error}"))?;
    for slot in slots {
        let info = context
            .get_token_info(slot)
            .map_err(|error| format!("reading a token's information: {error}"))?;
        if info.label().trim_end() == label {
            return Ok(slot);
        }
    }
    Err(format!("no token labelled {label:?}"))
}

impl Hsm for HsmToken {
    fn label(&self) -> &str {
        HsmToken::label(self)
    }

    fn check(&self) -> Result<(), Error> {
        HsmToken::check(self)
    }

    fn outage(&self) -> Option<String> {
        HsmToken::outage(self)
    }

    fn generate(
        &self,
        algorithm: SigningAlgorithm,
        id: &[u8],
        label: &str,
    ) -> Result<Vec<u8>, Error> {
        self.generate_key(algorithm, id, label)
            .map(|key| key.public)
    }

    fn import(
        &self,
        algorithm: SigningAlgorithm,
        secret: &Zeroizing<Vec<u8>>,
        id: &[u8],
        label: &str,
    ) -> Result<(), Error> {
        self.import_key(algorithm, secret, id, label)
    }

    fn sign(
        &self,
        algorithm: SigningAlgorithm,
        id: &[u8],
        message: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.sign_with(algorithm, id, message)
    }

    fn sealing_key(&self, label: &str, create: bool) -> Result<Vec<u8>, Error> {
        self.sealing_key_id(label, create)
    }

    fn seal(
        &self,
        id: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.seal_with(id, nonce, aad, plaintext)
    }

    fn open(
        &self,
        id: &[u8],
        nonce: &[u8; 12],
        aad: &[u8],
        sealed: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.open_with(id, nonce, aad, sealed)
    }
}
