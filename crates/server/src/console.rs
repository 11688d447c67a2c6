//! The responder console's server side: its pages, the session an administrator signs in to,
//! the CSRF token every form carries, and "who was exposed" — the scope of an alert, run here
//! one at a time and kept a minute for the exports that follow it.
//!
//! - **The session is a cookie only the console reads.** Sign-in runs the client-credentials
//!   grant of an administrator's client; the access token goes into a `__Host-` cookie
//!   (`HttpOnly`, `Secure`, `SameSite=Strict`), verified on every request exactly as a bearer
//!   token is and turned into the same [`Admin`] grant. The bearer API never reads a cookie,
//!   so a page of another site cannot make the browser call it with the console's session.
//! - **Every act is a form post checked twice**: the browser's `Sec-Fetch-Site` (or `Origin`)
//!   must say the console's own page sent it, and the form must carry the session's CSRF
//!   token — a digest of the session's token under its own label, which only a page rendered
//!   for that session knows.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use haechi_console::{Console, Frame};
use haechi_forensics::{AlertSource, MatchMode, Query, Scope, ScopeOptions, Sources};
use parking_lot::Mutex;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::extract::{Admin, request_context};

/// The console session's cookie. `__Host-`: set only by this origin, over HTTPS (or
/// localhost), for the whole site — no subdomain can plant one.
pub(crate) const SESSION_COOKIE: &str = "__Host-haechi-console";

/// How long a scope's result is reused (the page and its two exports, one after another).
const SCOPE_REUSE: Duration = Duration::from_secs(60);
/// How many recent scopes are kept.
const SCOPES_KEPT: usize = 4;

/// The console: pages, and the scopes of alerts.
pub struct ConsoleDesk {
    pages: Console,
    /// One scope at a time: each reads the whole trail. The permit travels into the blocking
    /// task, so a client that hangs up does not free it while the reading goes on.
    turn: Arc<tokio::sync::Semaphore>,
    recent: Mutex<VecDeque<ScopeResult>>,
    /// Archive directories to read besides the live log and those its manifest names
    /// (`audit.archive_dir`).
    archives: Vec<PathBuf>,
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
    /// Another scope is running.
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
    /// A console reading `archives` besides the live log when it runs a scope.
    pub fn new(archives: Vec<PathBuf>) -> Result<Self, haechi_console::Error> {
        Ok(ConsoleDesk {
            pages: Console::new()?,
            turn: Arc::new(tokio::sync::Semaphore::new(1)),
            recent: Mutex::new(VecDeque::new()),
            archives,
        })
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
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            run_scope(&id, &log_dir, &archives, rule_group_by.as_deref())
        })
        .await
        .map_err(|error| ScopeRefused::Unavailable(format!("the scope stopped: {error}")))??;
        let mut recent = self.recent.lock();
        recent.retain(|kept| kept.alert_id != result.alert_id);
        if recent.len() == SCOPES_KEPT {
            recent.pop_front();
        }
        recent.push_back(result.clone());
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

/// The session cookie's token, if the request carries one.
pub(crate) fn session_token(request: &HeaderMap) -> Option<String> {
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
    let token = session_token(&parts.headers)?;
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
