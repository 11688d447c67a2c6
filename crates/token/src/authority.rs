//! The token authority: the composition root that builds its parts from [`AuthorityParts`]
//! and hands them out, and the only maker of [`crate::AdminGrant`]s (`authority/grants.rs`).
//!
//! | part | what it owns |
//! |---|---|
//! | [`Verifier`] (`verification.rs`) | presented tokens → [`crate::VerifiedToken`], the record of every refusal |
//! | [`Sessions`] (`sessions.rs`) | refresh, logout, revocation of sessions and tokens |
//! | [`Accounts`] (`accounts.rs`, `accounts/login.rs`) | customer accounts, passwords, logins and their limits |
//! | [`Clients`] (`clients.rs`) | services and administrators, the client-credentials grant |
//! | [`KeyLifecycle`] (`keys.rs`) | signing keys in custody, rotation, revocation, import; named secrets |
//! | [`Suspensions`] (`suspensions.rs`) | principals suspended by containment |
//!
//! What they share is built here once: the outside world (`environment.rs`), the key ring
//! (written only by [`KeyLifecycle`]), the issuance ledger in memory (written by issuance and
//! sessions, read by verification), the issuer (`issuance.rs`, used by logins, refreshes and
//! grants) and the sign-in limits (`attempts.rs`, counted wherever the [`SignInLimits`] it is
//! given keeps them).

use std::sync::Arc;
use std::time::Duration;

use haechi_custody::{MasterKeyRing, SecretContext, SecureRandom, SigningCustody, WrappedSecret};
use haechi_events::{Clock, EventSink};
use zeroize::Zeroizing;

use crate::grant::OperatorAccess;
use crate::ledger::{LiveLedger, LiveSession, LiveToken};
use crate::password::PasswordParams;
use crate::{AuthorityStore, Error, SignInLimits, TokenPolicy};

mod accounts;
mod attempts;
mod clients;
mod environment;
mod grants;
mod issuance;
mod keys;
mod sessions;
mod suspensions;
mod verification;

pub use accounts::{Accounts, LoginAttempt, LoginIdentifier, NewAccount};
pub use clients::{ClientCredential, ClientKind, Clients};
pub use grants::{DETECTION_ACTOR, LEAK_WATCH_ACTOR, REVIEW_ACTOR, is_reserved_admin_name};
pub use issuance::TokenPair;
pub use keys::{KeyLifecycle, RevokedKey};
pub use sessions::Sessions;
pub use suspensions::Suspensions;
pub use verification::{Introspection, Verifier};

use environment::Environment;
use issuance::Issuer;

/// How long ledger rows outlive their token. Within it, an unknown token with a good
/// signature is certainly a forgery; beyond it, an old token is reported as expired.
const LEDGER_RETENTION: Duration = Duration::from_secs(24 * 3600);

/// Everything the authority is built from. Storage, time, randomness and the audit sink come
/// from outside; the authority does no IO of its own.
#[derive(Debug)]
pub struct AuthorityParts {
    /// Storage.
    pub store: Arc<dyn AuthorityStore>,
    /// The key-encryption keys (current, and previous ones during a rotation).
    pub master_key: Arc<MasterKeyRing>,
    /// Where signing keys are kept: [`SigningCustody::MasterKey`] (wrapped, unwrapped into
    /// memory to sign) or a PKCS#11 token (never out of it).
    pub custody: SigningCustody,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Where security events go.
    pub events: Arc<dyn EventSink>,
    /// Randomness.
    pub random: Arc<dyn SecureRandom>,
    /// Lifetimes and limits.
    pub policy: TokenPolicy,
    /// argon2id cost.
    pub password_params: PasswordParams,
    /// Whether this process may act as the data directory's local operator (see
    /// [`crate::AdminGrant`]).
    pub operator_access: OperatorAccess,
    /// Where the sign-in limits (attempts per source, failures per account) are counted:
    /// [`crate::MemorySignInLimits`] on one node, the shared store in a cluster.
    pub sign_in_limits: Arc<dyn SignInLimits>,
}

/// The token authority. See the crate documentation for what "verifies" means here, and the
/// module documentation for its parts.
#[derive(Debug)]
pub struct TokenAuthority {
    environment: Arc<Environment>,
    ledger: Arc<LiveLedger>,
    verifier: Verifier,
    sessions: Sessions,
    accounts: Accounts,
    clients: Clients,
    keys: KeyLifecycle,
    suspensions: Arc<Suspensions>,
    /// Whether [`TokenAuthority::operator_grant`] may hand out grants.
    operator_access: OperatorAccess,
    /// Whether [`TokenAuthority::take_response_grant`] was called.
    response_grant_taken: std::sync::Mutex<bool>,
    /// Whether [`TokenAuthority::take_leak_watch_grant`] was called.
    leak_watch_grant_taken: std::sync::Mutex<bool>,
}

