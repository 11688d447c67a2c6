-- Detection and response: network blocks (kept after lifting or expiry, for the record),
-- principal suspensions and alert acknowledgements. Block ids are never reused, like SQLite's
-- AUTOINCREMENT.
CREATE TABLE network_blocks (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    network TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    rule_id TEXT,
    alert_id TEXT,
    created_by TEXT NOT NULL,
    lifted_at BIGINT,
    lifted_by TEXT
);
CREATE INDEX network_blocks_active ON network_blocks (expires_at) WHERE lifted_at IS NULL;
CREATE TABLE principal_suspensions (
    principal TEXT COLLATE "C" PRIMARY KEY,
    suspended_at BIGINT NOT NULL,
    reason TEXT NOT NULL,
    rule_id TEXT,
    alert_id TEXT,
    suspended_by TEXT NOT NULL,
    lifted_at BIGINT,
    lifted_by TEXT
);
CREATE TABLE alert_acks (
    alert_id TEXT COLLATE "C" PRIMARY KEY,
    acknowledged_by TEXT NOT NULL,
    acknowledged_at BIGINT NOT NULL,
    note TEXT
);
