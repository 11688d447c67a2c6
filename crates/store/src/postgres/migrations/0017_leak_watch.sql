-- The leak watch's ledger: listing entries fetched, digests of items finished, feeds'
-- validators and matches per source and day (the daily allowance of incidents). Digests,
-- names, addresses and counts: never an item's content. Times in µs since the epoch.
CREATE TABLE leak_watch_fetched (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (source, key)
);
CREATE TABLE leak_watch_digests (
    source TEXT NOT NULL,
    digest TEXT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (source, digest)
);
CREATE TABLE leak_watch_feeds (
    source TEXT PRIMARY KEY,
    etag TEXT,
    last_modified TEXT
);
CREATE TABLE leak_watch_days (
    source TEXT NOT NULL,
    day TEXT NOT NULL,
    matched BIGINT NOT NULL,
    PRIMARY KEY (source, day)
);
CREATE TABLE leak_watch_attempts (
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    failures BIGINT NOT NULL,
    at BIGINT NOT NULL,
    PRIMARY KEY (source, key)
);
CREATE INDEX leak_watch_fetched_by_time ON leak_watch_fetched (at);
CREATE INDEX leak_watch_digests_by_time ON leak_watch_digests (at);
