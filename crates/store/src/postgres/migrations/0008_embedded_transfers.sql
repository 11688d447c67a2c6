-- Embedded deployments moved into this database by `haechi migrate --from` (docs/migration.md):
-- which one (its identity: the hash of its audit chain's first record), from where, when, and
-- where its audit history is now. A move recorded here may be resumed or repeated; a database
-- holding another deployment's move, or Haechi data without such a row, is refused.
CREATE TABLE embedded_transfers (
    source_id TEXT COLLATE "C" PRIMARY KEY,
    source_dir TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    finished_at BIGINT,
    -- Where the audit history is: the stream and node id it was republished under, or the
    -- embedded log's directory when it was not moved.
    audit_location TEXT,
    audit_records BIGINT,
    -- The chain's last record hash and its last signed checkpoint (the 128-byte entry).
    audit_head BYTEA,
    audit_checkpoint BYTEA
);
