//! Ground truth: what the attacker actually received, judged from the HTTP responses it got
//! against the records the drill itself generated — never from Haechi's own logs — and what
//! the drill saw of Haechi's alerts.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use haechi_events::Timestamp;
use haechi_korean::GeneratedCustomer;
use serde::Serialize;
use serde_json::Value;

/// The personal-data fields a response can disclose.
pub const FIELDS: &[&str] = &[
    "name",
    "email",
    "phone",
    "birth_date",
    "customs_code",
    "addresses",
];

/// What one response disclosed about one customer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Disclosure {
    /// Fields received exactly as the customer's data.
    pub plaintext: BTreeSet<&'static str>,
    /// Fields received, but masked.
    pub masked: BTreeSet<&'static str>,
}

impl Disclosure {
    /// Whether the response disclosed anything.
    pub fn is_empty(&self) -> bool {
        self.plaintext.is_empty() && self.masked.is_empty()
    }

    /// Every field received, masked or not.
    pub fn fields(&self) -> BTreeSet<&'static str> {
        self.plaintext.union(&self.masked).copied().collect()
    }
}

/// Compares a response body with the customer's generated record: a value equal to the
/// customer's (e-mails case-insensitively, phones by digits) is plaintext; any other value
/// under a personal-data key is that field, masked.
pub fn judge(known: &GeneratedCustomer, body: &Value) -> Disclosure {
    let mut disclosure = Disclosure::default();
    walk(known, body, None, false, &mut disclosure);
    disclosure.masked = disclosure
        .masked
        .difference(&disclosure.plaintext)
        .copied()
        .collect();
    disclosure
}

fn walk(
    known: &GeneratedCustomer,
    value: &Value,
    key: Option<&str>,
    in_address: bool,
    disclosure: &mut Disclosure,
) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map {
                walk(known, inner, Some(name), in_address, disclosure);
            }
        }
        Value::Array(items) => {
            let in_address = in_address || key == Some("addresses");
            for item in items {
                walk(known, item, key, in_address, disclosure);
            }
        }
        Value::String(text) => {
            let Some(key) = key else { return };
            if in_address {
                let fields = [
                    "recipient",
                    "phone",
                    "road_address",
                    "detail",
                    "postal_code",
                ];
                if !fields.contains(&key) {
                    return;
                }
                let plaintext = known.addresses.iter().any(|address| match key {
                    "recipient" => text == &address.recipient,
                    "phone" => digits(text) == digits(&address.phone),
                    "road_address" => text == &address.road_address,
                    "detail" => text == &address.detail,
                    _ => text == &address.postal_code,
                });
                if plaintext {
                    disclosure.plaintext.insert("addresses");
                } else {
                    disclosure.masked.insert("addresses");
                }
                return;
            }
            let (field, plaintext) = match key {
                "name" => ("name", text == &known.name),
                "email" => ("email", text.eq_ignore_ascii_case(&known.email)),
                "phone" => ("phone", digits(text) == digits(&known.phone)),
                "birth_date" => ("birth_date", text == &known.birth_date),
                "customs_code" => ("customs_code", text == &known.customs_code),
                _ => return,
            };
            if plaintext {
                disclosure.plaintext.insert(field);
            } else {
                disclosure.masked.insert(field);
            }
        }
        _ => {}
    }
}

fn digits(text: &str) -> String {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    // +82 10… and 010… are one number.
    match digits.strip_prefix("82") {
        Some(rest) if !rest.starts_with('0') => format!("0{rest}"),
        _ => digits,
    }
}

/// One time the attacker received a customer's data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Receipt {
    /// Whose.
    pub customer_id: String,
    /// When (simulated).
    pub at: Timestamp,
    /// What.
    pub disclosure: Disclosure,
}

