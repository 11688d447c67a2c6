//! The responder console's parts the binary makes: its desk, with the session key from the
//! store, and the sweep of its recent scopes.

use std::sync::Arc;
use std::time::Duration;

use haechi_server::console::{
    ClusterStream, ConsoleDesk, EvidenceReader, LocalLog, SESSION_KEY_NAME,
};

use crate::config::Config;
use crate::runtime::Runtime;

/// The console's desk: sessions sealed under the named secret every node shares, scopes reading
/// `audit.archive_dir` besides the live log, and alerts' evidence read from the cluster's
/// stream on a node with a bus (an alert names stream sequences there), else from the log.
pub(crate) async fn desk(config: &Config, runtime: &Runtime) -> anyhow::Result<Arc<ConsoleDesk>> {
    let session_key = runtime
        .authority
        .keys()
        .named_secret(SESSION_KEY_NAME)
        .await?;
    let evidence: Arc<dyn EvidenceReader> = match &runtime.bus {
        Some(node) => Arc::new(ClusterStream(node.bus.clone())),
        None => Arc::new(LocalLog(runtime.audit.clone())),
    };
    Ok(Arc::new(ConsoleDesk::new(
        &session_key,
        config.audit.archive_dir.iter().cloned().collect(),
        evidence,
    )?))
}

/// Drops the console's recent scopes a minute after they were made, asked for again or not.
pub(crate) fn sweep_every_minute(console: Arc<ConsoleDesk>) {
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            console.sweep();
        }
    });
}
