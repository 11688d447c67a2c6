//! An in-process Haechi over a temporary data directory, opened the way `src/runtime.rs` and
//! `src/commands/serve.rs` open one (SQLite store, durable audit log, token authority, vault,
//! alert desk and containment), without the binary: the hostile-route table
//! (`tests/hostile_routes.rs`) and the `routes` fuzz target (`fuzz/fuzz_targets/routes.rs`,
//! which includes this file by path) send requests through `router(state).oneshot(…)`.
//!
//! Principals: one administrator, one service (`shipping`, purposes `account` and
//! `shipping`, granted masked reads by the policy), and two customers created through the
//! API. Their tokens are real, issued by the authority.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test support: a failure to set up should stop the run loudly; not every user \
              needs every helper"
)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response, header};
use haechi_custody::{MasterKey, MasterKeyRing, OsRandom, SecureRandom as _};
use haechi_events::{Clock, EventSink, SystemClock};
use haechi_respond::{
    AlertDesk, Containment, ContainmentParts, ContainmentStore, Detection, Enforcement,
    SharedAddressSettings,
};
use haechi_server::{AppState, ServerSettings, SharedState};
use haechi_store::SqliteStore;
use haechi_token::{
    AuthorityParts, ClientKind, OperatorAccess, PasswordParams, TokenAuthority, TokenPolicy,
};
use haechi_vault::{BlindIndexer, Policy, Vault, VaultParts};
use tower::ServiceExt as _;

/// The policy of the fixture's data directory: the service may read masked names and phones
/// for shipping.
pub const POLICY: &str = r#"
[[grant]]
service = "shipping"
purposes = ["shipping"]
fields = ["name", "phone", "addresses"]
access = "masked"
"#;

/// Password of both customers.
pub const PASSWORD: &str = "correct horse battery";

/// Customer B's login identifiers (customer A is `kim@example.com`, `010-2345-6789`).
pub const OTHER_EMAIL: &str = "lee@example.com";
/// Customer B's phone.
pub const OTHER_PHONE: &str = "010-3456-7890";

/// Which router a request goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "each test binary including this file uses some of it"
)]
pub enum Front {
    /// An API node's (and a single node's) router.
    Api,
    /// A detection node's (`--role detect`): probes, alert desk, drill clock.
    DetectionNode,
}

/// The client address requests come from (the router sees it as the peer).
pub const CLIENT: &str = "192.0.2.10:40000";