/// An alert as the drill saw it on the admin API.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlertSeen {
    /// Its id.
    pub id: String,
    /// Its rule.
    pub rule_id: String,
    /// Severity.
    pub severity: String,
    /// Title.
    pub title: String,
    /// The group it is about.
    pub group_key: String,
    /// The raising event's context fields (ip, principal, user agent, …).
    pub context: BTreeMap<String, String>,
    /// When the drill first saw it (simulated): the settle that surfaced it.
    pub seen_at: Timestamp,
    /// Its actions, as `action (disposition)`.
    pub actions: Vec<String>,
    /// Whether any action was carried out (not a dry run, not allowlisted or capped).
    pub enforced: bool,
}

/// What identifies the attacker, for judging alerts: the networks, user agent and sessions it
/// used, all chosen by the drill and never used by legitimate traffic.
#[derive(Debug, Clone, Default)]
pub struct AttackerTraits {
    /// Its networks.
    pub networks: BTreeSet<IpAddr>,
    /// Its user agent.
    pub user_agent: String,
    /// Session ids it used (minted or obtained).
    pub sessions: BTreeSet<String>,
}

impl AttackerTraits {
    /// Whether `alert` is about the attacker: its context names an attacker network, session
    /// or user agent.
    pub fn implicates(&self, alert: &AlertSeen) -> bool {
        let context = &alert.context;
        let by_network = context
            .get("ip")
            .and_then(|ip| ip.parse::<IpAddr>().ok())
            .is_some_and(|ip| self.networks.contains(&ip));
        let by_agent = context
            .get("user_agent")
            .is_some_and(|agent| *agent == self.user_agent);
        let by_session = context
            .get("sid")
            .is_some_and(|sid| self.sessions.contains(sid));
        by_network || by_agent || by_session
    }
}

#[cfg(test)]
mod tests {
    use haechi_korean::CustomerGenerator;
    use serde_json::json;

    use super::*;

    #[test]
    fn plaintext_masked_and_absent_fields_are_told_apart() {
        let known = CustomerGenerator::new(1).customer(0);
        let phone_spaced = format!("+82 {}", &known.phone[1..]);
        let body = json!({
            "id": "c1",
            "name": known.name,
            "email": known.email.to_uppercase(),
            "phone": phone_spaced,
            "customs_code": "P*********012",
            "addresses": [{
                "recipient": "홍*동",
                "road_address": "서울특별시 강남구 테헤란로",
                "postal_code": "06***",
            }],
        });
        let disclosure = judge(&known, &body);
        assert_eq!(
            disclosure.plaintext,
            BTreeSet::from(["name", "email", "phone"])
        );
        assert_eq!(
            disclosure.masked,
            BTreeSet::from(["addresses", "customs_code"])
        );
        assert!(judge(&known, &json!({"error": "forged", "message": "no"})).is_empty());
    }

    #[test]
    fn an_address_book_in_plaintext_is_the_addresses_field() {
        let known = CustomerGenerator::new(3).customer(5);
        let address = &known.addresses[0];
        let body = json!({ "addresses": [{
            "recipient": address.recipient,
            "phone": address.phone,
            "road_address": address.road_address,
            "postal_code": address.postal_code,
        }]});
        let disclosure = judge(&known, &body);
        assert_eq!(disclosure.plaintext, BTreeSet::from(["addresses"]));
        assert!(disclosure.masked.is_empty());
    }

    #[test]
    fn alerts_are_judged_by_what_only_the_attacker_used() {
        let traits = AttackerTraits {
            networks: BTreeSet::from(["45.1.2.3".parse().unwrap()]),
            user_agent: "curl/8.5.0".into(),
            sessions: BTreeSet::new(),
        };
        let mut alert = AlertSeen {
            id: "a".into(),
            rule_id: "r".into(),
            severity: "high".into(),
            title: "t".into(),
            group_key: String::new(),
            context: BTreeMap::from([("ip".to_string(), "10.20.0.1".to_string())]),
            seen_at: Timestamp::from_secs(0),
            actions: Vec::new(),
            enforced: false,
        };
        assert!(!traits.implicates(&alert));
        alert
            .context
            .insert("user_agent".into(), "curl/8.5.0".into());
        assert!(traits.implicates(&alert));
        alert.context.clear();
        alert.context.insert("ip".into(), "45.1.2.3".into());
        assert!(traits.implicates(&alert));
    }
}
