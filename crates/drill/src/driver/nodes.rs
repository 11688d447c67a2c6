//! The servers a drill plays against: one server, or a cluster — its API nodes, over which
//! the traffic goes round robin, and its detection nodes, whose clocks move (and settle)
//! before the API nodes' on every move (`clock.rs`).

use std::sync::atomic::{AtomicUsize, Ordering};

/// One server, or the nodes of a cluster.
#[derive(Debug)]
pub(crate) struct Nodes {
    /// Base URLs of the API nodes (one for a single server).
    api: Vec<String>,
    /// Base URLs of the cluster's detection nodes (none for a single server).
    detection: Vec<String>,
    /// The next API node's index (round robin).
    next: AtomicUsize,
    /// The detection node that settled the last clock move: its desk holds the alerts.
    pub(crate) alerts_from: Option<String>,
}

impl Nodes {
    /// A single server at `base`.
    pub(crate) fn single(base: &str) -> Nodes {
        Nodes::new(&[base.to_string()], &[])
    }

    /// A cluster's (or, without detection nodes, one server's) nodes.
    pub(crate) fn new(api: &[String], detection: &[String]) -> Nodes {
        let trim = |list: &[String]| -> Vec<String> {
            list.iter()
                .map(|base| base.trim_end_matches('/').to_string())
                .collect()
        };
        Nodes {
            api: trim(api),
            detection: trim(detection),
            next: AtomicUsize::new(0),
            alerts_from: None,
        }
    }

    /// Whether this is a cluster (its detection nodes are named).
    pub(crate) fn is_cluster(&self) -> bool {
        !self.detection.is_empty()
    }

    /// The API nodes.
    pub(crate) fn api(&self) -> &[String] {
        &self.api
    }

    /// The detection nodes.
    pub(crate) fn detection(&self) -> &[String] {
        &self.detection
    }

    /// The URL of `path` on the next API node, round robin: a cluster drill's every request
    /// may land on any node, as behind a load balancer.
    pub(crate) fn url(&self, path: &str) -> String {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.api.len().max(1);
        let base = self.api.get(index).map_or("", String::as_str);
        format!("{base}{path}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_go_round_robin_over_the_api_nodes() {
        let nodes = Nodes::new(
            &["http://a/".into(), "http://b".into(), "http://c".into()],
            &["http://d".into()],
        );
        let urls: Vec<String> = (0..4).map(|_| nodes.url("/x")).collect();
        assert_eq!(
            urls,
            ["http://a/x", "http://b/x", "http://c/x", "http://a/x"]
        );
        assert!(nodes.is_cluster());
        assert!(!Nodes::single("http://a").is_cluster());
    }
}
