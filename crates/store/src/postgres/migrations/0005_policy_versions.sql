-- The access policy replaced through the API, every version kept (the newest one is in
-- force), as the embedded store keeps `policy.d/<version>.toml` beside `policy.toml`.
CREATE TABLE policy_versions (
    version BIGINT PRIMARY KEY CHECK (version > 0),
    digest TEXT NOT NULL,
    text TEXT NOT NULL
);
