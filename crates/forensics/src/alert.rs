//! `--alert ID`: the indicators of a detection alert, read back from the `alert.raised` event
//! the server recorded in the audit trail.
//!
//! An alert is about a **group** — the values of its rule's `group-by` fields in the event that
//! raised it (`ip=203.0.113.9`, `principal=service:support`, a `kid` …). Those values are the
//! alert's indicators. When the raising request carried a `User-Agent` (the rule's `fields`
//! copied it into the alert's context), it is one more: the group says *who* the alert is
//! about, the agent separates an attacker's reads from legitimate reads by the same principal
//! — a stolen service credential is used with the thief's tools, not the service's client.
//! Every indicator must match ([`MatchMode::All`](crate::MatchMode::All)).
//!
//! Only the kinds a scope can select on (`ip`, `kid`, `jti`, `sid`, `principal`,
//! `user_agent`) are used; any other group field (`customer_id`, `purpose`, `detail.*` …) is
//! reported as skipped, with why. This module is pure: finding the event is
//! [`find_alert`](crate::find_alert)'s job.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Error;
use crate::indicators::{IndicatorKind, Indicators};

/// The `detail` key of the group's field names (comma-separated), recorded since alerts carry
/// them.
const GROUP_BY_KEY: &str = "group_by";

/// What the engine renders for a group field the raising event did not have.
const ABSENT_VALUE: &str = "-";

/// An `alert.raised` event as the audit trail holds it: what a scope needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaisedAlert {
    /// The alert's id (`RULE_ID/SEQ`).
    pub id: String,
    /// The rule that raised it.
    pub rule_id: String,
    /// The seq of the `alert.raised` record.
    pub seq: u64,
    /// Event time of the alert's first match (RFC 3339), as recorded.
    pub first_time: Option<String>,
    /// The group, as `field=value` pairs separated by spaces (just the value for one field).
    pub group_key: String,
    /// The group's field names, when the event recorded them (`None` for events written
    /// before alerts carried them: the rule must say).
    pub group_by: Option<Vec<String>>,
    /// The raising request's `User-Agent` (`context.user_agent`), when the alert has one.
    pub user_agent: Option<String>,
}

impl RaisedAlert {
    /// Reads an `alert.raised` event's `detail` (the record at `seq`). `None` when it names no
    /// alert id or rule (not an alert the server recorded).
    pub fn from_detail(seq: u64, detail: &BTreeMap<String, String>) -> Option<Self> {
        let text = |key: &str| detail.get(key).cloned();
        Some(RaisedAlert {
            id: text("alert_id")?,
            rule_id: text("rule_id")?,
            seq,
            first_time: text("first_time"),
            group_key: text("group_key").unwrap_or_default(),
            group_by: detail.get(GROUP_BY_KEY).map(|names| split_names(names)),
            user_agent: text("context.user_agent").filter(|agent| !agent.is_empty()),
        })
    }

    /// The seq of the event that raised the alert, from its id (`RULE_ID/SEQ`): the
    /// `alert.raised` record comes after it.
    pub fn raising_seq(id: &str) -> Option<u64> {
        id.rsplit_once('/')?.1.parse().ok()
    }
}

fn split_names(names: &str) -> Vec<String> {
    names
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// Where an alert's group field names came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupByOrigin {
    /// The `alert.raised` event (`detail.group_by`).
    Event,
    /// The rule with the alert's rule id, as loaded now (the event predates
    /// `detail.group_by`). A rule edited since the alert would name other fields; the custody
    /// block says which way it was read.
    Rule,
}

/// Where one of an alert's indicators came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorOrigin {
    /// A field of the alert's group.
    Group,
    /// The raising request's `User-Agent` (`context.user_agent`).
    Context,
}

/// One indicator taken from an alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertIndicator {
    /// Its kind.
    pub kind: IndicatorKind,
    /// Its value, as the alert holds it.
    pub value: String,
    /// Where in the alert it came from.
    pub from: IndicatorOrigin,
}

/// A group field of an alert that gave no indicator, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedField {
    /// The field's name (`customer_id` …; `group_key` for a group that is not made of event
    /// fields, such as the state-cap alert's rule id).
    pub field: String,
    /// Its value in the alert.
    pub value: String,
    /// Why it was not used.
    pub reason: String,
}

