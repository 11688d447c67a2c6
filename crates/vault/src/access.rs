//! The one authorization step of service reads and lookups, and the proof it produces.

use std::collections::BTreeMap;

use haechi_events::{Decision, EventKind, Principal, RequestContext};
use haechi_token::VerifiedToken;

use crate::quota::ReadClass;
use crate::shared::VaultCore;
use crate::view::{EntranceNotes, Rendering};
use crate::{Access, BlindIndexKind, Denial, Error, PiiField, Policy};

/// Proof that a service may read some fields of one customer for a purpose, and how. Only
/// [`crate::ServiceReads::authorize`] and [`crate::ServiceReads::authorize_lookup`] build one;
/// [`crate::ServiceReads::read`] and [`crate::ServiceReads::lookup`] require one.
#[derive(Debug, Clone)]
pub struct AccessGrant {
    pub(crate) service: String,
    pub(crate) customer_ids: Vec<String>,
    pub(crate) purpose: String,
    pub(crate) fields: BTreeMap<PiiField, Access>,
    pub(crate) token: VerifiedToken,
    pub(crate) operation: GrantOperation,
}

/// What an [`AccessGrant`] was made for: a read of records by id, or a blind-index lookup
/// by one identifier (which discloses who holds it, so it is authorized like a read of it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantOperation {
    Read,
    Lookup(BlindIndexKind),
}

impl GrantOperation {
    fn event_kind(self) -> EventKind {
        match self {
            GrantOperation::Read => EventKind::PiiRead,
            GrantOperation::Lookup(_) => EventKind::PiiLookup,
        }
    }

    /// What the operation is called in a refusal.
    pub(crate) fn name(self) -> &'static str {
        match self {
            GrantOperation::Read => "read",
            GrantOperation::Lookup(_) => "lookup",
        }
    }
}

impl AccessGrant {
    /// The fields granted and how.
    pub fn fields(&self) -> &BTreeMap<PiiField, Access> {
        &self.fields
    }

    /// Whether any field is granted in plaintext (which budget the read spends).
    pub(crate) fn class(&self) -> ReadClass {
        if self
            .fields
            .values()
            .any(|access| *access == Access::Plaintext)
        {
            ReadClass::Plaintext
        } else {
            ReadClass::Masked
        }
    }

    /// The decision recorded for what this grant discloses.
    pub(crate) fn decision(&self) -> Decision {
        match self.class() {
            ReadClass::Plaintext => Decision::Allow,
            ReadClass::Masked => Decision::Mask,
        }
    }

    /// How a granted field leaves the vault.
    pub(crate) fn rendering(access: Access) -> Rendering {
        match access {
            Access::Plaintext => Rendering::Plaintext,
            Access::Masked | Access::Denied => Rendering::Masked,
        }
    }

    /// Entrance notes never leave in plaintext to a service, whatever its grant.
    pub(crate) fn entrance_notes(&self) -> EntranceNotes {
        EntranceNotes::Mask
    }

    /// Refused unless the grant was made for `operation`.
    pub(crate) fn require(&self, operation: &'static str) -> Result<(), Denial> {
        if self.operation.name() == operation {
            return Ok(());
        }
        Err(Denial::WrongGrant {
            granted: self.operation.name(),
            wanted: operation,
        })
    }
}

/// One request for an [`AccessGrant`]: who asks, for what, about whom.
pub(crate) struct Authorization<'a> {
    pub(crate) operation: GrantOperation,
    pub(crate) token: &'a VerifiedToken,
    pub(crate) customer_ids: &'a [String],
    pub(crate) purpose: Option<&'a str>,
    pub(crate) requested: Option<&'a [String]>,
    pub(crate) context: &'a RequestContext,
}

/// A refusal of [`Authorization::check`], and the field it concerns when there is one.
struct Refused {
    denial: Denial,
    field: Option<PiiField>,
}

