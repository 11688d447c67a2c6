//! Customer accounts and their credentials: creating accounts, the keyed hashes login
//! identifiers are stored by, password hashing on a bounded pool, and logins
//! (`accounts/login.rs`).

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haechi_events::{EventKind, Principal, RequestContext, StoreError};
use zeroize::Zeroizing;

use super::attempts::SignInThrottle;
use super::environment::{Environment, keyed_hash};
use super::issuance::Issuer;
use super::suspensions::Suspensions;
use crate::password::{self, HashingGate, PasswordParams, Waiting};
use crate::{AccountRecord, Error, SignInLimits};

mod login;

pub use login::LoginAttempt;

/// The name of the secret login identifiers are hashed under.
const LOGIN_INDEX_SECRET: &str = "login-index-key";

/// A login identifier as the customer typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginIdentifier {
    /// An e-mail address.
    Email(String),
    /// A phone number, in any Korean spelling.
    Phone(String),
}

/// A new customer login account.
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// The customer id to use; generated when absent.
    pub customer_id: Option<String>,
    /// E-mail to log in with.
    pub email: Option<String>,
    /// Phone to log in with.
    pub phone: Option<String>,
    /// Initial password (8–256 characters); an account without one cannot log in yet.
    pub password: Option<Zeroizing<String>>,
}

/// Customer accounts: identifiers stored only as keyed hashes, passwords as argon2id, and
/// the login with its limits (per account and per source) and bounded hashing.
#[derive(Debug)]
pub struct Accounts {
    environment: Arc<Environment>,
    issuer: Arc<Issuer>,
    suspensions: Arc<Suspensions>,
    password_params: PasswordParams,
    login_index_key: Zeroizing<[u8; 32]>,
    /// What an unknown account's password is checked against, so it takes as long.
    decoy_password_hash: String,
    /// The sign-in limits, shared with the client-credentials grant.
    throttle: Arc<SignInThrottle>,
    hashing: HashingGate,
}

impl Accounts {
    /// Unwraps (or creates) the login-index key, prepares the decoy hash, and applies the
    /// sign-in limits counted in `sign_in_limits`.
    pub(crate) async fn open(
        environment: Arc<Environment>,
        issuer: Arc<Issuer>,
        suspensions: Arc<Suspensions>,
        sign_in_limits: Arc<dyn SignInLimits>,
        password_params: PasswordParams,
    ) -> Result<Self, Error> {
        let login_index_key = environment.named_secret(LOGIN_INDEX_SECRET).await?;
        let throttle = Arc::new(SignInThrottle::new(
            sign_in_limits,
            &login_index_key,
            &environment.policy,
        ));
        let decoy_password = Zeroizing::new(URL_SAFE_NO_PAD.encode(environment.random.bytes32()));
        let decoy_password_hash = password::hash_password(
            password_params,
            decoy_password,
            environment.random.bytes16(),
            None,
        )
        .await?;
        let policy = &environment.policy;
        Ok(Accounts {
            throttle,
            hashing: HashingGate::new(policy.login_hash_concurrency, policy.login_hash_queue),
            environment,
            issuer,
            suspensions,
            password_params,
            login_index_key,
            decoy_password_hash,
        })
    }

    /// The sign-in limits, for the client-credentials grant and the scheduled upkeep.
    pub(super) fn throttle(&self) -> &Arc<SignInThrottle> {
        &self.throttle
    }

    /// Deletes a customer's login account and login identifiers (erasure). The caller ends
    /// the customer's sessions first (`Sessions::end_customer_sessions`), so no token of an
    /// erased customer outlives the account. Returns whether there was an account.
    pub async fn erase(&self, customer_id: &str) -> Result<bool, Error> {
        Ok(self.environment.store.delete_account(customer_id).await?)
    }

