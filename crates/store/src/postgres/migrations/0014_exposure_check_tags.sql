-- The anonymous exposure check (POST /v1/exposure/check): each exposed hash's tag (its
-- truncated PRF output) under the check key named key_id, with the bucket it is served in.
-- Derived data: recomputed from exposures under a new key, the old key's rows then dropped.
CREATE TABLE exposure_check_tags (
    key_id TEXT NOT NULL,
    prefix INTEGER NOT NULL,
    hash BYTEA NOT NULL,
    bucket BIGINT NOT NULL,
    tag BYTEA NOT NULL,
    PRIMARY KEY (key_id, prefix, hash)
);
