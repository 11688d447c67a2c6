//! The responder console's server side: its pages, the session an administrator signs in to,
//! the CSRF token every form carries, and "who was exposed" — the scope of an alert, run here
//! one at a time and kept a minute for the exports that follow it.
//!
//! - **The session is a cookie only the console reads.** Sign-in runs the client-credentials
//!   grant of an administrator's client; the access token goes into a `__Host-` cookie
//!   (`HttpOnly`, `Secure`, `SameSite=Strict`) **sealed** with AES-256-GCM under the console's
//!   session key (a named secret under the master key, the same on every node), verified on
//!   every request exactly as a bearer token is and turned into the same [`Admin`] grant. The
//!   bearer API never reads a cookie; a cookie taken from a browser is no bearer token, and a
//!   bearer token put in the cookie is no session.
//! - **Every act is a form post checked twice**: the browser's `Sec-Fetch-Site` must say the
//!   console's own page sent it (or, from a browser without it, `Origin` must name this host),
//!   and the form must carry the session's CSRF token — a digest of the session's token under
//!   its own label, which only a page rendered for that session knows.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Nonce};
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use haechi_console::{Console, Done, Frame};
use haechi_forensics::{AlertSource, MatchMode, Query, Scope, ScopeOptions, Sources};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::AppState;
use crate::extract::{Admin, request_context};

mod evidence;

pub use evidence::{ClusterStream, EvidenceReader, LocalLog};

/// The console session's cookie. `__Host-`: set only by this origin, over HTTPS (or
/// localhost), for the whole site — no subdomain can plant one.
pub(crate) const SESSION_COOKIE: &str = "__Host-haechi-console";

/// How long a scope's result is reused (the page and its two exports, one after another).
const SCOPE_REUSE: Duration = Duration::from_secs(60);
/// How many recent scopes are kept.
const SCOPES_KEPT: usize = 4;
/// Notification lists built at once (each is the whole list in memory).
const EXPORTS_AT_ONCE: usize = 2;
/// The name of the console's session key among the named secrets.
pub const SESSION_KEY_NAME: &str = "console-session";
/// What a sealed session is bound to.
const SESSION_AAD: &[u8] = b"haechi console session v1";

/// The console: pages, and the scopes of alerts.
pub struct ConsoleDesk {
    pages: Console,
    /// Seals the session cookie.
    session_key: Aes256Gcm,
    /// One scope at a time: each reads the whole trail. The permit travels into the blocking
    /// task, so a client that hangs up does not free it while the reading goes on.
    turn: Arc<tokio::sync::Semaphore>,
    recent: Arc<Mutex<VecDeque<ScopeResult>>>,
    /// Notification lists being built.
    exports: Arc<tokio::sync::Semaphore>,
    /// Archive directories to read besides the live log and those its manifest names
    /// (`audit.archive_dir`).
    archives: Vec<PathBuf>,
    /// Where alerts' evidence events are read.
    evidence: Arc<dyn EvidenceReader>,
}

impl std::fmt::Debug for ConsoleDesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleDesk")
            .field("archives", &self.archives)
            .finish_non_exhaustive()
    }
}

/// A scope of an alert.
#[derive(Debug, Clone)]
pub struct ScopeResult {
    /// The alert.
    pub alert_id: String,
    /// The result.
    pub scope: Arc<Scope>,
    /// The alert's indicators as matched.
    pub source: Arc<AlertSource>,
    /// How long it took.
    pub elapsed: Duration,
    /// When it was computed.
    pub at: Instant,
}

/// Why a scope was not run.
#[derive(Debug, thiserror::Error)]
pub enum ScopeRefused {
    /// Another scope (or two notification lists) is being made.
    #[error("another scope is running; try again in a few seconds")]
    Busy,
    /// The trail cannot answer it here.
    #[error("{0}")]
    Unavailable(String),
    /// The alert or its trail cannot be scoped.
    #[error(transparent)]
    Forensics(#[from] haechi_forensics::Error),
}

impl ConsoleDesk {
    /// A console sealing its sessions with `session_key` (the named secret
    /// [`SESSION_KEY_NAME`]) and reading `archives` besides the live log when it runs a scope.
    pub fn new(
        session_key: &Zeroizing<[u8; 32]>,
        archives: Vec<PathBuf>,
        evidence: Arc<dyn EvidenceReader>,
    ) -> Result<Self, haechi_console::Error> {
        Ok(ConsoleDesk {
            pages: Console::new()?,
            session_key: Aes256Gcm::new(session_key.as_ref().into()),
            turn: Arc::new(tokio::sync::Semaphore::new(1)),
            recent: Arc::new(Mutex::new(VecDeque::new())),
            exports: Arc::new(tokio::sync::Semaphore::new(EXPORTS_AT_ONCE)),
            archives,
            evidence,
        })
    }

