//! Who can obtain an `AdminGrant` (issue 13, item 13): the token authority over a real SQLite
//! store. A grant is the only way to rotate, revoke or import keys or create principals.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::sync::Arc;

use haechi_custody::{MasterKey, MasterKeyRing, OsRandom};
use haechi_events::{MemorySink, RequestContext, SystemClock};
use haechi_store::SqliteStore;
use haechi_token::{
    AuthFailure, AuthorityParts, ClientKind, Error, GrantedVia, OperatorAccess, PasswordParams,
    TokenAuthority, TokenPolicy,
};

async fn authority(dir: &tempfile::TempDir, access: OperatorAccess) -> TokenAuthority {
    let store = SqliteStore::open(&dir.path().join("haechi.db"))
        .await
        .unwrap();
    let master = MasterKey::from_bytes([7; 32]);
    TokenAuthority::open(AuthorityParts {
        store: Arc::new(store),
        custody: haechi_custody::SigningCustody::MasterKey,
        master_key: Arc::new(MasterKeyRing::new(master, Vec::new()).unwrap()),
        clock: Arc::new(SystemClock),
        events: Arc::new(MemorySink::default()),
        random: Arc::new(OsRandom),
        policy: TokenPolicy::default(),
        password_params: PasswordParams {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        operator_access: access,
        sign_in_limits: Arc::new(haechi_token::MemorySignInLimits::default()),
    })
    .await
    .unwrap()
}

fn not_administrator(result: Result<impl std::fmt::Debug, Error>) -> bool {
    matches!(result, Err(Error::Auth(AuthFailure::NotAdministrator)))
}

#[tokio::test]
async fn only_a_local_operator_or_an_administrators_token_gets_a_grant() {
    let dir = tempfile::tempdir().unwrap();
    let context = RequestContext::local();
    let (admin, service) = {
        let operator = authority(&dir, OperatorAccess::LocalOperator).await;
        let grant = operator.operator_grant().unwrap();
        assert_eq!(grant.via(), &GrantedVia::LocalOperator);
        let admin = operator
            .clients()
            .create(ClientKind::Admin, "lead", &[], &grant)
            .await
            .unwrap();
        let service = operator
            .clients()
            .create(
                ClientKind::Service,
                "shipping",
                &["shipping".into()],
                &grant,
            )
            .await
            .unwrap();
        (admin, service)
    };

    // A serving authority never acts as the local operator.
    let serving = authority(&dir, OperatorAccess::TokensOnly).await;
    assert!(not_administrator(serving.operator_grant()));

    let admin_token = serving
        .clients()
        .client_credentials(&admin.client_id, &admin.client_secret, None, &context)
        .await
        .unwrap();
    let verified = serving
        .verifier()
        .verify(&admin_token.access_token, &context)
        .await
        .unwrap();
    let grant = serving.authorize_admin(&verified, &context).unwrap();
    assert!(matches!(grant.via(), GrantedVia::AdminToken { .. }));
    assert_eq!(grant.actor().to_string(), "admin:lead");
    serving.keys().rotate(&grant).await.unwrap();

    let service_token = serving
        .clients()
        .client_credentials(&service.client_id, &service.client_secret, None, &context)
        .await
        .unwrap();
    let verified = serving
        .verifier()
        .verify(&service_token.access_token, &context)
        .await
        .unwrap();
    assert!(not_administrator(
        serving.authorize_admin(&verified, &context)
    ));
}

#[tokio::test]
async fn the_response_grant_is_handed_out_once() {
    let dir = tempfile::tempdir().unwrap();
    let serving = authority(&dir, OperatorAccess::TokensOnly).await;
    let grant = serving
        .take_response_grant()
        .expect("the first taker gets it");
    assert_eq!(grant.via(), &GrantedVia::AutomaticResponse);
    assert!(serving.take_response_grant().is_none());
}