impl TokenAuthority {
    /// Opens the authority over its store: unwraps the keys that may sign, loads live
    /// sessions and the unexpired ledger into memory, and makes sure an active and a pending
    /// key exist (generating them on first start).
    pub async fn open(parts: AuthorityParts) -> Result<Self, Error> {
        parts.policy.validate()?;
        let AuthorityParts {
            store,
            master_key,
            custody,
            clock,
            events,
            random,
            policy,
            password_params,
            operator_access,
            sign_in_limits,
        } = parts;
        let environment = Arc::new(Environment {
            store,
            master_key,
            custody,
            clock,
            events,
            random,
            policy,
        });
        let keys = KeyLifecycle::load(Arc::clone(&environment)).await?;
        let ledger = Arc::new(load_ledger(&environment).await?);
        let suspensions = Arc::new(Suspensions::default());
        let issuer = Arc::new(Issuer::new(
            Arc::clone(&environment),
            Arc::clone(keys.ring()),
            Arc::clone(&ledger),
        ));
        let accounts = Accounts::open(
            Arc::clone(&environment),
            Arc::clone(&issuer),
            Arc::clone(&suspensions),
            sign_in_limits,
            password_params,
        )
        .await?;
        let clients = Clients::open(
            Arc::clone(&environment),
            Arc::clone(&issuer),
            Arc::clone(&suspensions),
            Arc::clone(accounts.throttle()),
        )
        .await?;
        let authority = TokenAuthority {
            verifier: Verifier::new(
                Arc::clone(&environment),
                Arc::clone(keys.ring()),
                Arc::clone(&ledger),
                Arc::clone(&suspensions),
            ),
            sessions: Sessions::new(
                Arc::clone(&environment),
                Arc::clone(&ledger),
                issuer,
                Arc::clone(&suspensions),
            ),
            environment,
            ledger,
            accounts,
            clients,
            keys,
            suspensions,
            operator_access,
            response_grant_taken: std::sync::Mutex::new(false),
            leak_watch_grant_taken: std::sync::Mutex::new(false),
        };
        match authority.maintain().await {
            Ok(()) => {}
            // A token that is down does not keep the authority from starting once a key is
            // there to sign with: verification works without it, issuance answers 503 until
            // it is back, and the scheduled upkeep does what was skipped.
            Err(Error::Custody(haechi_custody::Error::HsmUnavailable(reason)))
                if authority.keys.ring().read().active().is_some() =>
            {
                tracing::warn!(%reason, "the PKCS#11 token is unavailable; key upkeep waits");
            }
            Err(error) => return Err(error),
        }
        Ok(authority)
    }

    /// Verification of presented tokens: the only maker of a [`crate::VerifiedToken`].
    pub fn verifier(&self) -> &Verifier {
        &self.verifier
    }

    /// Sessions: refresh, logout, revocation.
    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Customer accounts, passwords and logins.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// Services and administrators, and the client-credentials grant.
    pub fn clients(&self) -> &Clients {
        &self.clients
    }

    /// The signing keys and named secrets in custody.
    pub fn keys(&self) -> &KeyLifecycle {
        &self.keys
    }

    /// Principals suspended by containment.
    pub fn suspensions(&self) -> &Suspensions {
        &self.suspensions
    }

    /// The policy in force.
    pub fn policy(&self) -> &TokenPolicy {
        &self.environment.policy
    }

    /// The clock the authority reads.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.environment.clock
    }

    /// Scheduled upkeep: retires keys whose window closed, makes sure an active and a pending
    /// key exist, rotates when the interval has passed, prunes expired tokens from memory and
    /// the store, and forgets sign-in attempts that left their window.
    pub async fn maintain(&self) -> Result<(), Error> {
        let now = self.environment.clock.now();
        self.keys.maintain(now).await?;
        self.ledger.prune(now);
        if let Err(error) = self
            .environment
            .store
            .prune_expired(now.minus(LEDGER_RETENTION))
            .await
        {
            tracing::warn!(%error, "pruning the issuance ledger failed");
        }
        if let Err(error) = self.accounts.throttle().prune(now).await {
            tracing::warn!(%error, "pruning the sign-in limits failed");
        }
        Ok(())
    }
}

/// The live sessions and the unexpired ledger, read into memory at start.
async fn load_ledger(environment: &Environment) -> Result<LiveLedger, Error> {
    let now = environment.clock.now();
    let ledger = LiveLedger::default();
    for session in environment.store.live_sessions(now).await? {
        ledger.insert_session(session.sid.clone(), LiveSession::from_record(&session));
    }
    for entry in environment.store.unexpired_issued(now).await? {
        // Rows read back from the database get their signature checked on first use.
        ledger.insert_token(entry.token_hash, LiveToken::from_entry(&entry, false));
    }
    Ok(ledger)
}

/// Loads a named 256-bit secret, creating and wrapping it on first use. The same as
/// [`KeyLifecycle::named_secret`], for secrets needed before the authority exists (the audit
/// key: the authority's own events go to the audit log it signs).
pub async fn named_secret(
    store: &dyn AuthorityStore,
    master_key: &MasterKeyRing,
    random: &dyn SecureRandom,
    name: &str,
) -> Result<Zeroizing<[u8; 32]>, Error> {
    let context = SecretContext::named(name);
    let stored = match store.secret(name).await? {
        Some(stored) => stored,
        None => {
            let fresh = Zeroizing::new(random.bytes32());
            let wrapped = master_key.wrap(&context, fresh.as_slice(), random)?;
            store
                .insert_secret_if_absent(name, &wrapped.to_bytes())
                .await?
        }
    };
    let plaintext = master_key.unwrap(&context, &WrappedSecret::from_bytes(&stored)?)?;
    let bytes: [u8; 32] = plaintext
        .as_slice()
        .try_into()
        .map_err(|_| Error::Config(format!("stored secret {name} has the wrong length")))?;
    Ok(Zeroizing::new(bytes))
}
