//! The second rung of the read path's ladder (`scripts/bench/vault_load.sh`, BENCHMARKS.md
//! issue 17): the bare axum handler of `bare_axum.rs`, plus what every PII read must do before
//! it answers — append one `pii.read`-shaped event to a real hash-chained audit log and wait
//! until its group commit is `fdatasync`ed. Whatever a Haechi read costs beyond this is
//! Haechi's token, policy, vault and HTTP layers.
//!
//! `cargo run --release --example bare_audit -- PORT DIR` keeps the log in DIR (created; use
//! a directory on the disk the data directory would be on) and prints
//! `bare_audit listening on http://ADDR`.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use haechi_audit::{AuditLog, AuditLogConfig};
use haechi_events::{Clock, Decision, EventKind, EventSink, Principal, SecurityEvent, SystemClock};

const BODY: &str = r#"{"id":"c00000000000000000000000000000000","name":"김*준","email":"m****@example.com","phone":"010-****-5678"}"#;

async fn read(
    State(log): State<Arc<AuditLog>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> impl IntoResponse {
    let agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok());
    let event = SecurityEvent::new(
        SystemClock.now(),
        EventKind::PiiRead,
        Principal::Service("bench".into()),
    )
    .ip(Some(peer.ip()))
    .user_agent(agent)
    .sid("00000000000000000000000000000000")
    .jti("00000000000000000000000000000000")
    .kid("k-bench")
    .customer("c00000000000000000000000000000000")
    .fields(["name", "email", "phone", "birth_date", "addresses"])
    .purpose("support")
    .outcome(Decision::Mask, 200);
    match log.record(event).await {
        Ok(_) => ([(header::CONTENT_TYPE, "application/json")], BODY).into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: bare_audit PORT DIR";
    let port: u16 = args
        .next()
        .context(usage)?
        .parse()
        .context("PORT must be a number")?;
    let dir = args.next().context(usage)?;
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {dir}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let signing_key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
        let (log, _) = AuditLog::open(
            AuditLogConfig::new(&dir),
            signing_key,
            Arc::new(SystemClock),
        )?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        println!("bare_audit listening on http://{}", listener.local_addr()?);
        let app = Router::new().fallback(read).with_state(Arc::new(log));
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await?;
        anyhow::Ok(())
    })
}
