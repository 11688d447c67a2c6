//! Access policy: which service may read which fields, masked or in plaintext, for which
//! purpose. Default deny; deny wins; loaded from a TOML file.
//!
//! ```toml
//! [[grant]]
//! service = "shipping"            # a service name, or "*"
//! purposes = ["shipping"]         # declared purposes this grant covers, or ["*"]
//! fields = ["name", "phone", "addresses"]
//! access = "plaintext"            # or "masked"
//!
//! [[deny]]                        # deny wins over every grant
//! service = "*"
//! purposes = ["marketing"]
//! fields = ["*"]
//!
//! [quota]                         # distinct customers per principal per window
//! window = "1h"
//! masked = 1000
//! plaintext = 100
//! customer_requests_per_minute = 120
//! lookup_misses_per_minute = 60   # blind-index lookups that find nobody, per service
//!
//! [quota.services.shipping]       # per-service budgets
//! masked = 20000
//! plaintext = 5000
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::{PiiField, QuotaSettings};

/// How a field may be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Not at all.
    Denied,
    /// Masked (`홍*동`, `010-****-5678`).
    Masked,
    /// In plaintext.
    Plaintext,
}

/// A policy file that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {problem}")]
pub struct PolicyError {
    /// The file.
    pub file: String,
    /// 1-based line (0 when the problem has no position).
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    grant: Vec<RuleFile>,
    #[serde(default)]
    deny: Vec<RuleFile>,
    #[serde(default)]
    quota: Option<QuotaFile>,
    /// The gateway's routes: the same file, read by `haechi-gateway` (not here).
    #[serde(default, rename = "gateway")]
    _gateway: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    service: Spanned<String>,
    purposes: Vec<Spanned<String>>,
    fields: Vec<Spanned<String>>,
    #[serde(default)]
    access: Option<Spanned<Access>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct QuotaFile {
    #[serde(default, with = "humantime_serde")]
    window: Option<Duration>,
    #[serde(default)]
    masked: Option<u32>,
    #[serde(default)]
    plaintext: Option<u32>,
    #[serde(default)]
    customer_requests_per_minute: Option<u32>,
    #[serde(default)]
    lookup_misses_per_minute: Option<u32>,
    #[serde(default)]
    services: BTreeMap<String, ServiceQuotaFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServiceQuotaFile {
    #[serde(default)]
    masked: Option<u32>,
    #[serde(default)]
    plaintext: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rule {
    service: String,
    purposes: Vec<String>,
    fields: Vec<FieldPattern>,
    access: Access,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldPattern {
    Any,
    Field(PiiField),
}

/// One `[[grant]]` of a policy, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantView {
    /// The service (`*`: every service).
    pub service: String,
    /// Its purposes (`*`: any).
    pub purposes: Vec<String>,
    /// Its fields (`*`: every field).
    pub fields: Vec<String>,
    /// How they may be read.
    pub access: Access,
}

/// A loaded policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    grants: Vec<Rule>,
    denies: Vec<Rule>,
    quota: QuotaSettings,
    source: String,
}

impl Default for Policy {
    /// The empty policy: every service read is denied.
    fn default() -> Self {
        Policy {
            grants: Vec::new(),
            denies: Vec::new(),
            quota: QuotaSettings::default(),
            source: String::new(),
        }
    }
}

impl Policy {
    /// Parses policy text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Self, PolicyError> {
        let error_at = |offset: Option<usize>, problem: String| PolicyError {
            file: file.to_string(),
            line: offset.map(|offset| line_of(text, offset)).unwrap_or(0),
            problem,
        };
        let parsed: PolicyFile = toml::from_str(text).map_err(|error| {
            error_at(
                error.span().map(|span| span.start),
                error.message().to_string(),
            )
        })?;
        let grants = parsed
            .grant
            .into_iter()
            .map(|rule| rule_from(rule, RuleKind::Grant, &error_at))
            .collect::<Result<Vec<_>, _>>()?;
        let denies = parsed
            .deny
            .into_iter()
            .map(|rule| rule_from(rule, RuleKind::Deny, &error_at))
            .collect::<Result<Vec<_>, _>>()?;
        let quota = quota_from(parsed.quota);
        if quota.window.is_zero() || quota.window > Duration::from_secs(7 * 24 * 3600) {
            return Err(error_at(
                None,
                "quota.window must be between 1 s and 7 days".into(),
            ));
        }
        Ok(Policy {
            grants,
            denies,
            quota,
            source: text.to_string(),
        })
    }

    /// How `service` may read `field` for `purpose`. Default deny; any matching deny wins;
    /// otherwise the most permissive matching grant.
    pub fn decide(&self, service: &str, purpose: &str, field: PiiField) -> Access {
        let matches = |rule: &Rule| {
            (rule.service == "*" || rule.service == service)
                && rule.purposes.iter().any(|p| p == "*" || p == purpose)
                && rule.fields.iter().any(|f| match f {
                    FieldPattern::Any => true,
                    FieldPattern::Field(known) => *known == field,
                })
        };
        if self.denies.iter().any(matches) {
            return Access::Denied;
        }
        self.grants
            .iter()
            .filter(|rule| matches(rule))
            .map(|rule| rule.access)
            .max()
            .unwrap_or(Access::Denied)
    }

    /// Whether any grant mentions `purpose` for `service` (so an unknown purpose can be told
    /// apart from a denied field).
    pub fn knows_purpose(&self, service: &str, purpose: &str) -> bool {
        self.grants.iter().any(|rule| {
            (rule.service == "*" || rule.service == service)
                && rule.purposes.iter().any(|p| p == "*" || p == purpose)
        })
    }

    /// The grants in force, as the policy file states them (for the auditor's evidence).
    pub fn grants(&self) -> Vec<GrantView> {
        self.grants
            .iter()
            .map(|rule| GrantView {
                service: rule.service.clone(),
                purposes: rule.purposes.clone(),
                fields: rule
                    .fields
                    .iter()
                    .map(|field| match field {
                        FieldPattern::Any => "*".to_string(),
                        FieldPattern::Field(field) => field.as_str().to_string(),
                    })
                    .collect(),
                access: rule.access,
            })
            .collect()
    }

    /// Quota settings.
    pub fn quota(&self) -> &QuotaSettings {
        &self.quota
    }

    /// The text the policy was loaded from.
    pub fn source(&self) -> &str {
        &self.source
    }
}

/// Whether a rule of the file grants or denies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleKind {
    /// `[[grant]]`: needs an access, and it is not `denied`.
    Grant,
    /// `[[deny]]`: takes no access.
    Deny,
}

