//! Blind-index lookups, authorized and charged like reads.
//!
//! A lookup answers "who holds this e-mail or phone": every customer it returns has had their
//! id and that identifier disclosed to the caller. So a lookup is a read of the searched
//! field: the policy must grant that field for the purpose ([`Vault::authorize_lookup`], the
//! same authorization step and proof as reads), each customer returned is charged to the
//! caller's budget of distinct customers and recorded as a `pii.lookup` naming them, and
//! misses — what a walk of the phone space is made of — are rate-limited per principal.

use haechi_events::{Decision, EventKind, RequestContext, SecurityEvent};
use haechi_token::VerifiedToken;

use super::{AccessGrant, GrantOperation, Vault};
use crate::quota::{LookupResult, LookupStats};
use crate::{BlindIndexKind, Error, IndexEntry, PiiField};

/// The field a blind-index kind searches.
fn searched_field(kind: BlindIndexKind) -> PiiField {
    match kind {
        BlindIndexKind::Email => PiiField::Email,
        BlindIndexKind::Phone => PiiField::Phone,
    }
}

impl Vault {
    /// Authorizes a lookup by `kind`: the caller must be a service holding `purpose`, and
    /// the policy must grant it the searched field (`email` or `phone`, masked or plaintext)
    /// for that purpose; a deny wins. Refusals are audited as `pii.lookup`.
    pub async fn authorize_lookup(
        &self,
        token: &VerifiedToken,
        kind: BlindIndexKind,
        purpose: Option<&str>,
        context: &RequestContext,
    ) -> Result<AccessGrant, Error> {
        let field = [searched_field(kind).as_str().to_string()];
        self.authorize_for(
            GrantOperation::Lookup(kind),
            token,
            &[],
            purpose,
            Some(&field),
            context,
        )
        .await
    }

    /// Finds the customers holding `value` through the blind index, under `grant` (from
    /// [`Vault::authorize_lookup`]). Candidates sharing the truncated index value are
    /// confirmed by decryption. Refused with [`Error::RateLimited`] while the principal is
    /// over its misses per minute, and with [`Error::QuotaExceeded`] when the customers found
    /// would overrun its budget. Records one `pii.lookup` per customer returned (naming it),
    /// or one with decision `deny`, status 404 and reason `no_match` when nobody was found;
    /// each carries the principal's lookups and miss percentage over ten minutes
    /// (`detail.window_lookups`, `detail.window_miss_pct`) for the lookup rules.
    pub async fn lookup(
        &self,
        grant: &AccessGrant,
        value: &str,
        context: &RequestContext,
    ) -> Result<Vec<String>, Error> {
        let GrantOperation::Lookup(kind) = grant.operation else {
            return Err(Error::Forbidden(
                "this grant is for a read, not a lookup".into(),
            ));
        };
        let field = searched_field(kind);
        let principal = format!("service:{}", grant.service);
        let policy = self.policy();
        let limit = policy.quota().lookup_misses_per_minute;
        let refused = self
            .lookups
            .lock()
            .check(&principal, limit, self.clock.now());
        if let Err(retry_after_secs) = refused {
            self.emit(
                self.lookup_event(EventKind::PiiQuotaExceeded, grant, kind, context)
                    .outcome(Decision::Deny, 429)
                    .reason("lookup_misses")
                    .detail("limit", limit.to_string()),
            )
            .await?;
            return Err(Error::RateLimited { retry_after_secs });
        }
        let normalised = match kind {
            BlindIndexKind::Email => haechi_korean::normalize_email(value),
            BlindIndexKind::Phone => haechi_korean::normalize_phone(value),
        }
        .map_err(|error| {
            Error::Invalid(vec![crate::FieldError {
                field: kind.as_str().into(),
                message: error.to_string(),
            }])
        })?;
        let entry = IndexEntry {
            kind,
            value: self.indexer.index_normalised(kind, &normalised),
        };
        let candidates = self.store.candidates(entry).await?;
        let records = self.store.records(&candidates).await?;
        let mut matches = Vec::new();
        for stored in &records {
            let record = self.open_fields(stored, &[field])?;
            let stored_value = match kind {
                BlindIndexKind::Email => record.email.as_str(),
                BlindIndexKind::Phone => record.phone.as_str(),
            };
            if stored_value == normalised {
                matches.push(stored.customer_id.clone());
            }
        }
        matches.sort();
        if !matches.is_empty() {
            let found: Vec<&str> = matches.iter().map(String::as_str).collect();
            let (masked_budget, plaintext_budget) = policy.quota().budget(&grant.service);
            let budget = match grant.class() {
                crate::quota::ReadClass::Masked => masked_budget,
                crate::quota::ReadClass::Plaintext => plaintext_budget,
            };
            let charged = self.budgets.lock().charge(
                &principal,
                grant.class(),
                &found,
                budget,
                policy.quota().window,
                self.clock.now(),
            );
            if !charged {
                self.emit(
                    self.lookup_event(EventKind::PiiQuotaExceeded, grant, kind, context)
                        .outcome(Decision::Deny, 429)
                        .reason("quota")
                        .detail("budget", budget.to_string())
                        .detail("requested", found.len().to_string()),
                )
                .await?;
                return Err(Error::QuotaExceeded(format!(
                    "service {} may read {budget} distinct customers per {} s with these fields",
                    grant.service,
                    policy.quota().window.as_secs()
                )));
            }
        }
        let result = if matches.is_empty() {
            LookupResult::Miss
        } else {
            LookupResult::Hit
        };
        let stats = self
            .lookups
            .lock()
            .record(&principal, result, limit, self.clock.now());
        let with_stats = |event: SecurityEvent, stats: LookupStats| {
            event
                .detail("matches", matches.len().to_string())
                .detail("candidates", candidates.len().to_string())
                .detail("window_lookups", stats.lookups.to_string())
                .detail("window_miss_pct", stats.miss_percent().to_string())
        };
        if matches.is_empty() {
            self.emit(with_stats(
                self.lookup_event(EventKind::PiiLookup, grant, kind, context)
                    .outcome(Decision::Deny, 404)
                    .reason("no_match"),
                stats,
            ))
            .await?;
        }
        // One event per customer disclosed, all at once so a durable sink commits them
        // together, each durable before any id is returned.
        let events = matches.iter().map(|customer_id| {
            self.emit(with_stats(
                self.lookup_event(EventKind::PiiLookup, grant, kind, context)
                    .customer(customer_id)
                    .outcome(grant.decision(), 200),
                stats,
            ))
        });
        for recorded in futures::future::join_all(events).await {
            recorded?;
        }
        Ok(matches)
    }

    fn lookup_event(
        &self,
        event_kind: EventKind,
        grant: &AccessGrant,
        kind: BlindIndexKind,
        context: &RequestContext,
    ) -> SecurityEvent {
        self.event(event_kind, &grant.token, context)
            .fields([kind.as_str()])
            .purpose(&grant.purpose)
    }
}
