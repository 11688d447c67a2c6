-- Services' budgets of distinct customers, shared by every node of a cluster: one row per
-- (principal, class, customer) first read in the current window. Charged under a per-budget
-- advisory lock (crates/store/src/postgres/budgets.rs), so concurrent charges from many nodes
-- are exact. Customer ids only, never personal data.
CREATE TABLE distinct_reads (
    principal TEXT COLLATE "C" NOT NULL,
    class TEXT NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    first_read_at BIGINT NOT NULL,
    PRIMARY KEY (principal, class, customer_id)
);
CREATE INDEX distinct_reads_age ON distinct_reads (principal, class, first_read_at);