    /// The cookie value that carries `token`: sealed, so only the console can open it.
    pub(crate) fn seal(&self, token: &str) -> Option<String> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .session_key
            .encrypt(
                &nonce,
                Payload {
                    msg: token.as_bytes(),
                    aad: SESSION_AAD,
                },
            )
            .ok()?;
        let mut bytes = nonce.to_vec();
        bytes.extend(sealed);
        Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The token a cookie value carries, if the console sealed it.
    fn open(&self, cookie: &str) -> Option<String> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(cookie)
            .ok()?;
        if bytes.len() < 12 {
            return None;
        }
        let (nonce, sealed) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let token = self
            .session_key
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: SESSION_AAD,
                },
            )
            .ok()?;
        String::from_utf8(token).ok()
    }

    /// A turn to build a notification list (two at once), or [`ScopeRefused::Busy`].
    pub(crate) fn export_turn(&self) -> Result<tokio::sync::OwnedSemaphorePermit, ScopeRefused> {
        self.exports
            .clone()
            .try_acquire_owned()
            .map_err(|_| ScopeRefused::Busy)
    }

    /// Where alerts' evidence events are read.
    pub fn evidence(&self) -> &dyn EvidenceReader {
        &*self.evidence
    }

    /// The pages.
    pub fn pages(&self) -> &Console {
        &self.pages
    }

    /// The scope of alert `alert_id` over the trail in `log_dir`: the recent result if there is
    /// one (`true`), else a new one. `rule_group_by` names the group's fields for alerts
    /// recorded before alerts named them.
    pub async fn scope(
        &self,
        alert_id: &str,
        log_dir: PathBuf,
        rule_group_by: Option<Vec<String>>,
    ) -> Result<(ScopeResult, bool), ScopeRefused> {
        if let Some(recent) = self.recent(alert_id) {
            return Ok((recent, true));
        }
        let permit = self
            .turn
            .clone()
            .try_acquire_owned()
            .map_err(|_| ScopeRefused::Busy)?;
        let archives = self.archives.clone();
        let id = alert_id.to_string();
        let recent = self.recent.clone();
        // The result is kept by the blocking task itself: a client that hangs up before it is
        // done does not throw the reading away (the next view takes it from the cache).
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let result = run_scope(&id, &log_dir, &archives, rule_group_by.as_deref())?;
            keep(&recent, result.clone());
            Ok::<_, ScopeRefused>(result)
        })
        .await
        .map_err(|error| {
            tracing::error!(%error, "the console's scope task stopped");
            ScopeRefused::Unavailable("the scope stopped; see the server log".into())
        })??;
        Ok((result, false))
    }

    fn recent(&self, alert_id: &str) -> Option<ScopeResult> {
        let mut recent = self.recent.lock();
        recent.retain(|kept| kept.at.elapsed() < SCOPE_REUSE);
        recent
            .iter()
            .find(|kept| kept.alert_id == alert_id)
            .cloned()
    }

    /// Drops the results older than a minute (run every minute by the server, so a big scope
    /// does not stay in memory until the next one is asked for).
    pub fn sweep(&self) {
        self.recent
            .lock()
            .retain(|kept| kept.at.elapsed() < SCOPE_REUSE);
    }
}

/// Keeps `result` among the recent scopes, in place of an older one of its alert.
fn keep(recent: &Mutex<VecDeque<ScopeResult>>, result: ScopeResult) {
    let mut recent = recent.lock();
    recent.retain(|kept| kept.alert_id != result.alert_id && kept.at.elapsed() < SCOPE_REUSE);
    if recent.len() == SCOPES_KEPT {
        recent.pop_front();
    }
    recent.push_back(result);
}

/// `haechi scope --alert ID` over the live log and its archives: the same answer.
fn run_scope(
    alert_id: &str,
    log_dir: &std::path::Path,
    archives: &[PathBuf],
    rule_group_by: Option<&[String]>,
) -> Result<ScopeResult, ScopeRefused> {
    let started = Instant::now();
    let sources = Sources::of_log(log_dir, archives, true)?;
    if sources.is_empty() {
        return Err(ScopeRefused::Unavailable(
            "this node has no audit trail to read".into(),
        ));
    }
    let raised = haechi_forensics::find_alert(&sources, alert_id)?;
    let source = haechi_forensics::alert_source(&raised, rule_group_by)?;
    let mut query = Query::default();
    source.add_to(&mut query.indicators)?;
    query.alert = Some(source.clone());
    query.mode = MatchMode::All;
    let options = ScopeOptions {
        digest: haechi_forensics::DigestMode::Consulted,
        tool: format!("haechi {} console", env!("CARGO_PKG_VERSION")),
    };
    let scope = haechi_forensics::scope(&query, &sources, &options, &haechi_forensics::NoProgress)?;
    Ok(ScopeResult {
        alert_id: alert_id.to_string(),
        scope: Arc::new(scope),
        source: Arc::new(source),
        elapsed: started.elapsed(),
        at: Instant::now(),
    })
}

