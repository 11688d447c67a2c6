-- The token authority (the same tables as SQLite's migration 1). Times are microseconds since
-- the Unix epoch (BIGINT), as in SQLite, so a value moved between the stores is the same
-- number. Identifier columns compare bytewise (COLLATE "C"), as SQLite's TEXT does, so every
-- ORDER BY and every `>` of a keyset page agree across the two stores.
CREATE TABLE signing_keys (
    kid TEXT COLLATE "C" PRIMARY KEY,
    algorithm TEXT NOT NULL,
    state TEXT NOT NULL,
    origin TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    activated_at BIGINT,
    retiring_at BIGINT,
    verify_until BIGINT,
    ended_at BIGINT,
    wrapped_private_key BYTEA NOT NULL
);
CREATE TABLE secrets (
    name TEXT COLLATE "C" PRIMARY KEY,
    wrapped BYTEA NOT NULL
);
CREATE TABLE sessions (
    sid TEXT COLLATE "C" PRIMARY KEY,
    principal TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT,
    revoke_reason TEXT
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
-- One principal's live sessions (ending an erased customer's sessions, suspensions) without
-- reading every session of the cluster.
CREATE INDEX sessions_live_principal ON sessions (principal) WHERE revoked_at IS NULL;
CREATE TABLE issued_tokens (
    token_hash BYTEA PRIMARY KEY,
    jti TEXT COLLATE "C" NOT NULL,
    sid TEXT COLLATE "C" NOT NULL,
    kid TEXT COLLATE "C" NOT NULL,
    principal TEXT COLLATE "C" NOT NULL,
    scope TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX issued_tokens_kid ON issued_tokens (kid, expires_at);
CREATE INDEX issued_tokens_expiry ON issued_tokens (expires_at);
-- SQLite scans for a jti (only asked for a well-signed token missing from the ledger). A
-- cluster's ledger is the sum of every node's, and a flood of re-spelled tokens would make
-- each of those scans a full one, so the lookup gets its index here.
CREATE INDEX issued_tokens_jti ON issued_tokens (jti);
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    sid TEXT COLLATE "C" NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at BIGINT
);
CREATE INDEX refresh_tokens_expiry ON refresh_tokens (expires_at);
CREATE TABLE accounts (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    password_hash TEXT,
    created_at BIGINT NOT NULL
);
CREATE TABLE account_logins (
    login_hash BYTEA PRIMARY KEY,
    customer_id TEXT COLLATE "C" NOT NULL REFERENCES accounts (customer_id) ON DELETE CASCADE
);
CREATE INDEX account_logins_customer ON account_logins (customer_id);
CREATE TABLE clients (
    client_id TEXT COLLATE "C" PRIMARY KEY,
    principal TEXT COLLATE "C" NOT NULL,
    secret_hash BYTEA NOT NULL,
    scopes TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    suspended_at BIGINT
);