/// An alert as a source of indicators: recorded in the query (and so in the chain-of-custody
/// block and its `query_sha256`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertSource {
    /// The alert's id.
    pub id: String,
    /// The rule that raised it.
    pub rule_id: String,
    /// The seq of its `alert.raised` record.
    pub raised_seq: u64,
    /// Event time of its first match, as recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_time: Option<String>,
    /// Its group key, as recorded.
    pub group_key: String,
    /// The group's field names.
    pub group_by: Vec<String>,
    /// Where the field names came from.
    pub group_by_from: GroupByOrigin,
    /// The indicators taken from it, all of which an exposure must match.
    pub indicators: Vec<AlertIndicator>,
    /// Group fields that gave no indicator.
    pub skipped: Vec<SkippedField>,
}

impl AlertSource {
    /// Adds the alert's indicators to `indicators` (values of a kind already there become
    /// alternatives of that kind).
    pub fn add_to(&self, indicators: &mut Indicators) -> Result<(), Error> {
        for indicator in &self.indicators {
            indicators.add(indicator.kind, &indicator.value)?;
        }
        Ok(())
    }

    /// Takes one candidate indicator, or records why it is skipped: a field scope does not
    /// select on, a value absent from the raising event, or one a query would refuse
    /// (`checked` holds the values taken so far, checked as a scope takes them).
    fn consider(
        &mut self,
        checked: &mut Indicators,
        field: String,
        value: String,
        from: IndicatorOrigin,
    ) {
        let Some(kind) = IndicatorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == field)
        else {
            self.skipped.push(SkippedField {
                field,
                value,
                reason: "not an indicator kind scope takes (ip, kid, jti, sid, principal, \
                     user_agent)"
                    .into(),
            });
            return;
        };
        if value == ABSENT_VALUE {
            self.skipped.push(SkippedField {
                field,
                value,
                reason: "absent from the event that raised the alert".into(),
            });
            return;
        }
        let duplicate = self
            .indicators
            .iter()
            .any(|known| known.kind == kind && known.value == value);
        if duplicate {
            return;
        }
        match checked.add(kind, &value) {
            Ok(()) => self.indicators.push(AlertIndicator { kind, value, from }),
            Err(error) => self.skipped.push(SkippedField {
                field,
                value,
                reason: match error {
                    Error::BadInput { reason, .. } => reason,
                    other => other.to_string(),
                },
            }),
        }
    }
}

/// Derives the indicators of `alert`: its group's fields with the alert's values, plus the
/// raising request's user agent. The group's field names come from the event or, for an event
/// recorded before alerts carried them, from `rule_group_by` (the `group-by` of the loaded
/// rule with the alert's rule id, if there is one).
///
/// Fails with [`Error::UnusableAlert`] when the field names are unknown, the group key does not
/// read as those fields, or no indicator a scope can use is left.
pub fn alert_source(
    alert: &RaisedAlert,
    rule_group_by: Option<&[String]>,
) -> Result<AlertSource, Error> {
    let unusable = |reason: String| Error::UnusableAlert {
        id: alert.id.clone(),
        reason,
    };
    let (group_by, group_by_from) = match (&alert.group_by, rule_group_by) {
        (Some(names), _) => (names.clone(), GroupByOrigin::Event),
        (None, Some(names)) => (names.to_vec(), GroupByOrigin::Rule),
        (None, None) => {
            return Err(unusable(format!(
                "its alert.raised event predates detail.group_by and no loaded rule has the id \
                 {:?}, so the fields of its group key {:?} are unknown; give the rule's \
                 directory (detect.rules_dir) or the indicators themselves",
                alert.rule_id, alert.group_key
            )));
        }
    };
    let mut source = AlertSource {
        id: alert.id.clone(),
        rule_id: alert.rule_id.clone(),
        raised_seq: alert.seq,
        first_time: alert.first_time.clone(),
        group_key: alert.group_key.clone(),
        group_by,
        group_by_from,
        indicators: Vec::new(),
        skipped: Vec::new(),
    };
    // Each candidate is checked as a scope would take it, so a value the query would refuse
    // is reported here rather than failing the whole scope.
    let mut checked = Indicators::default();
    let values = group_values(&source.group_by, &alert.group_key).map_err(unusable)?;
    let mut candidates: Vec<(String, String, IndicatorOrigin)> = Vec::new();
    match values {
        Group::Fields(pairs) => {
            for (field, value) in pairs {
                candidates.push((field.to_string(), value.to_string(), IndicatorOrigin::Group));
            }
        }
        Group::NotFields(key) => source.skipped.push(SkippedField {
            field: "group_key".into(),
            value: key.to_string(),
            reason: "the group is not made of event fields (the rule names no group-by)".into(),
        }),
    }
    if let Some(agent) = &alert.user_agent {
        candidates.push(("user_agent".into(), agent.clone(), IndicatorOrigin::Context));
    }
    for (field, value, from) in candidates {
        source.consider(&mut checked, field, value, from);
    }
    if source.indicators.is_empty() {
        let reasons: Vec<String> = source
            .skipped
            .iter()
            .map(|skipped| format!("{}={:?}: {}", skipped.field, skipped.value, skipped.reason))
            .collect();
        return Err(unusable(if reasons.is_empty() {
            "it has no group and no user agent: nothing to select exposures by".into()
        } else {
            format!("no indicator a scope can use ({})", reasons.join("; "))
        }));
    }
    Ok(source)
}

