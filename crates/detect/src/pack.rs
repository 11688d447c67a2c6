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
        "admin_export.yaml",
        include_str!("../rules/admin_export.yaml"),
    ),
    (
        "audit_health.yaml",
        include_str!("../rules/audit_health.yaml"),
    ),
];

/// Loads the built-in pack. Its rules are tested to load without errors; the report is still
/// returned whole so that a server built from a broken tree says so instead of panicking.
pub fn builtin_rules() -> LoadReport {
    let mut report = LoadReport::default();
    for (name, text) in BUILTIN_FILES {
        report.merge(load_str(&format!("builtin:{name}"), text));
    }
    report
}
