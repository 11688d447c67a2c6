//! The administrators' event streams (SSE) of alerts and incidents: each notice as one event,
//! `lagged` when the reader fell behind, ended when the administrator's token stops being in
//! force (checked every second) or the server stops.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use haechi_token::VerifiedToken;
use serde::Serialize;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::AppState;

/// The stream of `receiver`'s notices for the holder of `token`, each named by `name`.
pub(super) fn admin_stream<T: Serialize + Clone + Send + 'static>(
    state: &AppState,
    token: VerifiedToken,
    receiver: broadcast::Receiver<T>,
    name: fn(&T) -> &'static str,
) -> Sse<impl Stream<Item = Result<Event, Infallible>> + use<T>> {
    let authority = state.authority.clone();
    let end = Box::pin(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(1));
        loop {
            ticker.tick().await;
            if !authority.verifier().still_in_force(&token) {
                return;
            }
        }
    });
    let closed = Box::pin(state.detection.closed());
    let stream = futures::stream::unfold(
        (receiver, end, closed),
        move |(mut receiver, mut end, mut closed)| async move {
            let event = tokio::select! {
                () = &mut end => return None,
                () = &mut closed => return None,
                received = receiver.recv() => match received {
                    Ok(notice) => Event::default()
                        .event(name(&notice))
                        .json_data(&notice)
                        .unwrap_or_else(|_| Event::default().event("error")),
                    Err(RecvError::Lagged(missed)) => Event::default()
                        .event("lagged")
                        .data(missed.to_string()),
                    Err(RecvError::Closed) => return None,
                },
            };
            Some((Ok(event), (receiver, end, closed)))
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
