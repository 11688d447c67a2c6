//! Stage 5, recording: one `leak.matched` event per customer, and the exposed identifiers.

use std::collections::HashSet;
use std::time::Instant;

use haechi_events::{Clock as _, EventKind, SecurityEvent, SystemClock};
use haechi_leak::exposure::Exposure;
use haechi_leak::matching::CustomerMatch;
use haechi_token::AdminGrant;

use super::MatchServices;
use crate::Error;

/// `leak.matched` events handed to the audit log at once (one group commit).
const EVENT_BATCH: usize = 8_192;

/// When each half of the recording was done, and how many exposures were new.
pub(super) struct Recorded {
    pub(super) events_at: Instant,
    pub(super) exposures_at: Instant,
    pub(super) new_exposures: u64,
    pub(super) exposures: usize,
}

/// Records the customers' events and the exposures at once: the audit writer and the
/// database's worker are different threads.
pub(super) async fn record(
    services: &MatchServices<'_>,
    grant: &AdminGrant,
    customers: &[&CustomerMatch],
    exposures: HashSet<Exposure>,
    source: &str,
) -> Result<Recorded, Error> {
    let exposures: Vec<Exposure> = exposures.into_iter().collect();
    let record_exposures = async {
        let new = services
            .exposures
            .record_exposures(&exposures, SystemClock.now())
            .await
            .map_err(Error::Exposures)?;
        Ok::<_, Error>((new, Instant::now()))
    };
    let (events_done, exposures_done) = tokio::join!(
        record_events(services, grant, customers, source),
        record_exposures
    );
    let events_at = events_done?;
    let (new_exposures, exposures_at) = exposures_done?;
    Ok(Recorded {
        events_at,
        exposures_at,
        new_exposures,
        exposures: exposures.len(),
    })
}

/// One `leak.matched` event per customer, handed over in groups so the audit log commits
/// each group with one sync.
async fn record_events(
    services: &MatchServices<'_>,
    grant: &AdminGrant,
    customers: &[&CustomerMatch],
    source: &str,
) -> Result<Instant, Error> {
    let (actor, context) = (grant.actor(), grant.context());
    for group in customers.chunks(EVENT_BATCH) {
        let events = group.iter().map(|customer| {
            let mut event =
                SecurityEvent::new(SystemClock.now(), EventKind::LeakMatched, actor.clone())
                    .context(context)
                    .customer(customer.customer_id())
                    .fields(customer.fields().iter().map(|field| field.as_str()))
                    .detail("confidence", customer.confidence().as_str())
                    .detail("rows", customer.rows().to_string())
                    .detail("source", source.to_string());
            if let Some(first) = customer.lines().first() {
                event = event.detail("first_line", first.to_string());
            }
            services.events.record(event)
        });
        for recorded in futures::future::join_all(events).await {
            recorded.map_err(Error::Audit)?;
        }
    }
    Ok(Instant::now())
}

/// The pass's own record, whatever it found: the auditor's evidence lists leak-watch passes,
/// and a pass that matched nobody is a pass too.
pub(super) async fn record_pass(
    services: &MatchServices<'_>,
    grant: &AdminGrant,
    source: &str,
    rows: u64,
    recorded: &Recorded,
    customers: usize,
) -> Result<(), Error> {
    let event = SecurityEvent::new(
        SystemClock.now(),
        EventKind::LeakPassCompleted,
        grant.actor().clone(),
    )
    .context(grant.context())
    .detail("source", source.to_string())
    .detail("rows", rows.to_string())
    .detail("customers", customers.to_string())
    .detail("new_exposures", recorded.new_exposures.to_string());
    services.events.record(event).await.map_err(Error::Audit)?;
    Ok(())
}
