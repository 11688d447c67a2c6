//! `haechi notify`: breach notices for an incident's customers — built from the company's
//! templates, queued in the outbox, delivered by workers to the configured sinks.
//!
//! `--dry-run` renders one customer's notices (with a placeholder code) and counts what
//! would be queued; it reads the store only and contacts nobody. Otherwise the command acts as
//! the local operator (on one node: with the server stopped): every customer is checked first
//! (each needs its exposed fields and times: a detection incident's customers come from
//! `haechi scope --incident ID --out affected.jsonl --no-contacts`, made an incident with
//! `--from`), then the batch and its notices are queued (a rerun queues nothing twice), then
//! the workers deliver until the outbox is empty or only gives up remain.

mod deliver;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use clap::Args;
use haechi_events::{EventKind, SecurityEvent};
use haechi_incident::{AffectedCustomer, IncidentId, IncidentStore};
use haechi_notice::{
    Channel, Notice, NoticeBatch, NoticeFacts, NoticeStore, NoticeTemplates, Rendered,
};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::Outcome;
use crate::backends::Backend;
use crate::commands::{block_on, incident, init_quiet_logging};
use crate::config::Config;
use crate::runtime::Runtime;

/// Customers read from the store per page, and notices queued per transaction.
const PAGE: usize = 10_000;

/// `haechi notify`.
#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// The incident whose customers are notified (INC-…).
    #[arg(long, required_unless_present_any = ["from", "deliver_only"])]
    pub incident: Option<String>,
    /// Or a list of affected customers (`haechi scope --out FILE.jsonl --no-contacts`): made
    /// an incident first, as `haechi incident create --from` does.
    #[arg(long = "from", value_name = "FILE", conflicts_with = "incident")]
    pub from: Option<PathBuf>,
    /// Render one customer's notices and count what would be queued; nothing is written and
    /// nobody is contacted.
    #[arg(long)]
    pub dry_run: bool,
    /// Queue the notices without delivering them.
    #[arg(long, conflicts_with = "deliver_only")]
    pub queue_only: bool,
    /// Deliver what the outbox holds (an earlier `--queue-only` or an interrupted run).
    #[arg(long, conflicts_with_all = ["incident", "from", "dry_run"])]
    pub deliver_only: bool,
    /// No progress bars.
    #[arg(long)]
    pub quiet: bool,
}

/// Runs `haechi notify`.
pub fn run(args: NotifyArgs, config: &Config) -> anyhow::Result<Outcome> {
    init_quiet_logging();
    let templates = NoticeTemplates::new(config.notice.templates()?, config.notice.sender()?)
        .context("the notice templates")?;
    let channels = config.notice.channels()?;
    if args.deliver_only {
        return block_on(deliver::deliver_queued(config, args.quiet))?;
    }
    let incident = match (&args.incident, &args.from) {
        (Some(id), _) => IncidentId::parse(id)?,
        (None, Some(path)) if args.dry_run => {
            anyhow::bail!(
                "--dry-run reads an incident: make it first (haechi incident create --from {})",
                path.display()
            )
        }
        (None, Some(path)) => incident::create_from(path, None, args.quiet, config)?,
        (None, None) => anyhow::bail!("give --incident ID or --from FILE"),
    };
    if args.dry_run {
        return block_on(dry_run(config, &templates, &channels, &incident))?;
    }
    block_on(async {
        // The sinks are checked before anything is queued: a missing gateway is found now.
        // (Inside the runtime: the SMTP sink's connection pool starts a task.)
        if !args.queue_only {
            deliver::routes(config, &channels)?;
        }
        let runtime = Runtime::open(config).await?;
        let queued = queue(&runtime, &templates, &channels, &incident, args.quiet).await;
        let delivered = match queued {
            Ok(()) if !args.queue_only => deliver::deliver(&runtime, config, args.quiet).await,
            other => other.map(|()| Outcome::Clean),
        };
        runtime.close().await?;
        delivered
    })?
}