/// One `[[grant]]` or `[[deny]]` of the file, checked; problems are reported at their place
/// through `error_at`.
fn rule_from(
    rule: RuleFile,
    kind: RuleKind,
    error_at: &dyn Fn(Option<usize>, String) -> PolicyError,
) -> Result<Rule, PolicyError> {
    let mut fields = Vec::new();
    for field in &rule.fields {
        let name = field.get_ref();
        if name == "*" {
            fields.push(FieldPattern::Any);
        } else if let Some(known) = PiiField::parse(name) {
            fields.push(FieldPattern::Field(known));
        } else {
            return Err(error_at(
                Some(field.span().start),
                format!(
                    "unknown field {name:?} (known: name, email, phone, birth_date, customs_code, addresses, *)"
                ),
            ));
        }
    }
    if rule.purposes.is_empty() {
        return Err(error_at(
            Some(rule.service.span().start),
            "purposes is empty".into(),
        ));
    }
    let access = match (&rule.access, kind) {
        (Some(access), RuleKind::Grant) if *access.get_ref() == Access::Denied => {
            return Err(error_at(
                Some(access.span().start),
                "a grant's access is \"masked\" or \"plaintext\"; use [[deny]] to deny".into(),
            ));
        }
        (Some(access), RuleKind::Grant) => *access.get_ref(),
        (None, RuleKind::Grant) => {
            return Err(error_at(
                Some(rule.service.span().start),
                "a grant needs access = \"masked\" or \"plaintext\"".into(),
            ));
        }
        (Some(access), RuleKind::Deny) => {
            return Err(error_at(
                Some(access.span().start),
                "a deny takes no access".into(),
            ));
        }
        (None, RuleKind::Deny) => Access::Denied,
    };
    Ok(Rule {
        service: rule.service.into_inner(),
        purposes: rule.purposes.into_iter().map(Spanned::into_inner).collect(),
        fields,
        access,
    })
}

