//! Why the vault refuses an act, decided once.
//!
//! A refusal has two readers: the audit record (decision `deny`, a `reason`, a status) and the
//! caller's HTTP answer. Both come from one [`Denial`], so they cannot disagree: the vault
//! stamps the record with [`Denial::reason`] and [`Denial::status`], and the API answers with
//! the same status and the [`Denial`]'s message (`crates/server/src/error.rs`).

use haechi_events::{Decision, SecurityEvent};

/// Why the vault refused. Its [`std::fmt::Display`] is what the caller is told; it never
/// contains a value of personal data (field names and purposes only).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denial {
    /// A customer asked for a lookup: lookups are for services. 403, reason `not_a_service`.
    #[error("lookups are for services")]
    LookupByCustomer,
    /// Neither a service nor a customer (an administrator, say) read records by id. 403,
    /// reason `not_a_service`.
    #[error("customer records are read by services (or by the customer via /v1/customers/me)")]
    NotAService,
    /// An act only a service holding `purpose` may do (creating, erasing), asked by another
    /// principal. 403, reason `not_a_service`; not recorded.
    #[error("only a service with the {purpose:?} purpose may do this")]
    ServiceOnly {
        /// The purpose the act needs.
        purpose: &'static str,
    },
    /// A service without the purpose an act needs (creating, erasing). 403, reason
    /// `purpose_not_registered`; not recorded.
    #[error("service {service} does not hold the {purpose:?} purpose")]
    PurposeNotHeld {
        /// The service.
        service: String,
        /// The purpose the act needs.
        purpose: &'static str,
    },
    /// A customer read someone else's record by id: answered as missing, so the answer is no
    /// oracle of who exists. 404, reason `not_owner`.
    #[error("no such customer")]
    NotOwner,
    /// A customer read their own record by id instead of through `/v1/customers/me`: answered
    /// like [`Denial::NotOwner`]. 404, reason `use_me`.
    #[error("no such customer")]
    UseMe,
    /// Someone who is not a customer asked for `/v1/customers/me`. 403, reason
    /// `not_a_customer`; not recorded.
    #[error("/v1/customers/me is for customers; services read /v1/customers/{{id}}")]
    NotACustomer,
    /// A service read without saying why. 400, reason `missing_purpose`.
    #[error("purpose is required: say why this service reads this record")]
    MissingPurpose,
    /// The service's token does not carry the purpose it declared. 403, reason
    /// `purpose_not_registered`.
    #[error("purpose {purpose:?} is not registered for service {service}")]
    PurposeNotRegistered {
        /// The service.
        service: String,
        /// The purpose declared.
        purpose: String,
    },
    /// The policy has no grant for this service and purpose. 403, reason `policy`.
    #[error("no policy grant for service {service} with purpose {purpose:?}")]
    NoPolicyGrant {
        /// The service.
        service: String,
        /// The purpose declared.
        purpose: String,
    },
    /// A field asked for is denied to this service for this purpose (a `[[deny]]`, or no
    /// grant of it). 403, reason `policy`.
    #[error("field {field} is not granted to {service} for purpose {purpose:?}")]
    FieldDenied {
        /// The service.
        service: String,
        /// The purpose declared.
        purpose: String,
        /// The field's name.
        field: &'static str,
    },
    /// The policy grants this service no field at all for this purpose. 403, reason `policy`.
    #[error("no field is granted to {service} for purpose {purpose:?}")]
    NoFieldGranted {
        /// The service.
        service: String,
        /// The purpose declared.
        purpose: String,
    },
    /// A field name the vault does not know (the first 40 characters of it). 400, reason
    /// `unknown_field`; not recorded.
    #[error(
        "unknown field {name:?} (fields: name, email, phone, birth_date, customs_code, addresses)"
    )]
    UnknownField {
        /// The name given, cut to 40 characters.
        name: String,
    },
    /// An [`crate::AccessGrant`] used for the other operation (a lookup's grant for a read, or
    /// the reverse). 403, reason `wrong_grant`; not recorded.
    #[error("this grant is for a {granted}, not a {wanted}")]
    WrongGrant {
        /// What the grant was made for (`read`, `lookup`).
        granted: &'static str,
        /// What it was used for.
        wanted: &'static str,
    },
    /// The customer does not exist (or the address does not). 404, reason `not_found`.
    #[error("no such customer")]
    NotFound,
    /// A lookup found nobody. 404, reason `no_match`: recorded, but not a refusal the caller
    /// sees (the API answers 200 with no ids).
    #[error("no customer holds this value")]
    NoMatch,
    /// The service's budget of distinct customers in the quota window is spent. 429, reason
    /// `quota`.
    #[error(
        "service {service} may read {budget} distinct customers per {window_secs} s with these fields"
    )]
    Quota {
        /// The service.
        service: String,
        /// Distinct customers it may read in the window, with this class of fields.
        budget: u32,
        /// The quota window in seconds.
        window_secs: u64,
    },
    /// The principal's lookups that found nobody are over the limit per minute. 429, reason
    /// `lookup_misses`.
    #[error("too many requests; retry in {retry_after_secs} s")]
    LookupMisses {
        /// Seconds until another lookup is allowed.
        retry_after_secs: u64,
    },
    /// The customer is over their requests per minute. 429, reason `customer_rate`.
    #[error("too many requests; retry in {retry_after_secs} s")]
    CustomerRate {
        /// Seconds until another request is allowed.
        retry_after_secs: u64,
    },
}

