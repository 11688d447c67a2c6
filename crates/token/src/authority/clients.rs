//! Client-credentials principals: services and administrators, their one-time secrets
//! (stored only as keyed hashes) and the OAuth 2.0 client-credentials grant.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use haechi_events::{Decision, EventKind, Principal, RequestContext, SecurityEvent, StoreError};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::attempts::{SignInThrottle, record_failed_login};
use super::environment::{Environment, keyed_hash};
use super::issuance::{Issuer, TokenPair};
use super::suspensions::Suspensions;
use crate::limiter::Allowance;
use crate::{AdminGrant, AuthFailure, ClientRecord, Error};

/// The name of the secret client secrets are hashed under.
const CLIENT_SECRET_KEY: &str = "client-secret-key";
/// What every client secret starts with.
const CLIENT_SECRET_PREFIX: &str = "hcs_";

/// What kind of client-credentials principal to create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// A service reading data for declared purposes.
    Service,
    /// An administrator.
    Admin,
}

/// A freshly created client credential. The secret is shown once and stored only hashed.
#[derive(Debug)]
pub struct ClientCredential {
    /// `service.NAME` or `admin.NAME`.
    pub client_id: String,
    /// The secret (256 random bits, base64url, prefixed `hcs_`).
    pub client_secret: Zeroizing<String>,
    /// The principal it acts as.
    pub principal: Principal,
}

/// Services and administrators: created only under an [`AdminGrant`], signed in with the
/// client-credentials grant (limited per source network, like customer logins).
#[derive(Debug)]
pub struct Clients {
    environment: Arc<Environment>,
    issuer: Arc<Issuer>,
    suspensions: Arc<Suspensions>,
    client_secret_key: Zeroizing<[u8; 32]>,
    throttle: Arc<SignInThrottle>,
}

impl Clients {
    /// Unwraps (or creates) the key client secrets are hashed under.
    pub(crate) async fn open(
        environment: Arc<Environment>,
        issuer: Arc<Issuer>,
        suspensions: Arc<Suspensions>,
        throttle: Arc<SignInThrottle>,
    ) -> Result<Self, Error> {
        let client_secret_key = environment.named_secret(CLIENT_SECRET_KEY).await?;
        Ok(Clients {
            environment,
            issuer,
            suspensions,
            client_secret_key,
            throttle,
        })
    }

    /// OAuth 2.0 client-credentials grant for services and administrators.
    pub async fn client_credentials(
        &self,
        client_id: &str,
        client_secret: &str,
        requested_scope: Option<&str>,
        context: &RequestContext,
    ) -> Result<TokenPair, Error> {
        let environment = &*self.environment;
        let now = environment.clock.now();
        let source_allowance = self.throttle.check_source(context.ip, now).await?;
        if let Allowance::Limited { retry_after } = source_allowance {
            record_failed_login(environment, None, "rate_limited", 429, context, now).await?;
            return Err(AuthFailure::RateLimited {
                retry_after_secs: retry_after.as_secs().max(1),
            }
            .into());
        }
        let presented_hash = self.secret_hash(client_secret);
        let client = if client_id.len() <= 140 {
            environment.store.client(client_id).await?
        } else {
            None
        };
        let secret_matches = client
            .as_ref()
            .map(|client| bool::from(client.secret_hash.ct_eq(&presented_hash)))
            .unwrap_or(false);
        let Some(client) = client.filter(|_| secret_matches) else {
            self.throttle.record_source_failure(context.ip, now).await?;
            record_failed_login(environment, None, "invalid_client", 401, context, now).await?;
            return Err(AuthFailure::InvalidClient.into());
        };
        if client.suspended_at.is_some() || self.suspensions.is_suspended(&client.principal) {
            environment
                .emit(
                    SecurityEvent::new(now, EventKind::LoginFailed, client.principal.clone())
                        .context(context)
                        .outcome(Decision::Deny, 403)
                        .reason("suspended"),
                )
                .await?;
            return Err(AuthFailure::Suspended.into());
        }
        let scopes = granted_scopes(&client, requested_scope)?;
        let session = self
            .issuer
            .start_session(&client.principal, environment.policy.access_ttl)
            .await?;
        environment
            .emit(
                SecurityEvent::new(now, EventKind::LoginOk, client.principal.clone())
                    .context(context)
                    .sid(&session.sid)
                    .detail("grant", "client_credentials"),
            )
            .await?;
        let (access_token, _) = self
            .issuer
            .issue_access_token(&client.principal, &session.sid, &scopes, context)
            .await?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in: environment.policy.access_ttl.as_secs(),
            refresh_token: None,
            session_id: session.sid,
            scope: (!scopes.is_empty()).then(|| scopes.join(" ")),
        })
    }

    /// Creates a service principal or administrator and returns its one-time credential.
    pub async fn create(
        &self,
        kind: ClientKind,
        name: &str,
        scopes: &[String],
        grant: &AdminGrant,
    ) -> Result<ClientCredential, Error> {
        let (actor, context) = (grant.actor(), grant.context());
        validate_name(name)?;
        if kind == ClientKind::Admin && super::grants::is_reserved_admin_name(name) {
            return Err(Error::Invalid(format!(
                "name {name:?} is reserved for Haechi's own acts (cli, haechi-*)"
            )));
        }
        for scope in scopes {
            validate_name(scope).map_err(|_| {
                Error::Invalid(format!("purpose {scope:?}: use a-z, 0-9, '-' or '_'"))
            })?;
        }
        let (client_id, principal, scopes) = match kind {
            ClientKind::Service => (
                format!("service.{name}"),
                Principal::Service(name.to_string()),
                scopes.to_vec(),
            ),
            ClientKind::Admin => (
                format!("admin.{name}"),
                Principal::Admin(name.to_string()),
                vec!["admin".to_string()],
            ),
        };
        let environment = &*self.environment;
        let secret = Zeroizing::new(format!(
            "{CLIENT_SECRET_PREFIX}{}",
            URL_SAFE_NO_PAD.encode(environment.random.bytes32())
        ));
        let record = ClientRecord {
            client_id: client_id.clone(),
            principal: principal.clone(),
            secret_hash: self.secret_hash(&secret),
            scopes,
            created_at: environment.clock.now(),
            suspended_at: None,
        };
        environment
            .store
            .insert_client(&record)
            .await
            .map_err(|error| match error {
                StoreError::Conflict(_) => Error::Conflict(format!("{client_id} already exists")),
                other => Error::Store(other),
            })?;
        environment
            .emit(
                environment
                    .event(EventKind::AdminPrincipalCreated, actor)
                    .context(context)
                    .detail("created", principal.to_string()),
            )
            .await?;
        Ok(ClientCredential {
            client_id,
            client_secret: secret,
            principal,
        })
    }

    /// Every service and admin client (without secrets).
    pub async fn list(&self) -> Result<Vec<ClientRecord>, Error> {
        Ok(self.environment.store.clients().await?)
    }

    fn secret_hash(&self, secret: &str) -> [u8; 32] {
        keyed_hash(&self.client_secret_key, "client-secret", secret.as_bytes())
    }
}

