//! `haechi leak watch`: the leak sources of `[leakwatch]` polled from the command line — once
//! (`--once`, for a cron job or a first look at new sources) or until interrupted. `haechi
//! serve` runs the same watch beside the API when sources are configured; this command is for
//! a data directory no server holds.

use anyhow::Context as _;
use clap::Args;
use haechi_leakwatch::LeakWatch;

use crate::Outcome;
use crate::backends::Backend;
use crate::commands::block_on;
use crate::config::Config;
use crate::runtime::Runtime;

/// `haechi leak watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Poll every source once, print each one's outcome and exit.
    #[arg(long)]
    pub once: bool,
    /// With `--once`: exit with status 1 when an item matched customers.
    #[arg(long, requires = "once")]
    pub fail_on_findings: bool,
}

pub fn run(args: WatchArgs, config: &Config) -> anyhow::Result<Outcome> {
    if config.leakwatch.sources.is_empty() {
        anyhow::bail!(
            "no [[leakwatch.source]] is configured: add a drop directory or a feed \
             (docs/leak-watch.md, \"Watching sources\")"
        );
    }
    let settings = crate::watches::leak_watch_settings(config)?;
    block_on(async move {
        let runtime = Runtime::open(config).await?;
        // On one node the data directory's lock keeps this command and `serve` apart; in a
        // cluster the watch's lead does, so no two processes fetch the same items.
        let lead = match &runtime.backend {
            Backend::Embedded(_) => None,
            Backend::Postgres(store) => Some(store.try_lead("leak-watch").await?.context(
                "another node leads the leak watch (a serve --role leakwatch or all); \
                 stop it, or let it watch",
            )?),
        };
        let grant = runtime.authority.operator_grant()?;
        let services = crate::watches::services(&runtime);
        let mut watch = LeakWatch::open(
            settings,
            runtime.store.clone(),
            haechi_leakwatch::WatchHealth::default(),
        )?;
        if !args.once {
            eprintln!(
                "watching {} leak sources; Ctrl-C stops",
                config.leakwatch.sources.len()
            );
            let mut lead = lead;
            let lead_lost = async {
                match lead.as_mut() {
                    Some(lead) => crate::watches::until_lead_lost(lead).await,
                    None => std::future::pending().await,
                }
            };
            let lost = tokio::select! {
                () = watch.run(services, grant) => false,
                _ = tokio::signal::ctrl_c() => false,
                () = lead_lost => true,
            };
            if let Some(lead) = lead {
                lead.resign().await;
            }
            if lost {
                anyhow::bail!(
                    "lost the lead of the leak watch (the database connection broke); another node may watch now"
                );
            }
            runtime.close().await?;
            return Ok(Outcome::Clean);
        }
        watch.poll_once(&services, &grant).await;
        let mut matched = 0;
        for health in watch.health() {
            matched += health.matched;
            let state = if health.up { "up" } else { "down" };
            print!(
                "{}: {state}, {} matched, {} clean, {} quarantined",
                health.name, health.matched, health.clean, health.quarantined
            );
            match &health.last_error {
                Some(error) => println!(" ({error})"),
                None => println!(),
            }
        }
        if let Some(lead) = lead {
            lead.resign().await;
        }
        runtime.close().await?;
        Ok(if args.fail_on_findings && matched > 0 {
            Outcome::Findings
        } else {
            Outcome::Clean
        })
    })?
}