/// An opened in-process Haechi and its principals.
pub struct Fixture {
    /// The state the router serves.
    pub state: AppState,
    /// The data directory (the audit log is `audit/` under it).
    pub data_dir: PathBuf,
    /// An administrator's access token.
    pub admin_token: String,
    /// The `shipping` service's access token.
    pub service_token: String,
    /// Customer A's access token.
    pub customer_token: String,
    /// Customer A's id.
    pub customer_id: String,
    /// Customer B's id (someone else's, for A and for hostile ids).
    pub other_customer_id: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    /// Opens a fresh data directory and creates the principals.
    pub async fn open() -> Fixture {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data_dir = dir.path().to_path_buf();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let master_key =
            Arc::new(MasterKeyRing::new(MasterKey::generate(&OsRandom), Vec::new()).unwrap());
        let store = Arc::new(
            SqliteStore::open(&data_dir.join("haechi.db"))
                .await
                .unwrap(),
        );
        let audit_dir = data_dir.join("audit");
        std::fs::create_dir_all(&audit_dir).unwrap();
        let signing_key = ed25519_dalek::SigningKey::from_bytes(&OsRandom.bytes32());
        // The evidence desk signs with the audit key, as `haechi serve`'s does.
        let evidence_key = signing_key.clone();
        let (audit, _report) = haechi_audit::AuditLog::open(
            haechi_audit::AuditLogConfig::new(&audit_dir),
            signing_key,
            clock.clone(),
        )
        .unwrap();
        let audit = Arc::new(audit);
        let events: Arc<dyn EventSink> = audit.clone();
        let authority = Arc::new(
            TokenAuthority::open(AuthorityParts {
                store: store.clone(),
                custody: haechi_custody::SigningCustody::MasterKey,
                master_key: master_key.clone(),
                clock: clock.clone(),
                events: events.clone(),
                random: Arc::new(OsRandom),
                policy: TokenPolicy::default(),
                // Cheap hashing: the fixture logs in a few times per test.
                password_params: PasswordParams {
                    memory_kib: 1024,
                    iterations: 1,
                    parallelism: 1,
                },
                // The fixture is also the operator who creates its principals.
                operator_access: OperatorAccess::LocalOperator,
                sign_in_limits: Arc::new(haechi_token::MemorySignInLimits::default()),
            })
            .await
            .unwrap(),
        );
        let index_key = authority
            .keys()
            .named_secret("blind-index-key")
            .await
            .unwrap();
        let vault = Arc::new(Vault::new(VaultParts {
            store: store.clone(),
            authority: authority.clone(),
            master_key: master_key.clone(),
            clock: clock.clone(),
            events: events.clone(),
            random: Arc::new(OsRandom),
            policy: Policy::parse(POLICY, "policy.toml").unwrap(),
            indexer: BlindIndexer::new(index_key, 24),
            policy_store: None,
            shared_budgets: None,
            lookup_limits: Arc::new(haechi_vault::MemoryLookupLimits::default()),
            // As `haechi serve` keeps it, so every test reads through the cache.
            record_cache_bytes: 64 * 1024 * 1024,
        }));
        let containment_store: Arc<dyn ContainmentStore> = store.clone();
        let alerts = AlertDesk::open(containment_store.clone(), clock.clone(), 1000)
            .await
            .unwrap();
        let containment = Containment::open(ContainmentParts {
            store: containment_store,
            authority: authority.clone(),
            events: events.clone(),
            never_block: Vec::new(),
            enforcement: Enforcement::Enforce,
            response_grant: authority.take_response_grant().unwrap(),
            shared_addresses: SharedAddressSettings {
                threshold: 20,
                capacity: 1000,
            },
        })
        .await
        .unwrap();
        let incidents = haechi_respond::IncidentDesk::new(store.clone());
        let rules = Arc::new(haechi_respond::rules::RuleDesk::new(
            haechi_respond::rules::RuleSources::new(
                Some(haechi_detect::PackSettings::default()),
                None,
            ),
            store.clone(),
        ));
        let exposure_check = Arc::new(
            haechi_leakwatch::ExposureCheck::new(
                haechi_leak::private_check::CheckKey::from_seed(&[9; 32]).unwrap(),
                store.clone(),
            )
            .unwrap(),
        );
        let evidence_store: Arc<dyn haechi_store::Store> = store.clone();
        let state = AppState::new(SharedState {
            authority: authority.clone(),
            vault,
            store,
            events,
            audit: audit.clone(),
            metrics: None,
            settings: Arc::new(ServerSettings::default()),
            detection: Arc::new(Detection::new(alerts, containment, incidents)),
            rules,
            exposure_check,
            portal: Arc::new(
                haechi_server::portal::Portal::new(
                    ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
                    haechi_server::admission::AdmissionSettings::default(),
                )
                .unwrap(),
            ),
            notices: Arc::new(
                haechi_server::notices::NoticeDesk::new(
                    haechi_notice::NoticeKey::from_bytes(&[6; 32]),
                    None,
                    haechi_server::notices::VerifyBudget::default(),
                )
                .unwrap(),
            ),
            drill: None,
            freshness: None,
            gateway: Arc::new(haechi_server::gateway::GatewayDesk::new()),
            leak_sources: haechi_leakwatch::WatchHealth::default(),
            console: Arc::new(
                haechi_server::console::ConsoleDesk::new(
                    &zeroize::Zeroizing::new([7; 32]),
                    Vec::new(),
                    Arc::new(haechi_server::console::LocalLog(audit.clone())),
                )
                .unwrap(),
            ),
            evidence: Arc::new(haechi_server::evidence::EvidenceDesk::new(
                haechi_server::evidence::EvidenceSettings {
                    organisation: "Test".into(),
                    data_dir: data_dir.clone(),
                    audit_dir: data_dir.join("audit"),
                    drill_reports: None,
                    bulk_read_customers: 1000,
                    authentication: haechi_evidence::facts::AuthenticationFacts {
                        failures_per_account: 5,
                        attempts_per_source: 100,
                        window_secs: 900,
                        access_ttl_secs: 900,
                        refresh_ttl_secs: 86_400,
                        password_memory_kib: 1024,
                        password_iterations: 1,
                        password_parallelism: 1,
                    },
                    retention_days: None,
                    archive_configured: false,
                    witness: None,
                    master_key_source: haechi_evidence::facts::MasterKeySource::Environment,
                    rotation_interval_days: 90,
                    blind_index_bits: 24,
                    cluster_node: false,
                },
                evidence_key,
                evidence_store,
            )),
        });
        let setup = authority.operator_grant().unwrap();
        let admin = authority
            .clients()
            .create(ClientKind::Admin, "root", &[], &setup)
            .await
            .unwrap();
        let service = authority
            .clients()
            .create(
                ClientKind::Service,
                "shipping",
                &["account".to_string(), "shipping".to_string()],
                &setup,
            )
            .await
            .unwrap();
        let mut fixture = Fixture {
            state,
            data_dir,
            admin_token: String::new(),
            service_token: String::new(),
            customer_token: String::new(),
            customer_id: String::new(),
            other_customer_id: String::new(),
            _dir: dir,
        };
        fixture.admin_token = fixture
            .client_token(&admin.client_id, &admin.client_secret)
            .await;
        fixture.service_token = fixture
            .client_token(&service.client_id, &service.client_secret)
            .await;
        fixture.customer_id = fixture
            .create_customer("kim@example.com", "010-2345-6789")
            .await;
        fixture.other_customer_id = fixture.create_customer(OTHER_EMAIL, OTHER_PHONE).await;
        let (status, body) = fixture
            .send_json(
                "POST",
                "/v1/auth/login",
                None,
                serde_json::json!({ "email": "kim@example.com", "password": PASSWORD }),
            )
            .await;
        assert_eq!(status, 200, "customer login: {body}");
        fixture.customer_token = body["access_token"].as_str().unwrap().to_string();
        fixture
    }