/// Every customer of `incident` with what their notice says, checked whole before anything
/// is queued.
async fn customers(
    store: &dyn IncidentStore,
    incident: &IncidentId,
) -> anyhow::Result<Vec<(String, NoticeFacts)>> {
    if store.incident(incident).await?.is_none() {
        anyhow::bail!("no incident {incident}");
    }
    let mut found = Vec::new();
    let mut unknown = 0_u64;
    let mut after: Option<String> = None;
    loop {
        let page = store
            .incident_customers(incident, after.as_deref(), PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some(last.customer_id.clone());
        for customer in page {
            match facts(&customer) {
                Some(facts) => found.push((customer.customer_id, facts)),
                None => unknown += 1,
            }
        }
    }
    if unknown > 0 {
        anyhow::bail!(
            "{unknown} customers of {incident} have no recorded fields or times, and a notice \
             must say exactly what leaked and when. Find them with `haechi scope --incident \
             {incident} --out affected.jsonl --no-contacts`, then `haechi notify --from \
             affected.jsonl`"
        );
    }
    if found.is_empty() {
        anyhow::bail!("{incident} has no customers to notify");
    }
    Ok(found)
}

fn facts(customer: &AffectedCustomer) -> Option<NoticeFacts> {
    match (customer.first_seen, customer.last_seen) {
        (Some(first_seen), Some(last_seen)) if !customer.fields.is_empty() => Some(NoticeFacts {
            fields: customer.fields.clone(),
            first_seen,
            last_seen,
        }),
        _ => None,
    }
}

async fn dry_run(
    config: &Config,
    templates: &NoticeTemplates,
    channels: &[Channel],
    incident: &IncidentId,
) -> anyhow::Result<Outcome> {
    let backend = Backend::open(config).await?;
    let customers = customers(backend.store().as_ref(), incident).await?;
    let (sample_id, sample) = &customers[0];
    println!(
        "{} customers of {incident}, {} notices ({}); batch {}",
        customers.len(),
        customers.len() * channels.len(),
        channels
            .iter()
            .map(|channel| channel.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        templates.batch_id()
    );
    println!("sample: customer {sample_id}; the code shown is a placeholder\n");
    for channel in channels {
        let rendered = templates.render(*channel, sample, None)?;
        print_sample(&rendered);
    }
    Ok(Outcome::Clean)
}

fn print_sample(rendered: &Rendered) {
    let size = rendered
        .euc_kr_bytes
        .map(|bytes| format!(", {bytes} bytes in EUC-KR"))
        .unwrap_or_default();
    println!("── {}{size} ──", rendered.channel.as_str().to_uppercase());
    if let Some(subject) = &rendered.subject {
        println!("Subject: {subject}\n");
    }
    println!("{}\n", rendered.text);
}

/// Keeps the batch and queues every customer's notices, recorded as `notice.queued`.
async fn queue(
    runtime: &Runtime,
    templates: &NoticeTemplates,
    channels: &[Channel],
    incident: &IncidentId,
    quiet: bool,
) -> anyhow::Result<()> {
    let grant = runtime.authority.operator_grant()?;
    let customers = customers(runtime.store.as_ref(), incident).await?;
    let now = runtime.clock.now();
    let batch = NoticeBatch {
        id: templates.batch_id(),
        incident_id: incident.clone(),
        templates: templates.set().clone(),
        sender: templates.sender().clone(),
        created_at: now,
        created_by: grant.actor().to_string(),
    };
    let store: Arc<dyn NoticeStore> = runtime.store.clone();
    store.save_batch(&batch).await?;
    let total = (customers.len() * channels.len()) as u64;
    let bar = bar(quiet, total, "queue");
    let started = Instant::now();
    let mut new = 0;
    for page in customers.chunks(PAGE / channels.len().max(1)) {
        let notices: Vec<Notice> = page
            .iter()
            .flat_map(|(customer_id, facts)| {
                channels.iter().map(|channel| {
                    Notice::queued(
                        &batch.id,
                        incident,
                        customer_id,
                        *channel,
                        facts.clone(),
                        now,
                    )
                })
            })
            .collect();
        new += store.enqueue_notices(&notices).await?;
        bar.inc(notices.len() as u64);
    }
    bar.finish_and_clear();
    let event = SecurityEvent::new(now, EventKind::NoticeQueued, grant.actor().clone())
        .detail("incident_id", incident.as_str())
        .detail("batch_id", &batch.id)
        .detail("notices", new.to_string())
        .detail("already_queued", (total - new).to_string());
    runtime
        .events
        .record(event)
        .await
        .context("the audit trail cannot record the queued notices")?;
    eprintln!(
        "queued {new} notices for {} customers of {incident} in {:.1}s ({} were queued before)",
        customers.len(),
        started.elapsed().as_secs_f64(),
        total - new
    );
    Ok(())
}

pub(crate) fn bar(quiet: bool, total: u64, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr_with_hz(4));
    let template = format!("{what} {{wide_bar}} {{pos}}/{{len}}, {{per_sec}}, eta {{eta}}");
    bar.set_style(
        ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}
