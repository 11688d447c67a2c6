//! Indicators of compromise: what an investigator knows about an attacker, checked as they
//! are added, from flags or from files.

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use haechi_events::Principal;
use ipnet::IpNet;
use serde::Serialize;

use crate::Error;
use crate::error::truncate;

/// Longest indicator value accepted (ids are far shorter; user agents are cut at 256 bytes by
/// the server).
const MAX_VALUE_LEN: usize = 1024;

/// The kinds of indicator a scope takes, by the audit column each one selects on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKind {
    /// A client address or network (`ip`, `ip_bin`).
    Ip,
    /// A signing-key id (`kid`).
    Kid,
    /// An access-token id (`jti`).
    Jti,
    /// A session id (`sid`).
    Sid,
    /// A principal: `customer:ID`, `service:NAME`, `admin:NAME`, `anonymous` (`principal`).
    Principal,
    /// An exact client `User-Agent` (`user_agent`).
    UserAgent,
}

impl IndicatorKind {
    /// Every kind, in the order reports list them.
    pub const ALL: [IndicatorKind; 6] = [
        IndicatorKind::Ip,
        IndicatorKind::Kid,
        IndicatorKind::Jti,
        IndicatorKind::Sid,
        IndicatorKind::Principal,
        IndicatorKind::UserAgent,
    ];

    /// The kind's name in indicator files and reports.
    pub fn as_str(self) -> &'static str {
        match self {
            IndicatorKind::Ip => "ip",
            IndicatorKind::Kid => "kid",
            IndicatorKind::Jti => "jti",
            IndicatorKind::Sid => "sid",
            IndicatorKind::Principal => "principal",
            IndicatorKind::UserAgent => "user_agent",
        }
    }

    /// Parses a kind's name (`user-agent` is accepted for `user_agent`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = if text == "user-agent" {
            "user_agent"
        } else {
            text
        };
        IndicatorKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

impl fmt::Display for IndicatorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an investigator knows about an attacker. Every set may be empty; an event matches a
/// non-empty set when its column equals one of the values (an address: lies in one of the
/// networks).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Indicators {
    /// Client networks; a single address is a /32 or /128. Kept in the order added, without
    /// duplicates.
    #[serde(serialize_with = "networks_as_text")]
    pub networks: Vec<IpNet>,
    /// Signing-key ids.
    pub kids: BTreeSet<String>,
    /// Access-token ids.
    pub jtis: BTreeSet<String>,
    /// Session ids.
    pub sids: BTreeSet<String>,
    /// Principals in their text form (`customer:ID` …).
    pub principals: BTreeSet<String>,
    /// Exact `User-Agent` values.
    pub user_agents: BTreeSet<String>,
}

