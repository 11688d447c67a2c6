//! The custody watch in `haechi serve`: with keys in a PKCS#11 token, asks the token every
//! second whether it answers (reconnecting when it came back).
//!
//! An HSM that is away fails Haechi closed — no token signed, nothing unwrapped under a master
//! key kept there — so its loss is an outage of logins: recorded once per outage as
//! `custody.unavailable` (the built-in rule `haechi.custody.token_unavailable` raises a
//! critical alert from it) and, when the token answers again, `custody.restored`. `/readyz`
//! asks the token itself; `/metrics` has `haechi_custody_token_available`.

use std::sync::Arc;
use std::time::Duration;

use haechi_custody::Hsm;
use haechi_events::{Clock, EventKind, EventSink, Principal, SecurityEvent};

/// How often the watch asks.
pub const PERIOD: Duration = Duration::from_secs(1);

/// The principal of events Haechi records about itself (as key upkeep does).
const SYSTEM: &str = "haechi-scheduler";

/// Runs the watch until the task is aborted. The first check is at once, so a server started
/// while its token is away raises the alert immediately.
pub async fn run(token: Arc<dyn Hsm>, events: Arc<dyn EventSink>, clock: Arc<dyn Clock>) {
    let mut ticker = tokio::time::interval(PERIOD);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut away = false;
    loop {
        ticker.tick().await;
        // A reconnection loads the module and logs in: blocking work, off the runtime.
        let asked = token.clone();
        let answer = tokio::task::spawn_blocking(move || asked.check())
            .await
            .unwrap_or_else(|_| {
                Err(haechi_custody::Error::HsmUnavailable(
                    "the check did not finish".into(),
                ))
            });
        metrics::gauge!("haechi_custody_token_available").set(if answer.is_ok() {
            1.0
        } else {
            0.0
        });
        let event = match (answer, away) {
            (Err(error), false) => {
                away = true;
                SecurityEvent::new(
                    clock.now(),
                    EventKind::CustodyUnavailable,
                    Principal::Admin(SYSTEM.into()),
                )
                .reason("token_unavailable")
                .detail("token", token.label())
                .detail("error", error.to_string())
            }
            (Ok(()), true) => {
                away = false;
                SecurityEvent::new(
                    clock.now(),
                    EventKind::CustodyRestored,
                    Principal::Admin(SYSTEM.into()),
                )
                .reason("token_restored")
                .detail("token", token.label())
            }
            _ => continue,
        };
        if let Err(error) = events.record(event).await {
            tracing::error!(%error, "cannot record a custody event");
        }
    }
}
