-- Leak watch: SHA-1 hashes of normalised identifiers known to be exposed, served by range
-- (`prefix` = the hash's first 20 bits). No identifier and no customer id.
CREATE TABLE exposures (
    prefix INTEGER NOT NULL,
    hash BYTEA NOT NULL,
    kind TEXT NOT NULL,
    count BIGINT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    PRIMARY KEY (prefix, hash)
);