/// A group key read back.
enum Group<'k> {
    /// Field name and value, in the rule's order.
    Fields(Vec<(&'k str, &'k str)>),
    /// A non-empty key with no field names (the state-cap alert's rule id).
    NotFields(&'k str),
}

/// Splits a group key into its fields' values. The engine writes one field's value bare and
/// several as `NAME=VALUE` separated by spaces, in `group-by` order; values may hold spaces (a
/// user agent), so each value runs up to the next field's ` NAME=`.
fn group_values<'k>(names: &'k [String], key: &'k str) -> Result<Group<'k>, String> {
    match names {
        [] if key.is_empty() => Ok(Group::Fields(Vec::new())),
        [] => Ok(Group::NotFields(key)),
        [only] => Ok(Group::Fields(vec![(only.as_str(), key)])),
        [first, rest @ ..] => {
            let mut remaining = key
                .strip_prefix(first.as_str())
                .and_then(|after| after.strip_prefix('='))
                .ok_or_else(|| {
                    format!(
                        "its group key {key:?} does not start with {first}= (group-by {names:?})"
                    )
                })?;
            let mut pairs = Vec::with_capacity(names.len());
            let mut current = first.as_str();
            for next in rest {
                let separator = format!(" {next}=");
                let Some(end) = remaining.find(&separator) else {
                    return Err(format!(
                        "its group key {key:?} has no {next}= (group-by {names:?})"
                    ));
                };
                pairs.push((current, &remaining[..end]));
                remaining = &remaining[end + separator.len()..];
                current = next.as_str();
            }
            pairs.push((current, remaining));
            Ok(Group::Fields(pairs))
        }
    }
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    /// An `alert.raised` detail as the server records it.
    fn raised(group_by: Option<&str>, group_key: &str, agent: Option<&str>) -> RaisedAlert {
        let mut detail = BTreeMap::new();
        detail.insert("alert_id".to_string(), "t.rule/42".to_string());
        detail.insert("rule_id".to_string(), "t.rule".to_string());
        detail.insert("group_key".to_string(), group_key.to_string());
        detail.insert(
            "first_time".to_string(),
            "2026-11-22T10:00:00.000000Z".to_string(),
        );
        if let Some(names) = group_by {
            detail.insert("group_by".to_string(), names.to_string());
        }
        if let Some(agent) = agent {
            detail.insert("context.user_agent".to_string(), agent.to_string());
        }
        RaisedAlert::from_detail(90, &detail).unwrap()
    }

    /// Derives and renders the indicators as `kind=value` and the skipped fields as names.
    fn check(alert: &RaisedAlert, rule: Option<&[&str]>, used: &[&str], skipped: &[&str]) {
        let rule: Option<Vec<String>> =
            rule.map(|names| names.iter().map(|name| name.to_string()).collect());
        let source = alert_source(alert, rule.as_deref()).unwrap();
        let got: Vec<String> = source
            .indicators
            .iter()
            .map(|indicator| format!("{}={}", indicator.kind, indicator.value))
            .collect();
        assert_eq!(got, used, "{alert:?}");
        let got: Vec<&str> = source
            .skipped
            .iter()
            .map(|skipped| skipped.field.as_str())
            .collect();
        assert_eq!(got, skipped, "{alert:?}");
    }

    fn refused(alert: &RaisedAlert, rule: Option<&[String]>, message: &str) {
        let error = alert_source(alert, rule).unwrap_err().to_string();
        assert!(
            error.contains("t.rule/42") && error.contains(message),
            "{error}"
        );
    }

    #[test]
    fn a_single_field_group_key_is_the_value() {
        check(
            &raised(Some("kid"), "b3hj-cMp369", None),
            None,
            &["kid=b3hj-cMp369"],
            &[],
        );
        check(
            &raised(Some("ip"), "203.0.113.9", Some("python-requests/2.31")),
            None,
            &["ip=203.0.113.9", "user_agent=python-requests/2.31"],
            &[],
        );
    }

    #[test]
    fn several_group_fields_read_as_name_value_pairs() {
        check(
            &raised(
                Some("principal,ip,user_agent"),
                "principal=service:support ip=2001:db8::7 user_agent=Mozilla/5.0 (X11; Linux)",
                Some("Mozilla/5.0 (X11; Linux)"),
            ),
            None,
            &[
                "principal=service:support",
                "ip=2001:db8::7",
                "user_agent=Mozilla/5.0 (X11; Linux)",
            ],
            &[],
        );
        check(
            &raised(Some("sid,kid"), "sid=s-1 kid=k-2", None),
            None,
            &["sid=s-1", "kid=k-2"],
            &[],
        );
    }

    #[test]
    fn the_user_agent_is_added_from_the_context() {
        let alert = raised(Some("principal"), "service:support", Some("curl/8.5.0"));
        check(
            &alert,
            None,
            &["principal=service:support", "user_agent=curl/8.5.0"],
            &[],
        );
        let source = alert_source(&alert, None).unwrap();
        assert_eq!(source.indicators[0].from, IndicatorOrigin::Group);
        assert_eq!(source.indicators[1].from, IndicatorOrigin::Context);
        assert_eq!(source.group_by_from, GroupByOrigin::Event);
        let mut indicators = Indicators::default();
        source.add_to(&mut indicators).unwrap();
        assert!(indicators.principals.contains("service:support"));
        assert!(indicators.user_agents.contains("curl/8.5.0"));
    }

    #[test]
    fn unusable_fields_are_skipped_and_reported() {
        check(
            &raised(
                Some("customer_id,principal"),
                "customer_id=c123 principal=customer:c9",
                None,
            ),
            None,
            &["principal=customer:c9"],
            &["customer_id"],
        );
        // A field absent from the raising event, and a value a scope would refuse.
        check(
            &raised(Some("kid,ip"), "kid=- ip=not-an-address", Some("agent/1")),
            None,
            &["user_agent=agent/1"],
            &["kid", "ip"],
        );
        refused(
            &raised(Some("customer_id"), "c123", None),
            None,
            "no indicator a scope can use (customer_id=\"c123\"",
        );
        // The state-cap alert: its group is a rule id.
        refused(
            &raised(Some(""), "haechi.read.network_customers_10m", None),
            None,
            "group_key",
        );
        refused(
            &raised(Some(""), "", None),
            None,
            "no group and no user agent",
        );
    }

    #[test]
    fn older_events_take_the_group_fields_from_the_rule() {
        let alert = raised(None, "203.0.113.9", None);
        check(&alert, Some(&["ip"][..]), &["ip=203.0.113.9"], &[]);
        let source = alert_source(&alert, Some(&["ip".to_string()])).unwrap();
        assert_eq!(source.group_by_from, GroupByOrigin::Rule);
        refused(&alert, None, "no loaded rule has the id \"t.rule\"");
        // Recorded names win over the rule's.
        check(
            &raised(Some("kid"), "k-1", None),
            Some(&["ip"][..]),
            &["kid=k-1"],
            &[],
        );
    }

    #[test]
    fn group_keys_that_do_not_fit_their_fields_are_refused() {
        refused(
            &raised(Some("ip,principal"), "203.0.113.9", None),
            None,
            "does not start with ip=",
        );
        refused(
            &raised(Some("ip,principal"), "ip=203.0.113.9 kid=k", None),
            None,
            "has no principal=",
        );
    }

    #[test]
    fn alert_ids_name_the_raising_seq() {
        assert_eq!(
            RaisedAlert::raising_seq("haechi.token.forged/1234"),
            Some(1234)
        );
        assert_eq!(
            RaisedAlert::raising_seq("engine.state_cap.t.rule/7"),
            Some(7)
        );
        assert_eq!(RaisedAlert::raising_seq("nonsense"), None);
    }
}