impl Indicators {
    /// Adds one indicator given as text, checking it: a network must parse as an address or
    /// CIDR (`203.0.113.7`, `203.0.113.0/24`, `2001:db8::/32`), a principal must be one, and
    /// no value may be empty or hold control characters.
    pub fn add(&mut self, kind: IndicatorKind, value: &str) -> Result<(), Error> {
        let what = || format!("{kind} {:?}", truncate(value, 80));
        let value = if kind == IndicatorKind::UserAgent {
            value
        } else {
            value.trim()
        };
        if value.is_empty() {
            return Err(Error::bad_input(what(), "empty value"));
        }
        if value.len() > MAX_VALUE_LEN {
            return Err(Error::bad_input(
                what(),
                format!("longer than {MAX_VALUE_LEN} bytes"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(Error::bad_input(what(), "holds control characters"));
        }
        match kind {
            IndicatorKind::Ip => {
                let network =
                    parse_network(value).map_err(|reason| Error::bad_input(what(), reason))?;
                if !self.networks.contains(&network) {
                    self.networks.push(network);
                }
            }
            IndicatorKind::Kid | IndicatorKind::Jti | IndicatorKind::Sid => {
                if value.chars().any(char::is_whitespace) {
                    return Err(Error::bad_input(what(), "ids hold no spaces"));
                }
                let set = match kind {
                    IndicatorKind::Kid => &mut self.kids,
                    IndicatorKind::Jti => &mut self.jtis,
                    _ => &mut self.sids,
                };
                set.insert(value.to_string());
            }
            IndicatorKind::Principal => {
                let principal: Principal = value.parse().map_err(|_| {
                    Error::bad_input(
                        what(),
                        "not a principal (customer:ID, service:NAME, admin:NAME or anonymous)",
                    )
                })?;
                self.principals.insert(principal.to_string());
            }
            IndicatorKind::UserAgent => {
                self.user_agents.insert(value.to_string());
            }
        }
        Ok(())
    }

    /// Whether no indicator is set.
    pub fn is_empty(&self) -> bool {
        self.kinds().is_empty()
    }

    /// The kinds with at least one value.
    pub fn kinds(&self) -> Vec<IndicatorKind> {
        IndicatorKind::ALL
            .into_iter()
            .filter(|kind| match kind {
                IndicatorKind::Ip => !self.networks.is_empty(),
                IndicatorKind::Kid => !self.kids.is_empty(),
                IndicatorKind::Jti => !self.jtis.is_empty(),
                IndicatorKind::Sid => !self.sids.is_empty(),
                IndicatorKind::Principal => !self.principals.is_empty(),
                IndicatorKind::UserAgent => !self.user_agents.is_empty(),
            })
            .collect()
    }
}

fn networks_as_text<S: serde::Serializer>(
    networks: &[IpNet],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(networks.iter().map(ToString::to_string))
}

/// Parses an address or a network. A network with host bits set (`203.0.113.7/24`) is
/// refused: it usually means a typo, and silently widening it would change the scope.
fn parse_network(text: &str) -> Result<IpNet, String> {
    if text.contains('/') {
        let network: IpNet = text
            .parse()
            .map_err(|_| "not an address or CIDR network".to_string())?;
        if network.trunc() != network {
            return Err(format!("host bits set; did you mean {}?", network.trunc()));
        }
        Ok(network)
    } else {
        let address: IpAddr = text
            .parse()
            .map_err(|_| "not an address or CIDR network".to_string())?;
        Ok(IpNet::from(address))
    }
}

/// Parses an indicator file: one indicator per line as `KIND VALUE` (`ip 203.0.113.0/24`,
/// `kid …`, `jti …`, `sid …`, `principal customer:…`, `user_agent Mozilla/5.0 …`); blank lines
/// and lines starting with `#` are skipped. An unknown kind is an error naming the line.
pub fn parse_indicator_file(
    text: &str,
    source: &str,
    indicators: &mut Indicators,
) -> Result<usize, Error> {
    let mut added = 0;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (kind, value) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        let Some(kind) = IndicatorKind::parse(kind) else {
            return Err(Error::bad_input(
                format!("{source}:{}", index + 1),
                format!(
                    "unknown indicator type {:?} (known: ip, kid, jti, sid, principal, user_agent)",
                    truncate(kind, 40)
                ),
            ));
        };
        let value = value
            .trim_start_matches([' ', '\t'])
            .trim_end_matches(['\r', '\n']);
        indicators.add(kind, value).map_err(|error| match error {
            Error::BadInput { what, reason } => {
                Error::bad_input(format!("{source}:{}: {what}", index + 1), reason)
            }
            other => other,
        })?;
        added += 1;
    }
    Ok(added)
}

/// Parses a file of values of one kind, one per line (blank lines and `#` comments skipped).
pub(crate) fn parse_value_file(
    text: &str,
    source: &str,
    kind: IndicatorKind,
    indicators: &mut Indicators,
) -> Result<usize, Error> {
    let mut added = 0;
    for (index, line) in text.lines().enumerate() {
        let value = line.trim();
        if value.is_empty() || value.starts_with('#') {
            continue;
        }
        indicators.add(kind, value).map_err(|error| match error {
            Error::BadInput { what, reason } => {
                Error::bad_input(format!("{source}:{}: {what}", index + 1), reason)
            }
            other => other,
        })?;
        added += 1;
    }
    Ok(added)
}

impl Indicators {
    /// Adds every value of a file holding one value of `kind` per line (a `--jti-file`).
    pub fn add_file(
        &mut self,
        kind: IndicatorKind,
        text: &str,
        source: &str,
    ) -> Result<usize, Error> {
        parse_value_file(text, source, kind, self)
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

    fn check_add(kind: IndicatorKind, value: &str, ok: bool) {
        let mut indicators = Indicators::default();
        assert_eq!(indicators.add(kind, value).is_ok(), ok, "{kind} {value:?}");
    }

    #[test]
    fn indicator_values_are_checked() {
        use IndicatorKind::*;
        check_add(Ip, "203.0.113.7", true);
        check_add(Ip, "203.0.113.0/24", true);
        check_add(Ip, "2001:db8::/32", true);
        check_add(Ip, "203.0.113.7/24", false);
        check_add(Ip, "203.0.113/24", false);
        check_add(Ip, "10.0.0.0/33", false);
        check_add(Ip, "", false);
        check_add(Kid, "abc def", false);
        check_add(Jti, "0123", true);
        check_add(Principal, "customer:c0123", true);
        check_add(Principal, "root", false);
        check_add(UserAgent, "python-requests/2.31", true);
        check_add(UserAgent, "bad\u{7}agent", false);
    }

    #[test]
    fn indicator_files_name_unknown_kinds() {
        let mut indicators = Indicators::default();
        let text = "# attacker\nip 203.0.113.0/24\nkid k1\nuser_agent Mozilla/5.0 (X11)\n";
        assert_eq!(
            parse_indicator_file(text, "iocs", &mut indicators).unwrap(),
            3
        );
        assert!(indicators.user_agents.contains("Mozilla/5.0 (X11)"));
        let error = parse_indicator_file("domain evil.example\n", "iocs", &mut indicators)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("iocs:1") && error.contains("unknown indicator type"),
            "{error}"
        );
    }
}
