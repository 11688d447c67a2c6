-- The vault. `record_ref` is the compact record handle (`RecordRef`) SQLite takes from its
-- row id: an identity column, never reused, unchanged when a record is replaced in place.
CREATE TABLE customers (
    customer_id TEXT COLLATE "C" PRIMARY KEY,
    record_ref BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    wrapped_data_key BYTEA NOT NULL,
    key_version BIGINT NOT NULL,
    name BYTEA,
    email BYTEA,
    phone BYTEA,
    birth_date BYTEA,
    customs_code BYTEA,
    addresses BYTEA,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Sealed fields do not compress: skip the attempt when a large one is moved out of line.
ALTER TABLE customers
    ALTER COLUMN addresses SET STORAGE EXTERNAL,
    ALTER COLUMN customs_code SET STORAGE EXTERNAL;
CREATE TABLE blind_index (
    kind TEXT NOT NULL,
    value BIGINT NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE
);
-- Covering: a candidate lookup is answered from the index alone.
CREATE INDEX blind_index_lookup ON blind_index (kind, value) INCLUDE (customer_id);
CREATE INDEX blind_index_customer ON blind_index (customer_id);
CREATE TABLE import_progress (
    source TEXT COLLATE "C" PRIMARY KEY,
    last_line BIGINT NOT NULL
);