/// The scopes a grant gets: all the client holds when none are asked for, else exactly the
/// ones asked for, each of which it must hold.
fn granted_scopes(
    client: &ClientRecord,
    requested_scope: Option<&str>,
) -> Result<Vec<String>, Error> {
    match requested_scope.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(client.scopes.clone()),
        Some(requested) => {
            let mut granted = Vec::new();
            for scope in requested.split_whitespace() {
                if !client.scopes.iter().any(|held| held == scope) {
                    return Err(AuthFailure::InvalidScope(scope.chars().take(64).collect()).into());
                }
                granted.push(scope.to_string());
            }
            Ok(granted)
        }
    }
}

fn validate_name(name: &str) -> Result<(), Error> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "name {:?}: use 1-63 of a-z, 0-9, '-' or '_'",
            name.chars().take(70).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Fixture;

    #[tokio::test]
    async fn a_client_gets_the_scopes_it_holds_and_nothing_else() {
        let f = Fixture::open().await;
        let (credential, pair) = f.client(ClientKind::Service, "shipping").await;
        assert_eq!(credential.client_id, "service.shipping");
        assert_eq!(pair.scope.as_deref(), Some("shipping"));
        assert!(pair.refresh_token.is_none());
        let clients = f.authority.clients();
        let secret = credential.client_secret.as_str();
        assert!(matches!(
            clients
                .client_credentials("service.shipping", secret, Some("billing"), &f.context)
                .await,
            Err(Error::Auth(AuthFailure::InvalidScope(_)))
        ));
        assert!(matches!(
            clients
                .client_credentials("service.shipping", "hcs_wrong", None, &f.context)
                .await,
            Err(Error::Auth(AuthFailure::InvalidClient))
        ));
        f.authority
            .suspensions()
            .suspend(credential.principal.clone());
        assert!(matches!(
            clients
                .client_credentials("service.shipping", secret, None, &f.context)
                .await,
            Err(Error::Auth(AuthFailure::Suspended))
        ));
    }

    #[tokio::test]
    async fn names_are_checked_and_taken_once() {
        let f = Fixture::open().await;
        let clients = f.authority.clients();
        let grant = f.grant();
        assert!(matches!(
            clients
                .create(ClientKind::Service, "Bad Name", &[], &grant)
                .await,
            Err(Error::Invalid(_))
        ));
        let admin = clients
            .create(ClientKind::Admin, "lead", &["ignored".into()], &grant)
            .await
            .unwrap();
        assert_eq!(admin.principal, Principal::Admin("lead".into()));
        assert!(matches!(
            clients.create(ClientKind::Admin, "lead", &[], &grant).await,
            Err(Error::Conflict(_))
        ));
        let listed = clients.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].scopes, vec!["admin".to_string()]);
    }
}
