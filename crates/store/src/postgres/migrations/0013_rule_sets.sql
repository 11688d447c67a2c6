-- The detection rule set administrators put through the API (PUT /v1/admin/rules): every
-- version kept (the newest ones), the newest in force; its files as JSON. The detection node
-- that leads asks for the newest version every second.
CREATE TABLE rule_sets (
    version BIGINT PRIMARY KEY CHECK (version > 0),
    digest TEXT NOT NULL,
    files TEXT NOT NULL
);