impl From<Denial> for Refused {
    fn from(denial: Denial) -> Self {
        Refused {
            denial,
            field: None,
        }
    }
}

impl Authorization<'_> {
    /// Decides, and records a refusal as the operation's event kind (an unknown field name
    /// is refused before anything is decided, and not recorded).
    pub(crate) async fn decide(self, core: &VaultCore) -> Result<AccessGrant, Error> {
        let Refused { denial, field } = match self.check(&core.policy()) {
            Ok(grant) => return Ok(grant),
            Err(refused) => refused,
        };
        if !matches!(denial, Denial::UnknownField { .. }) {
            let mut event =
                denial.stamp(core.event(self.operation.event_kind(), self.token, self.context));
            if let [one] = self.customer_ids {
                event = event.customer(one);
            }
            if let Some(purpose) = self.purpose {
                event = event.purpose(purpose.chars().take(64).collect::<String>());
            }
            if let Some(field) = field {
                event = event.fields([field.as_str()]);
            }
            core.emit(event).await?;
        }
        Err(denial.into())
    }

    /// Principal, purpose, policy (deny wins), per field: the decision, without IO.
    fn check(&self, policy: &Policy) -> Result<AccessGrant, Refused> {
        let service = self.service()?;
        let Some(purpose) = self.purpose.map(str::trim).filter(|p| !p.is_empty()) else {
            return Err(Denial::MissingPurpose.into());
        };
        if !self.token.has_scope(purpose) {
            return Err(Denial::PurposeNotRegistered {
                service,
                purpose: purpose.to_string(),
            }
            .into());
        }
        if !policy.knows_purpose(&service, purpose) {
            return Err(Denial::NoPolicyGrant {
                service,
                purpose: purpose.to_string(),
            }
            .into());
        }
        let fields = self.granted_fields(policy, &service, purpose)?;
        if fields.is_empty() {
            return Err(Denial::NoFieldGranted {
                service,
                purpose: purpose.to_string(),
            }
            .into());
        }
        Ok(AccessGrant {
            service,
            customer_ids: self.customer_ids.to_vec(),
            purpose: purpose.to_string(),
            fields,
            token: self.token.clone(),
            operation: self.operation,
        })
    }

    /// The service asking; customers and other principals are refused.
    fn service(&self) -> Result<String, Denial> {
        match self.token.principal() {
            Principal::Service(name) => Ok(name.clone()),
            Principal::Customer(_) if self.operation != GrantOperation::Read => {
                Err(Denial::LookupByCustomer)
            }
            Principal::Customer(own) => {
                // A customer uses /v1/customers/me; any id of someone else is not theirs.
                if self.customer_ids.iter().any(|id| id != own) {
                    Err(Denial::NotOwner)
                } else {
                    Err(Denial::UseMe)
                }
            }
            _ => Err(Denial::NotAService),
        }
    }

    /// The fields asked for (all the policy grants when none were named), each as the policy
    /// decides; one denied field refuses the whole request.
    fn granted_fields(
        &self,
        policy: &Policy,
        service: &str,
        purpose: &str,
    ) -> Result<BTreeMap<PiiField, Access>, Refused> {
        let mut fields = BTreeMap::new();
        let Some(names) = self.requested else {
            for field in PiiField::ALL {
                let access = policy.decide(service, purpose, field);
                if access != Access::Denied {
                    fields.insert(field, access);
                }
            }
            return Ok(fields);
        };
        for name in names {
            let Some(field) = PiiField::parse(name) else {
                return Err(Denial::UnknownField {
                    name: name.chars().take(40).collect(),
                }
                .into());
            };
            match policy.decide(service, purpose, field) {
                Access::Denied => {
                    return Err(Refused {
                        denial: Denial::FieldDenied {
                            service: service.to_string(),
                            purpose: purpose.to_string(),
                            field: field.as_str(),
                        },
                        field: Some(field),
                    });
                }
                access => {
                    fields.insert(field, access);
                }
            }
        }
        Ok(fields)
    }
}
