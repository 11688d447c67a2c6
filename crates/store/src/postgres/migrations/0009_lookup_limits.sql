-- The lookup-miss limit and the lookup statistics, shared by every node of a cluster, so that
-- an enumerator spreading its blind-index lookups over many nodes gets one allowance
-- (crates/store/src/postgres/lookups.rs). Principals are service names; no personal data.
-- Times are microseconds since the epoch from the node's clock, as the domain gives them.

-- Lookups that found nobody in the last minute, and lookups admitted but not yet settled
-- (each reserves a miss until it is known to have found someone).
CREATE TABLE lookup_misses (
    principal TEXT COLLATE "C" NOT NULL,
    missed_at BIGINT NOT NULL
);
CREATE INDEX lookup_misses_principal ON lookup_misses (principal, missed_at);

-- Lookups and misses per principal per ten seconds, over ten minutes, for the lookup rules.
CREATE TABLE lookup_buckets (
    principal TEXT COLLATE "C" NOT NULL,
    bucket BIGINT NOT NULL,
    lookups INTEGER NOT NULL,
    misses INTEGER NOT NULL,
    PRIMARY KEY (principal, bucket)
);

-- Admits a lookup of `who` at `admitted_at` if fewer than `miss_limit` misses (and
-- reservations) of it are younger than `minute_start`, reserving a miss; NULL when admitted.
-- Otherwise returns the time of the miss whose ageing out frees a place (the `miss_limit`-th
-- newest). Exact across nodes: the admissions of one principal are serialised by a
-- transaction-scoped advisory lock ("Hlku", and a hash of the principal; a collision only
-- makes two principals wait for each other), and a VOLATILE function reads with a fresh
-- snapshot per statement under READ COMMITTED, so after the lock it sees every admission that
-- committed before. Called as one statement in its own transaction: one round trip.
CREATE FUNCTION haechi_admit_lookup(who TEXT, miss_limit INTEGER, minute_start BIGINT,
                                    admitted_at BIGINT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    limiting BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(1215064949, hashtext(who));
    DELETE FROM lookup_misses WHERE principal = who AND missed_at <= minute_start;
    SELECT missed_at INTO limiting FROM lookup_misses WHERE principal = who
     ORDER BY missed_at DESC OFFSET miss_limit - 1 LIMIT 1;
    IF FOUND THEN
        RETURN limiting;
    END IF;
    INSERT INTO lookup_misses (principal, missed_at) VALUES (who, admitted_at);
    RETURN NULL;
END
$$;
