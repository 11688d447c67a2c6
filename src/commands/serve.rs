//! `haechi serve`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use haechi_server::AppState;
use tokio::net::TcpListener;

use crate::Outcome;
use crate::cli::ServeArgs;
use crate::config::{Config, LogFormat};
use crate::runtime::{DataDirLock, Runtime};

pub fn run(args: ServeArgs, mut config: Config) -> anyhow::Result<Outcome> {
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    init_logging(&config);
    let _lock = DataDirLock::acquire(&config, "a second server")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(serve(config))?;
    Ok(Outcome::Clean)
}

fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HAECHI_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn serve(config: Config) -> anyhow::Result<()> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .ok();
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let address = listener.local_addr()?;
    // With port 0 the issuer (derived from the address) must name the port actually bound.
    let mut config = config;
    config.listen = address;
    let runtime = Runtime::open(&config).await?;
    let state = AppState {
        authority: runtime.authority.clone(),
        vault: runtime.vault.clone(),
        store: runtime.store.clone(),
        events: runtime.events.clone(),
        metrics,
        settings: Arc::new(config.server_settings()),
    };
    let maintenance = tokio::spawn(maintain(
        runtime.authority.clone(),
        maintenance_period(config.keys.rotation_interval),
    ));
    tracing::info!(%address, data_dir = %config.data_dir.display(), "haechi serving");
    // Tests and scripts read the address from this line (port 0 picks a free port).
    println!("haechi listening on http://{address}");
    haechi_server::serve(listener, state, shutdown_signal()).await?;
    maintenance.abort();
    runtime.store.close().await;
    tracing::info!("haechi stopped");
    Ok(())
}

/// Upkeep runs often enough that a key retires within a minute of its window closing.
fn maintenance_period(rotation_interval: Duration) -> Duration {
    (rotation_interval / 24).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

async fn maintain(authority: Arc<haechi_token::TokenAuthority>, period: Duration) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if let Err(error) = authority.maintain().await {
            tracing::error!(%error, "key maintenance failed");
        }
    }
}

async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
