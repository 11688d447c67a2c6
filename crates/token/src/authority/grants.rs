//! Privileged acts: the only places an [`AdminGrant`] is made.

use haechi_events::{Principal, RequestContext};

use super::TokenAuthority;
use crate::grant::{AdminGrant, GrantedVia, OperatorAccess};
use crate::{AuthFailure, Error, VerifiedToken};

/// The scope an administrator's token must carry.
const ADMIN_SCOPE: &str = "admin";

/// The principal the local operator acts as.
pub(crate) const LOCAL_OPERATOR: &str = "cli";

/// The administrator name automatic response acts as (`admin:haechi-detect`): the actor of
/// every alert and response record.
pub const DETECTION_ACTOR: &str = "haechi-detect";

/// The administrator name the leak watch service acts as (`admin:haechi-leakwatch`).
pub const LEAK_WATCH_ACTOR: &str = "haechi-leakwatch";

/// The administrator name the monthly access-review job records as (`admin:haechi-review`).
pub const REVIEW_ACTOR: &str = "haechi-review";

/// Whether `name` is one Haechi acts as itself (the local operator, detection, the review
/// job): no administrator may be created under it, so its records are never a person's.
pub fn is_reserved_admin_name(name: &str) -> bool {
    name == LOCAL_OPERATOR || name.starts_with("haechi-")
}

impl TokenAuthority {
    /// Grants privileged acts to the bearer of `token` — an `admin:` principal with the
    /// `admin` scope — for the request described by `context`. Anyone else is refused with
    /// [`AuthFailure::NotAdministrator`].
    pub fn authorize_admin(
        &self,
        token: &VerifiedToken,
        context: &RequestContext,
    ) -> Result<AdminGrant, Error> {
        if !matches!(token.principal(), Principal::Admin(_)) || !token.has_scope(ADMIN_SCOPE) {
            return Err(AuthFailure::NotAdministrator.into());
        }
        Ok(AdminGrant {
            actor: token.principal().clone(),
            context: context.clone(),
            via: GrantedVia::AdminToken {
                sid: token.sid().to_string(),
                jti: token.jti().to_string(),
                kid: token.kid().to_string(),
            },
        })
    }

    /// Grants privileged acts to the local operator (`admin:cli`), if this authority was
    /// opened with [`OperatorAccess::LocalOperator`] — by a one-shot command that holds the
    /// data directory. A serving authority refuses with [`AuthFailure::NotAdministrator`].
    pub fn operator_grant(&self) -> Result<AdminGrant, Error> {
        match self.operator_access {
            OperatorAccess::LocalOperator => Ok(AdminGrant {
                actor: Principal::Admin(LOCAL_OPERATOR.into()),
                context: RequestContext::local(),
                via: GrantedVia::LocalOperator,
            }),
            OperatorAccess::TokensOnly => Err(AuthFailure::NotAdministrator.into()),
        }
    }

    /// The grant automatic response acts under (`admin:haechi-detect`): handed out once, to
    /// whoever wires detection's containment at start; every later call gets `None`, so no
    /// other part of the process can act as detection.
    pub fn take_response_grant(&self) -> Option<AdminGrant> {
        let mut taken = self
            .response_grant_taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *taken {
            return None;
        }
        *taken = true;
        Some(AdminGrant {
            actor: Principal::Admin(DETECTION_ACTOR.into()),
            context: RequestContext::local(),
            via: GrantedVia::AutomaticResponse,
        })
    }

    /// The grant the leak watch service passes over its sources' items under
    /// (`admin:haechi-leakwatch`): handed out once, to the watch started with the server;
    /// every later call gets `None`.
    pub fn take_leak_watch_grant(&self) -> Option<AdminGrant> {
        let mut taken = self
            .leak_watch_grant_taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if *taken {
            return None;
        }
        *taken = true;
        Some(AdminGrant {
            actor: Principal::Admin(LEAK_WATCH_ACTOR.into()),
            context: RequestContext::local(),
            via: GrantedVia::LeakWatch,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClientKind;
    use crate::testing::Fixture;

    #[tokio::test]
    async fn only_an_administrators_token_with_the_admin_scope_is_granted() {
        let f = Fixture::open().await;
        let verifier = f.authority.verifier();
        let (_, admin) = f.client(ClientKind::Admin, "lead").await;
        let admin = verifier
            .verify(&admin.access_token, &f.context)
            .await
            .unwrap();
        let grant = f.authority.authorize_admin(&admin, &f.context).unwrap();
        assert_eq!(grant.actor(), &Principal::Admin("lead".into()));
        assert!(matches!(grant.via(), GrantedVia::AdminToken { .. }));

        let (_, service) = f.client(ClientKind::Service, "shipping").await;
        let service = verifier
            .verify(&service.access_token, &f.context)
            .await
            .unwrap();
        assert!(matches!(
            f.authority.authorize_admin(&service, &f.context),
            Err(Error::Auth(AuthFailure::NotAdministrator))
        ));
        assert_eq!(f.grant().via(), &GrantedVia::LocalOperator);
        assert!(f.authority.take_response_grant().is_some());
        assert!(f.authority.take_response_grant().is_none());
    }
}
