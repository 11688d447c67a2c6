//! Blind-index lookups, authorized and charged like reads.
//!
//! A lookup answers "who holds this e-mail or phone": every customer it returns has had their
//! id and that identifier disclosed to the caller. So a lookup is a read of the searched
//! field: the policy must grant that field for the purpose ([`ServiceReads::authorize_lookup`], the
//! same authorization step and proof as reads), each customer returned is charged to the
//! caller's budget of distinct customers and recorded as a `pii.lookup` naming them, and
//! misses — what a walk of the phone space is made of — are rate-limited per principal.

use haechi_events::{EventKind, RequestContext, SecurityEvent};
use haechi_token::VerifiedToken;

use super::ServiceReads;
use crate::access::{AccessGrant, Authorization, GrantOperation};
use crate::lookup_limits::{LookupAdmission, LookupResult, LookupStats};
use crate::{BlindIndexKind, Denial, Error, IndexEntry, PiiField};

/// The field a blind-index kind searches.
fn searched_field(kind: BlindIndexKind) -> PiiField {
    match kind {
        BlindIndexKind::Email => PiiField::Email,
        BlindIndexKind::Phone => PiiField::Phone,
    }
}

impl ServiceReads {
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
        Authorization {
            operation: GrantOperation::Lookup(kind),
            token,
            customer_ids: &[],
            purpose,
            requested: Some(&field),
            context,
        }
        .decide(&self.core)
        .await
    }

    /// Finds the customers holding `value` through the blind index, under `grant` (from
    /// [`ServiceReads::authorize_lookup`]). Candidates sharing the truncated index value are
    /// confirmed by decryption. Refused with [`Denial::LookupMisses`] while the principal is
    /// over its misses per minute (counted where [`crate::LookupLimits`] keeps them: a
    /// cluster's store answers for every node, and a store that cannot answer fails the
    /// lookup with [`Error::Store`]), and with [`Denial::Quota`] when the customers found
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
            let denial = Denial::WrongGrant {
                granted: grant.operation.name(),
                wanted: "lookup",
            };
            return Err(denial.into());
        };
        let principal = format!("service:{}", grant.service);
        let limit = self.core.policy().quota().lookup_misses_per_minute;
        let admitted_at = self.core.clock.now();
        let admission = self
            .lookup_limits
            .admit(&principal, limit, admitted_at)
            .await?;
        if let LookupAdmission::Limited { retry_after_secs } = admission {
            let denial = Denial::LookupMisses { retry_after_secs };
            self.core
                .emit(
                    denial
                        .stamp(self.lookup_event(EventKind::PiiQuotaExceeded, grant, kind, context))
                        .detail("limit", limit.to_string()),
                )
                .await?;
            return Err(denial.into());
        }
        let found = self.find_and_charge(grant, kind, value, context).await;
        let (matches, candidates) = match found {
            Ok(found) => found,
            Err(error) => {
                // Not made (bad input, over budget, a store failure): neither a miss nor
                // counted. If even this fails, the reservation stays a miss — the cautious
                // side.
                let _ = self.lookup_limits.abandon(&principal, admitted_at).await;
                return Err(error);
            }
        };
        let result = if matches.is_empty() {
            LookupResult::Miss
        } else {
            LookupResult::Hit
        };
        let stats = self
            .lookup_limits
            .settle(
                &principal,
                admitted_at,
                result,
                limit,
                self.core.clock.now(),
            )
            .await?;
        self.record_lookup(grant, kind, context, &matches, candidates, stats)
            .await?;
        Ok(matches)
    }

    /// The admitted lookup's work: the customers holding `value` (and how many candidates
    /// the index gave), charged to the service's budget when there are any.
    async fn find_and_charge(
        &self,
        grant: &AccessGrant,
        kind: BlindIndexKind,
        value: &str,
        context: &RequestContext,
    ) -> Result<(Vec<String>, usize), Error> {
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
        let (matches, candidates) = self.holders(kind, &normalised).await?;
        if !matches.is_empty() {
            let found: Vec<&str> = matches.iter().map(String::as_str).collect();
            let over_budget = self.lookup_event(EventKind::PiiQuotaExceeded, grant, kind, context);
            self.charge(grant, &found, over_budget).await?;
        }
        Ok((matches, candidates))
    }

    /// The customers whose `kind` is `normalised`, in id order, and how many candidates the
    /// truncated index gave: each candidate is decrypted and compared.
    async fn holders(
        &self,
        kind: BlindIndexKind,
        normalised: &str,
    ) -> Result<(Vec<String>, usize), Error> {
        let core = &self.core;
        let entry = IndexEntry {
            kind,
            value: core.indexer.index_normalised(kind, normalised),
        };
        let candidates = core.store.candidates(entry).await?;
        let records = core.store.records(&candidates).await?;
        let mut matches = Vec::new();
        for stored in &records {
            let record = core.open_fields(stored, &[searched_field(kind)])?;
            let stored_value = match kind {
                BlindIndexKind::Email => record.email.as_str(),
                BlindIndexKind::Phone => record.phone.as_str(),
            };
            if stored_value == normalised {
                matches.push(stored.customer_id.clone());
            }
        }
        matches.sort();
        Ok((matches, candidates.len()))
    }

    /// The lookup's events: one `pii.lookup` per customer disclosed, or one `no_match` refusal
    /// when nobody was found, each with the counts and the principal's window statistics.
    async fn record_lookup(
        &self,
        grant: &AccessGrant,
        kind: BlindIndexKind,
        context: &RequestContext,
        matches: &[String],
        candidates: usize,
        stats: LookupStats,
    ) -> Result<(), Error> {
        let with_stats = |event: SecurityEvent| {
            event
                .detail("matches", matches.len().to_string())
                .detail("candidates", candidates.to_string())
                .detail("window_lookups", stats.lookups.to_string())
                .detail("window_miss_pct", stats.miss_percent().to_string())
        };
        if matches.is_empty() {
            self.core
                .emit(with_stats(Denial::NoMatch.stamp(self.lookup_event(
                    EventKind::PiiLookup,
                    grant,
                    kind,
                    context,
                ))))
                .await?;
        }
        // One event per customer disclosed, all at once so a durable sink commits them
        // together, each durable before any id is returned.
        let events = matches.iter().map(|customer_id| {
            self.core.emit(with_stats(
                self.lookup_event(EventKind::PiiLookup, grant, kind, context)
                    .customer(customer_id)
                    .outcome(grant.decision(), 200),
            ))
        });
        for recorded in futures::future::join_all(events).await {
            recorded?;
        }
        Ok(())
    }

    fn lookup_event(
        &self,
        event_kind: EventKind,
        grant: &AccessGrant,
        kind: BlindIndexKind,
        context: &RequestContext,
    ) -> SecurityEvent {
        self.core
            .event(event_kind, &grant.token, context)
            .fields([kind.as_str()])
            .purpose(&grant.purpose)
    }
}