    async fn client_token(&self, client_id: &str, secret: &str) -> String {
        let form =
            format!("grant_type=client_credentials&client_id={client_id}&client_secret={secret}");
        let request = Request::builder()
            .method("POST")
            .uri("/v1/oauth/token")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form))
            .unwrap();
        let response = self.send(request).await;
        let (status, body) = json_of(response).await;
        assert_eq!(status, 200, "client credentials: {body}");
        body["access_token"].as_str().unwrap().to_string()
    }

    async fn create_customer(&self, email: &str, phone: &str) -> String {
        let token = self.service_token.clone();
        let (status, body) = self
            .send_json(
                "POST",
                "/v1/customers",
                Some(&token),
                serde_json::json!({
                    "name": "김민준", "email": email, "phone": phone, "password": PASSWORD,
                }),
            )
            .await;
        assert_eq!(status, 201, "create customer: {body}");
        body["id"].as_str().unwrap().to_string()
    }

    /// Sends a JSON request (with a bearer token if given) and returns status and JSON body.
    pub async fn send_json(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let response = self
            .send(request.body(Body::from(body.to_string())).unwrap())
            .await;
        json_of(response).await
    }

    /// Sends one request through a fresh router over the fixture's state, from [`CLIENT`].
    pub async fn send(&self, request: Request<Body>) -> Response<Body> {
        self.send_to(Front::Api, request).await
    }

    /// Sends one request through a fresh router of `front` over the fixture's state, from
    /// [`CLIENT`].
    pub async fn send_to(&self, front: Front, mut request: Request<Body>) -> Response<Body> {
        let peer: SocketAddr = CLIENT.parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        let router = match front {
            Front::Api => haechi_server::router(self.state.clone()),
            Front::DetectionNode => haechi_server::detection_node_router(self.state.clone()),
        };
        router.oneshot(request).await.unwrap()
    }

    /// Every audit record on disk, oldest first.
    pub fn audit_records(&self) -> Vec<haechi_audit::AuditRecord> {
        haechi_audit::read_log(&self.data_dir.join("audit"))
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    }
}

/// The status and body of a response; a body that is not JSON is `Value::String` of its text.
pub async fn json_of(response: Response<Body>) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&bytes).into()));
    (status, body)
}