/// The `[quota]` section over the defaults.
fn quota_from(file_quota: Option<QuotaFile>) -> QuotaSettings {
    let mut quota = QuotaSettings::default();
    let Some(file_quota) = file_quota else {
        return quota;
    };
    if let Some(window) = file_quota.window {
        quota.window = window;
    }
    if let Some(masked) = file_quota.masked {
        quota.masked = masked;
    }
    if let Some(plaintext) = file_quota.plaintext {
        quota.plaintext = plaintext;
    }
    if let Some(rate) = file_quota.customer_requests_per_minute {
        quota.customer_requests_per_minute = rate;
    }
    if let Some(rate) = file_quota.lookup_misses_per_minute {
        quota.lookup_misses_per_minute = rate;
    }
    for (service, budget) in file_quota.services {
        quota.per_service.insert(
            service,
            (
                budget.masked.unwrap_or(quota.masked),
                budget.plaintext.unwrap_or(quota.plaintext),
            ),
        );
    }
    quota
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"
[[grant]]
service = "shipping"
purposes = ["shipping"]
fields = ["name", "phone", "addresses"]
access = "plaintext"

[[grant]]
service = "*"
purposes = ["support"]
fields = ["*"]
access = "masked"

[[deny]]
service = "*"
purposes = ["*"]
fields = ["customs_code"]

[quota]
window = "10m"
masked = 50
plaintext = 5

[quota.services.shipping]
plaintext = 500
"#;

    #[test]
    fn decisions_are_default_deny_and_deny_wins() {
        let policy = Policy::parse(POLICY, "policy.toml").unwrap();
        let cases = [
            ("shipping", "shipping", PiiField::Name, Access::Plaintext),
            ("shipping", "shipping", PiiField::Email, Access::Denied),
            ("shipping", "support", PiiField::Email, Access::Masked),
            ("shipping", "support", PiiField::Phone, Access::Masked),
            ("billing", "support", PiiField::Name, Access::Masked),
            ("billing", "shipping", PiiField::Name, Access::Denied),
            ("shipping", "support", PiiField::CustomsCode, Access::Denied),
            ("shipping", "marketing", PiiField::Name, Access::Denied),
        ];
        for (service, purpose, field, expected) in cases {
            assert_eq!(
                policy.decide(service, purpose, field),
                expected,
                "{service} {purpose} {field:?}"
            );
        }
        assert_eq!(policy.quota().budget("shipping"), (50, 500));
        assert_eq!(policy.quota().budget("billing"), (50, 5));
        assert_eq!(policy.quota().window, Duration::from_secs(600));
    }

    #[test]
    fn errors_name_the_file_line_and_problem() {
        let cases = [
            (
                "[[grant]]\nservice = \"a\"\npurposes = [\"x\"]\nfields = [\"ssn\"]\naccess = \"masked\"\n",
                4,
                "unknown field",
            ),
            (
                "[[grant]]\nservice = \"a\"\npurposes = [\"x\"]\nfields = [\"name\"]\n",
                2,
                "needs access",
            ),
            (
                "[[grant]]\nservice = \"a\"\npurposes = [\"x\"]\nfields = [\"name\"]\naccess = \"everything\"\n",
                5,
                "unknown variant",
            ),
            ("[[grnt]]\nservice = \"a\"\n", 1, "unknown field"),
            ("[[grant]\n", 1, ""),
        ];
        for (text, line, fragment) in cases {
            let error = Policy::parse(text, "p.toml").unwrap_err();
            assert_eq!(error.line, line, "{error}");
            assert!(
                error.to_string().starts_with(&format!("p.toml:{line}:")),
                "{error}"
            );
            assert!(error.problem.contains(fragment), "{error}");
        }
    }
}
