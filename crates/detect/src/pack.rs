//! The built-in rule pack: YAML files under `rules/`, compiled into the binary. Adding a rule
//! is one file plus one line in [`BUILTIN_FILES`].

use crate::loader::{LoadReport, load_str};

/// The built-in rule files: name and text.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    (
        "forged_token.yaml",
        include_str!("../rules/forged_token.yaml"),
    ),
    ("key_misuse.yaml", include_str!("../rules/key_misuse.yaml")),
    (
        "refresh_reuse.yaml",
        include_str!("../rules/refresh_reuse.yaml"),
    ),
    (
        "credential_stuffing.yaml",
        include_str!("../rules/credential_stuffing.yaml"),
    ),
    (
        "read_volume.yaml",
        include_str!("../rules/read_volume.yaml"),
    ),
    (
        "id_enumeration.yaml",
        include_str!("../rules/id_enumeration.yaml"),
    ),
    (
        "cross_customer_read.yaml",
        include_str!("../rules/cross_customer_read.yaml"),
    ),
    (
        "quota_burst.yaml",
        include_str!("../rules/quota_burst.yaml"),
    ),
    (
        "read_without_login.yaml",
        include_str!("../rules/read_without_login.yaml"),
    ),
    (
        "service_baseline.yaml",
        include_str!("../rules/service_baseline.yaml"),
    ),
    (
        "new_service_velocity.yaml",
        include_str!("../rules/new_service_velocity.yaml"),
    ),
    (
        "admin_export.yaml",
        include_str!("../rules/admin_export.yaml"),
    ),
    (
        "lookup_walk.yaml",
        include_str!("../rules/lookup_walk.yaml"),
    ),
    (
        "audit_health.yaml",
        include_str!("../rules/audit_health.yaml"),
    ),
    (
        "exposure_check.yaml",
        include_str!("../rules/exposure_check.yaml"),
    ),
    ("gateway.yaml", include_str!("../rules/gateway.yaml")),
    ("custody.yaml", include_str!("../rules/custody.yaml")),
    ("leak.yaml", include_str!("../rules/leak.yaml")),
    (
        "leak_quarantine.yaml",
        include_str!("../rules/leak_quarantine.yaml"),
    ),
    (
        "refusal_flood.yaml",
        include_str!("../rules/refusal_flood.yaml"),
    ),
];

/// The id of the built-in rule holding services with no reading history to a budget of
/// distinct customers per minute ([`PackSettings::new_service_customers_per_minute`]).
pub const NEW_SERVICE_VELOCITY_RULE: &str = "haechi.service.new_velocity";

/// What a deployment may tune in the built-in pack without copying rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackSettings {
    /// Distinct customers a service with no reading history (first read less than a day ago,
    /// or none for 30 days) may read within a minute before it is suspended. 0 leaves the
    /// rule out.
    pub new_service_customers_per_minute: u64,
}

impl Default for PackSettings {
    fn default() -> Self {
        PackSettings {
            new_service_customers_per_minute: DEFAULT_NEW_SERVICE_CUSTOMERS_PER_MINUTE,
        }
    }
}

/// The default new-service velocity budget: 60 distinct customers a minute, one a second. A
/// stolen credential taking 1,000 customers in four seconds is stopped after about 60 plus
/// what it reads while detection decides (a few hundred milliseconds).
pub const DEFAULT_NEW_SERVICE_CUSTOMERS_PER_MINUTE: u64 = 60;

/// The built-in pack with `settings` applied.
pub fn builtin_rules_with(settings: &PackSettings) -> LoadReport {
    let mut report = builtin_rules();
    if settings.new_service_customers_per_minute == 0 {
        report
            .rules
            .retain(|rule| rule.id() != NEW_SERVICE_VELOCITY_RULE);
    } else {
        for rule in &mut report.rules {
            if rule.id() == NEW_SERVICE_VELOCITY_RULE {
                rule.set_count_threshold(settings.new_service_customers_per_minute);
            }
        }
    }
    report
}

/// Loads the built-in pack. Its rules are tested to load without errors; the report is still
/// returned whole so that a server built from a broken tree says so instead of panicking.
pub fn builtin_rules() -> LoadReport {
    let mut report = LoadReport::default();
    for (name, text) in BUILTIN_FILES {
        report.merge(load_str(&format!("builtin:{name}"), text));
    }
    report
}