    /// Creates a customer login account. Identifiers are stored only as keyed hashes.
    pub async fn create(
        &self,
        account: NewAccount,
        actor: &Principal,
        context: &RequestContext,
    ) -> Result<String, Error> {
        let mut login_hashes = Vec::new();
        if let Some(email) = &account.email {
            login_hashes.push(self.login_hash(&LoginIdentifier::Email(email.clone()))?);
        }
        if let Some(phone) = &account.phone {
            login_hashes.push(self.login_hash(&LoginIdentifier::Phone(phone.clone()))?);
        }
        if login_hashes.is_empty() {
            return Err(Error::Invalid(
                "an account needs an e-mail or a phone to log in with".into(),
            ));
        }
        let customer_id = match account.customer_id {
            Some(id) => validate_customer_id(&id)?,
            None => self.new_customer_id(),
        };
        let password_hash = match account.password {
            Some(password) => Some(self.hash_password(password).await?),
            None => None,
        };
        let environment = &*self.environment;
        let record = AccountRecord {
            customer_id: customer_id.clone(),
            login_hashes,
            password_hash,
            created_at: environment.clock.now(),
        };
        environment
            .store
            .insert_account(&record)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => {
                    Error::Conflict("a customer with this e-mail, phone or id exists".into())
                }
                other => Error::Store(other),
            })?;
        environment
            .emit(
                environment
                    .event(EventKind::AdminPrincipalCreated, actor)
                    .context(context)
                    .customer(&customer_id)
                    .detail("created", "customer_account"),
            )
            .await?;
        Ok(customer_id)
    }

    /// A fresh customer id: `c` and 32 hex digits — the creation time in microseconds (48
    /// bits), then 80 random bits, so ids cannot be guessed. Time first, so new customers land
    /// at the end of every index keyed by customer id: a bulk import appends there instead of
    /// touching a random page of four indexes per customer, which is what bounded its rate
    /// (BENCHMARKS.md, issue 17). An id tells when its customer was created, which the record
    /// holds anyway (`created_at`).
    pub fn new_customer_id(&self) -> String {
        let micros = u64::try_from(self.environment.clock.now().as_micros()).unwrap_or(0);
        let random = self.environment.random.bytes16();
        format!(
            "c{:012x}{}",
            micros & 0xffff_ffff_ffff,
            hex::encode(&random[..10])
        )
    }

    /// The keyed hash a login identifier is stored and looked up by.
    pub fn login_hash(&self, identifier: &LoginIdentifier) -> Result<[u8; 32], Error> {
        let (label, normalised) = match identifier {
            LoginIdentifier::Email(email) => (
                "email",
                haechi_korean::normalize_email(email)
                    .map_err(|error| Error::Invalid(error.to_string()))?,
            ),
            LoginIdentifier::Phone(phone) => (
                "phone",
                haechi_korean::normalize_phone(phone)
                    .map_err(|error| Error::Invalid(error.to_string()))?,
            ),
        };
        Ok(keyed_hash(
            &self.login_index_key,
            label,
            normalised.as_bytes(),
        ))
    }

    /// Hashes a password (8–256 characters) with the authority's argon2id parameters, waiting
    /// for a hashing turn rather than being refused (account creation, bulk imports).
    pub async fn hash_password(&self, password: Zeroizing<String>) -> Result<String, Error> {
        let length = password.chars().count();
        if !(8..=256).contains(&length) {
            return Err(Error::Invalid(
                "password: must be 8 to 256 characters".into(),
            ));
        }
        let turn = self.hashing.enter(Waiting::Unbounded).await;
        password::hash_password(
            self.password_params,
            password,
            self.environment.random.bytes16(),
            turn,
        )
        .await
    }
}