/// The session cookie's value, if the request carries one.
fn session_cookie_value(request: &HeaderMap) -> Option<String> {
    request
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE && !value.is_empty()).then(|| value.to_string())
        })
}

/// The `Set-Cookie` value that holds `token` for `seconds`.
pub(crate) fn session_cookie(token: &str, seconds: u64) -> String {
    format!(
        "{SESSION_COOKIE}={token}; Path=/; Max-Age={seconds}; HttpOnly; Secure; SameSite=Strict"
    )
}

/// The `Set-Cookie` value that ends the session in the browser.
pub(crate) fn cleared_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path=/; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

/// The CSRF token of the session whose access token is `token`: only a page rendered for the
/// session knows it, and it says nothing about the token itself.
pub(crate) fn csrf_token(token: &str) -> String {
    let mut digest = Sha256::new();
    digest.update(b"haechi console csrf\n");
    digest.update(token.as_bytes());
    hex::encode(&digest.finalize()[..16])
}

/// Whether `given` is the CSRF token of the session of `token` (compared in constant time).
pub(crate) fn csrf_matches(token: &str, given: &str) -> bool {
    csrf_token(token).as_bytes().ct_eq(given.as_bytes()).into()
}

/// The mark of an act done in the session of `token`, which the redirect after it carries
/// (`?done=CODE.MARK`): a link from elsewhere cannot make the page say something was done.
pub(crate) fn done_mark(token: &str, done: Done) -> String {
    let mut digest = Sha256::new();
    digest.update(b"haechi console done\n");
    digest.update(token.as_bytes());
    digest.update(b"\n");
    digest.update(done.code().as_bytes());
    format!("{}.{}", done.code(), hex::encode(&digest.finalize()[..8]))
}

/// The act a `?done=` value names, if the session of `token` made it.
pub(crate) fn done_of_mark(token: &str, value: &str) -> Option<Done> {
    let (code, _) = value.split_once('.')?;
    let done = Done::from_code(code)?;
    let expected = done_mark(token, done);
    bool::from(expected.as_bytes().ct_eq(value.as_bytes())).then_some(done)
}

/// Whether a state-changing post comes from the console's own page: `Sec-Fetch-Site` (which no
/// page can set) must say `same-origin`; a browser too old to send it must send `Origin`, naming
/// this host. Stricter than the portal's check: no header at all is refused, and so is `none`
/// (a post the user typed is not one the console's pages make).
pub(crate) fn posted_by_console(request: &HeaderMap) -> bool {
    if let Some(site) = request.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    match (
        request.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        request.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        _ => false,
    }
}

/// Whether a request that reads the trail or runs a scope may be answered: refused when the
/// browser says another site (a sibling subdomain's page, say) made it, even as a navigation,
/// so no page elsewhere can spend the node's cores or put trail reads on an administrator's
/// record. A request without `Sec-Fetch-Site` (not a browser, or an old one) is answered.
pub(crate) fn from_console_or_typed(request: &HeaderMap) -> bool {
    request
        .get("sec-fetch-site")
        .is_none_or(|site| matches!(site.as_bytes(), b"same-origin" | b"none"))
}

/// An administrator signed in to the console: the same grant as a bearer token's, and what
/// the pages show of the session.
#[derive(Debug, Clone)]
pub struct ConsoleAdmin {
    /// The administrator, exactly as the bearer API's extractor makes it.
    pub admin: Admin,
    /// The session's access token (its digest is the CSRF token).
    pub token: String,
    /// What every page shows.
    pub frame: Frame,
}

/// The administrator whose session cookie `parts` carries, verified exactly as a bearer token
/// is; `None` without a cookie, or when the token is not an administrator's in force.
pub(crate) async fn signed_in(
    state: &AppState,
    parts: &axum::http::request::Parts,
) -> Option<ConsoleAdmin> {
    let token = state.console.open(&session_cookie_value(&parts.headers)?)?;
    let context = request_context(parts, state);
    let verified = state
        .authority
        .verifier()
        .verify(&token, &context)
        .await
        .ok()?;
    let grant = state.authority.authorize_admin(&verified, &context).ok()?;
    let frame = Frame {
        principal: verified.principal().to_string(),
        csrf: csrf_token(&token),
        expires: verified.expires_at(),
    };
    Some(ConsoleAdmin {
        admin: Admin {
            token: verified,
            context,
            grant,
        },
        token,
        frame,
    })
}