impl Denial {
    /// The `reason` of the audit record.
    pub fn reason(&self) -> &'static str {
        match self {
            Denial::LookupByCustomer | Denial::NotAService | Denial::ServiceOnly { .. } => {
                "not_a_service"
            }
            Denial::PurposeNotHeld { .. } | Denial::PurposeNotRegistered { .. } => {
                "purpose_not_registered"
            }
            Denial::NotOwner => "not_owner",
            Denial::UseMe => "use_me",
            Denial::NotACustomer => "not_a_customer",
            Denial::MissingPurpose => "missing_purpose",
            Denial::NoPolicyGrant { .. }
            | Denial::FieldDenied { .. }
            | Denial::NoFieldGranted { .. } => "policy",
            Denial::UnknownField { .. } => "unknown_field",
            Denial::WrongGrant { .. } => "wrong_grant",
            Denial::NotFound => "not_found",
            Denial::NoMatch => "no_match",
            Denial::Quota { .. } => "quota",
            Denial::LookupMisses { .. } => "lookup_misses",
            Denial::CustomerRate { .. } => "customer_rate",
        }
    }

    /// The status: of the audit record, and of the HTTP answer.
    pub fn status(&self) -> u16 {
        match self {
            Denial::MissingPurpose | Denial::UnknownField { .. } => 400,
            Denial::NotOwner | Denial::UseMe | Denial::NotFound | Denial::NoMatch => 404,
            Denial::Quota { .. } | Denial::LookupMisses { .. } | Denial::CustomerRate { .. } => 429,
            Denial::LookupByCustomer
            | Denial::NotAService
            | Denial::ServiceOnly { .. }
            | Denial::PurposeNotHeld { .. }
            | Denial::NotACustomer
            | Denial::PurposeNotRegistered { .. }
            | Denial::NoPolicyGrant { .. }
            | Denial::FieldDenied { .. }
            | Denial::NoFieldGranted { .. }
            | Denial::WrongGrant { .. } => 403,
        }
    }

    /// For a rate limit (not a spent budget): seconds until the caller may try again.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Denial::LookupMisses { retry_after_secs }
            | Denial::CustomerRate { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        }
    }

    /// `event` as the record of this refusal: decision `deny`, this status and reason.
    pub(crate) fn stamp(&self, event: SecurityEvent) -> SecurityEvent {
        event
            .outcome(Decision::Deny, self.status())
            .reason(self.reason())
    }
}

#[cfg(test)]
mod tests {
    use super::Denial;

    /// The audit values of the refusals the vault records, as they were before the refusal
    /// had one type: a change here changes what the audit trail says.
    #[test]
    fn recorded_refusals_keep_their_reason_and_status() {
        let service = || "svc".to_string();
        let purpose = || "support".to_string();
        let cases = [
            (Denial::LookupByCustomer, "not_a_service", 403),
            (Denial::NotAService, "not_a_service", 403),
            (Denial::NotOwner, "not_owner", 404),
            (Denial::UseMe, "use_me", 404),
            (Denial::MissingPurpose, "missing_purpose", 400),
            (
                Denial::PurposeNotRegistered {
                    service: service(),
                    purpose: purpose(),
                },
                "purpose_not_registered",
                403,
            ),
            (
                Denial::NoPolicyGrant {
                    service: service(),
                    purpose: purpose(),
                },
                "policy",
                403,
            ),
            (
                Denial::FieldDenied {
                    service: service(),
                    purpose: purpose(),
                    field: "email",
                },
                "policy",
                403,
            ),
            (
                Denial::NoFieldGranted {
                    service: service(),
                    purpose: purpose(),
                },
                "policy",
                403,
            ),
            (Denial::NotFound, "not_found", 404),
            (Denial::NoMatch, "no_match", 404),
            (
                Denial::Quota {
                    service: service(),
                    budget: 10,
                    window_secs: 3600,
                },
                "quota",
                429,
            ),
            (
                Denial::LookupMisses {
                    retry_after_secs: 5,
                },
                "lookup_misses",
                429,
            ),
            (
                Denial::CustomerRate {
                    retry_after_secs: 5,
                },
                "customer_rate",
                429,
            ),
        ];
        for (denial, reason, status) in cases {
            assert_eq!(
                (denial.reason(), denial.status()),
                (reason, status),
                "{denial:?}"
            );
        }
    }

    #[test]
    fn only_rate_limits_say_when_to_retry() {
        assert_eq!(
            Denial::CustomerRate {
                retry_after_secs: 7
            }
            .retry_after_secs(),
            Some(7)
        );
        let quota = Denial::Quota {
            service: "svc".into(),
            budget: 1,
            window_secs: 60,
        };
        assert_eq!(quota.retry_after_secs(), None);
    }

    #[test]
    fn refusals_of_other_customers_records_read_as_missing() {
        for denial in [Denial::NotOwner, Denial::UseMe, Denial::NotFound] {
            assert_eq!(denial.to_string(), "no such customer");
        }
    }
}