fn validate_customer_id(id: &str) -> Result<String, Error> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(id.to_string())
    } else {
        Err(Error::Invalid(
            "customer id: use 1-64 of A-Z, a-z, 0-9, '-' or '_'".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AuthFailure;
    use crate::testing::Fixture;

    fn password(text: &str) -> Zeroizing<String> {
        Zeroizing::new(text.into())
    }

    #[tokio::test]
    async fn customer_ids_sort_by_creation_and_keep_their_shape() {
        let f = Fixture::open().await;
        let accounts = f.authority.accounts();
        let first = accounts.new_customer_id();
        let same_instant = accounts.new_customer_id();
        f.clock.advance_by(std::time::Duration::from_micros(1));
        let later = accounts.new_customer_id();
        for id in [&first, &same_instant, &later] {
            assert_eq!(id.len(), 33, "{id}");
            assert!(id.starts_with('c'));
            assert!(id[1..].bytes().all(|byte| byte.is_ascii_hexdigit()), "{id}");
        }
        assert_ne!(first, same_instant, "the random part tells them apart");
        assert_eq!(first[..13], same_instant[..13], "the time part is shared");
        assert!(first < later && same_instant < later);
    }

    #[tokio::test]
    async fn a_wrong_password_and_an_unknown_account_get_the_same_answer() {
        let f = Fixture::open().await;
        let customer = f.customer("kim@example.com", "correct horse").await;
        let accounts = f.authority.accounts();
        let kim = LoginIdentifier::Email("Kim@Example.com".into());
        let pair = accounts
            .login(&kim, password("correct horse"), &f.context)
            .await
            .unwrap();
        assert!(pair.refresh_token.is_some());
        assert_eq!(
            f.events.events().last().unwrap().customer_id.as_deref(),
            Some(customer.as_str())
        );

        for (identifier, attempt) in [
            (kim.clone(), "wrong horse"),
            (LoginIdentifier::Email("nobody@example.com".into()), "x"),
            (LoginIdentifier::Phone("not a phone".into()), "x"),
        ] {
            assert!(matches!(
                accounts
                    .login(&identifier, password(attempt), &f.context)
                    .await,
                Err(Error::Auth(AuthFailure::InvalidCredentials))
            ));
        }
    }

    #[tokio::test]
    async fn failures_are_limited_per_account() {
        let f = Fixture::open().await;
        f.customer("kim@example.com", "correct horse").await;
        let accounts = f.authority.accounts();
        let kim = LoginIdentifier::Email("kim@example.com".into());
        for _ in 0..f.authority.policy().login_failures_per_account {
            assert!(matches!(
                accounts
                    .login(&kim, password("wrong horse"), &f.context)
                    .await,
                Err(Error::Auth(AuthFailure::InvalidCredentials))
            ));
        }
        assert!(matches!(
            accounts
                .login(&kim, password("correct horse"), &f.context)
                .await,
            Err(Error::Auth(AuthFailure::RateLimited { .. }))
        ));
    }

    #[tokio::test]
    async fn a_login_given_up_before_its_hash_is_not_the_accounts_failure() {
        let f = Fixture::open().await;
        f.customer("kim@example.com", "correct horse").await;
        let accounts = f.authority.accounts();
        let kim = LoginIdentifier::Email("kim@example.com".into());
        // Each one a client that hung up while waiting for the portal's lane: the attempt is
        // dropped after its limits were reserved and before any hash.
        for _ in 0..f.authority.policy().login_failures_per_account + 2 {
            let attempt = accounts.begin_login(&kim, &f.context).await.unwrap();
            drop(attempt);
            // The reservation is taken back by a task on this (single-threaded) runtime.
            tokio::task::yield_now().await;
        }
        assert!(
            accounts
                .login(&kim, password("correct horse"), &f.context)
                .await
                .is_ok()
        );
    }

    #[tokio::test]
    async fn a_login_given_up_during_its_hash_still_counts() {
        let f = Fixture::open().await;
        f.customer("kim@example.com", "correct horse").await;
        let accounts = f.authority.accounts();
        let kim = LoginIdentifier::Email("kim@example.com".into());
        for _ in 1..f.authority.policy().login_failures_per_account {
            assert!(
                accounts
                    .login(&kim, password("wrong horse"), &f.context)
                    .await
                    .is_err()
            );
        }
        // The last failure: polled once, which takes a free hashing slot and starts the hash
        // on its blocking thread, then dropped, as when the client hangs up.
        let attempt = accounts.begin_login(&kim, &f.context).await.unwrap();
        let mut finish = Box::pin(attempt.finish(password("wrong horse")));
        let mut poll = std::task::Context::from_waker(std::task::Waker::noop());
        assert!(finish.as_mut().poll(&mut poll).is_pending());
        drop(finish);
        tokio::task::yield_now().await;
        assert!(matches!(
            accounts
                .login(&kim, password("correct horse"), &f.context)
                .await,
            Err(Error::Auth(AuthFailure::RateLimited { .. }))
        ));
    }

    #[tokio::test]
    async fn identifiers_are_hashed_normalised_and_held_by_one_account_only() {
        let f = Fixture::open().await;
        let accounts = f.authority.accounts();
        assert_eq!(
            accounts
                .login_hash(&LoginIdentifier::Phone("010-1234-5678".into()))
                .unwrap(),
            accounts
                .login_hash(&LoginIdentifier::Phone("+82 10 1234 5678".into()))
                .unwrap()
        );
        f.customer("kim@example.com", "correct horse").await;
        let again = NewAccount {
            email: Some("KIM@example.com".into()),
            ..NewAccount::default()
        };
        let actor = Principal::Admin("test".into());
        assert!(matches!(
            accounts.create(again, &actor, &f.context).await,
            Err(Error::Conflict(_))
        ));
        let short = NewAccount {
            email: Some("lee@example.com".into()),
            password: Some(password("short")),
            ..NewAccount::default()
        };
        assert!(matches!(
            accounts.create(short, &actor, &f.context).await,
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            accounts
                .create(NewAccount::default(), &actor, &f.context)
                .await,
            Err(Error::Invalid(_))
        ));
    }
}
