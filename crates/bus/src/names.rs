//! Names on the bus: the stream, the subjects each node writes to, message ids, and the NATS
//! address as it may appear in logs and errors (without credentials).
//!
//! ```text
//! stream   <prefix, dots as _>_audit     subjects <prefix>.audit.>
//! records      <prefix>.audit.<node>.records       one message per record, id <node>:<seq>
//! checkpoints  <prefix>.audit.<node>.checkpoints   one per signed checkpoint, id <node>:checkpoint:<seq>
//! ```

use std::fmt;

use crate::Error;

/// The longest node id accepted: it is part of every subject and message id.
const MAX_NODE_ID: usize = 64;

/// A node's name in the cluster: one NATS subject token of letters, digits, `-` and `_`. Every
/// node writes its own hash chain under it, so two processes must never share one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(String);

impl NodeId {
    /// Checks `id` and makes it a node id.
    pub fn new(id: &str) -> Result<Self, Error> {
        if id.is_empty() || id.len() > MAX_NODE_ID {
            return Err(Error::config(format!(
                "a node id has 1 to {MAX_NODE_ID} characters, not {}",
                id.len()
            )));
        }
        if !id.bytes().all(is_token_byte) {
            return Err(Error::config(format!(
                "node id {id:?} may hold only letters, digits, '-' and '_'"
            )));
        }
        Ok(NodeId(id.to_string()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_'
}

/// Which of a node's subjects a message is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `<prefix>.audit.<node>.records`
    Records,
    /// `<prefix>.audit.<node>.checkpoints`
    Checkpoints,
}

/// The stream and subject names under one prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Names {
    prefix: String,
    stream: String,
}

impl Names {
    /// Names under `prefix`: dot-separated tokens of letters, digits, `-` and `_`.
    pub fn new(prefix: &str) -> Result<Self, Error> {
        let valid = !prefix.is_empty()
            && prefix
                .split('.')
                .all(|token| !token.is_empty() && token.bytes().all(is_token_byte));
        if !valid {
            return Err(Error::config(format!(
                "bus prefix {prefix:?} must be dot-separated tokens of letters, digits, '-' and '_'"
            )));
        }
        Ok(Names {
            prefix: prefix.to_string(),
            stream: format!("{}_audit", prefix.replace('.', "_")),
        })
    }

    /// The subject prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The audit stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Every subject of the audit stream: `<prefix>.audit.>`.
    pub fn all_subjects(&self) -> String {
        format!("{}.audit.>", self.prefix)
    }

    /// Every node's records: `<prefix>.audit.*.records`.
    pub fn every_node(&self, part: Part) -> String {
        format!("{}.audit.*.{}", self.prefix, part_name(part))
    }

    /// One node's subject for `part`.
    pub fn subject(&self, node: &NodeId, part: Part) -> String {
        format!("{}.audit.{node}.{}", self.prefix, part_name(part))
    }

    /// The node and part of `subject`, or `None` for a subject where no audit message belongs.
    pub fn parse(&self, subject: &str) -> Option<(NodeId, Part)> {
        let rest = subject
            .strip_prefix(&self.prefix)?
            .strip_prefix(".audit.")?;
        let (node, part) = rest.split_once('.')?;
        let part = match part {
            "records" => Part::Records,
            "checkpoints" => Part::Checkpoints,
            _ => return None,
        };
        Some((NodeId::new(node).ok()?, part))
    }
}

fn part_name(part: Part) -> &'static str {
    match part {
        Part::Records => "records",
        Part::Checkpoints => "checkpoints",
    }
}

/// The JetStream message id of a node's record: duplicates within the stream's window are
/// dropped by the server, so republishing is safe.
pub(crate) fn record_message_id(node: &NodeId, seq: u64) -> String {
    format!("{node}:{seq}")
}

/// The JetStream message id of a node's checkpoint at `seq`.
pub(crate) fn checkpoint_message_id(node: &NodeId, seq: u64) -> String {
    format!("{node}:checkpoint:{seq}")
}

/// `url` (one address or a comma-separated list) without any user, password or token, for
/// logs and errors: `nats://alice:secret@host:4222` becomes `nats://***@host:4222`.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|address| {
            let address = address.trim();
            let (scheme, rest) = match address.split_once("://") {
                Some((scheme, rest)) => (Some(scheme), rest),
                None => (None, address),
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, tail) = rest.split_at(authority_end);
            let host = match authority.rsplit_once('@') {
                Some((_, host)) => format!("***@{host}"),
                None => authority.to_string(),
            };
            match scheme {
                Some(scheme) => format!("{scheme}://{host}{tail}"),
                None => format!("{host}{tail}"),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails loudly on the first surprise"
)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_through_parse() {
        let names = Names::new("haechi.prod").unwrap();
        assert_eq!(names.stream(), "haechi_prod_audit");
        let node = NodeId::new("api-1").unwrap();
        let subject = names.subject(&node, Part::Records);
        assert_eq!(subject, "haechi.prod.audit.api-1.records");
        assert_eq!(names.parse(&subject), Some((node.clone(), Part::Records)));
        assert_eq!(
            names.parse(&names.subject(&node, Part::Checkpoints)),
            Some((node, Part::Checkpoints))
        );
        for foreign in [
            "haechi.prod.audit.api-1.other",
            "haechi.prod.audit.api-1",
            "haechi.prod.audit.a.b.records",
            "other.audit.api-1.records",
        ] {
            assert_eq!(names.parse(foreign), None, "{foreign}");
        }
    }

    #[test]
    fn bad_prefixes_and_node_ids_are_refused() {
        for prefix in ["", ".", "a..b", "a.*", "a b", "a.>"] {
            assert!(Names::new(prefix).is_err(), "{prefix:?}");
        }
        for node in ["", "a.b", "a:b", "*", ">", "é", &"x".repeat(65)] {
            assert!(NodeId::new(node).is_err(), "{node:?}");
        }
        assert!(NodeId::new("node_1-A").is_ok());
    }

    #[test]
    fn credentials_never_survive_redaction() {
        for (url, shown) in [
            ("nats://alice:secret@h:4222", "nats://***@h:4222"),
            ("nats://token@h", "nats://***@h"),
            ("nats://h:4222", "nats://h:4222"),
            ("a:b@h:1,nats://c:d@i:2/x", "***@h:1,nats://***@i:2/x"),
        ] {
            let redacted = redact_url(url);
            assert_eq!(redacted, shown);
            assert!(!redacted.contains("secret") && !redacted.contains("token@"));
        }
    }
}
