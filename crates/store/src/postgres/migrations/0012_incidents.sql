-- Incidents (haechi-incident): the incident as JSON beside the columns listings filter and
-- sort on; the alerts and customers tied to it. Written by the detection node that leads
-- (and by `haechi incident create`), read by every API node.
CREATE TABLE incidents (
    id TEXT COLLATE "C" PRIMARY KEY,
    state TEXT NOT NULL,
    severity TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX incidents_by_activity ON incidents (last_seen);
CREATE TABLE incident_alerts (
    alert_id TEXT COLLATE "C" PRIMARY KEY,
    incident_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX incident_alerts_by_incident ON incident_alerts (incident_id);
CREATE TABLE incident_customers (
    incident_id TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    fields TEXT NOT NULL,
    first_seen BIGINT,
    last_seen BIGINT,
    reads BIGINT NOT NULL,
    PRIMARY KEY (incident_id, customer_id)
);
