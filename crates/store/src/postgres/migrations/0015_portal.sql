-- The portal: a customer's own exposures are found by customer id; incidents' official
-- statements (signed, versioned), every published version kept.
CREATE INDEX incident_customers_by_customer ON incident_customers (customer_id);
CREATE TABLE incident_statements (
    incident_id TEXT COLLATE "C" NOT NULL,
    version BIGINT NOT NULL CHECK (version > 0),
    published_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (incident_id, version)
);
