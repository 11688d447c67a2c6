-- Breach notices: each `haechi notify` run's templates and sender settings (a batch), and
-- the outbox — one row per customer and channel, its facts (field names, times), its state
-- and, once a worker sealed it, its code. No personal data and no text: texts are rendered
-- from the batch, recipients appear as keyed tags.
CREATE TABLE notice_batches (
    id TEXT COLLATE "C" PRIMARY KEY,
    incident_id TEXT COLLATE "C" NOT NULL,
    created_at BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE TABLE notices (
    id TEXT COLLATE "C" PRIMARY KEY,
    batch_id TEXT COLLATE "C" NOT NULL,
    incident_id TEXT COLLATE "C" NOT NULL,
    customer_id TEXT COLLATE "C" NOT NULL,
    channel TEXT NOT NULL,
    fields TEXT NOT NULL,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    state TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_attempt_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    sent_at BIGINT,
    last_error TEXT,
    code TEXT COLLATE "C",
    recipient_tag TEXT,
    body_digest TEXT,
    sealed_at BIGINT
);
CREATE INDEX notices_due ON notices (next_attempt_at) WHERE state IN ('queued', 'sending');
CREATE INDEX notices_by_code ON notices (code) WHERE code IS NOT NULL;
CREATE INDEX notices_by_customer ON notices (customer_id);
