//! Where an alert's evidence events are read: this node's live log (one node), or the
//! cluster's audit stream (an API node, whose own log holds only its own requests, while an
//! alert names stream sequences).

use std::sync::Arc;

use async_trait::async_trait;
use haechi_events::SecurityEvent;

/// Reads audit records by the sequence numbers an alert keeps as its evidence.
#[async_trait]
pub trait EvidenceReader: Send + Sync + std::fmt::Debug {
    /// The events at `seqs` that can be read, with their sequence numbers; those no longer (or
    /// not yet) held are left out. The error is for the server log.
    async fn events(&self, seqs: Vec<u64>) -> Result<Vec<(u64, SecurityEvent)>, String>;
}

/// One node: the alert's seqs are this log's.
#[derive(Debug)]
pub struct LocalLog(pub Arc<haechi_audit::AuditLog>);

#[async_trait]
impl EvidenceReader for LocalLog {
    async fn events(&self, seqs: Vec<u64>) -> Result<Vec<(u64, SecurityEvent)>, String> {
        let records = self
            .0
            .records_at(seqs)
            .await
            .map_err(|error| error.to_string())?;
        Ok(records
            .into_iter()
            .map(|record| (record.seq, record.event))
            .collect())
    }
}

/// A cluster node: the alert's seqs are the audit stream's (direct gets, any replica).
#[derive(Debug)]
pub struct ClusterStream(pub haechi_bus::Bus);

#[async_trait]
impl EvidenceReader for ClusterStream {
    async fn events(&self, mut seqs: Vec<u64>) -> Result<Vec<(u64, SecurityEvent)>, String> {
        seqs.sort_unstable();
        seqs.dedup();
        let records = self
            .0
            .records_at(&seqs)
            .await
            .map_err(|error| error.to_string())?;
        Ok(records
            .into_iter()
            .map(|(sequence, record)| (sequence, record.event))
            .collect())
    }
}
