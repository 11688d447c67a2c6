-- The cluster's change log: every shared decision (a revocation, a key's new state, a block,
-- a suspension, a new policy) is appended here in the transaction that makes it. Positions
-- are taken under an advisory lock held to commit, so they become visible in commit order
-- (crates/store/src/postgres/changes.rs). Entries name ids, never personal data.
CREATE TABLE haechi_changes (
    position BIGINT PRIMARY KEY,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    recorded_at BIGINT NOT NULL
);
CREATE INDEX haechi_changes_recorded ON haechi_changes (recorded_at);
