-- The sign-in limits shared by every node of a cluster (crates/store/src/postgres/sign_in.rs):
-- attempts per source network and failed logins per account, so that a password guesser
-- spreading its attempts over many nodes gets one allowance. Subjects are 32-byte keyed
-- hashes (an account's login hash; a keyed hash of a source network), never an address or a
-- login identifier. Rows older than the login window are deleted on use and by the scheduled
-- upkeep.
CREATE TABLE sign_in_attempts (
    counter TEXT NOT NULL,
    subject BYTEA NOT NULL,
    attempted_at BIGINT NOT NULL
);
CREATE INDEX sign_in_attempts_subject ON sign_in_attempts (counter, subject, attempted_at);
CREATE INDEX sign_in_attempts_age ON sign_in_attempts (attempted_at);

-- Reserves one attempt of (`which`, `who`) at `attempted` if fewer than `attempts` of it are
-- younger than `window_start`; NULL when reserved. Otherwise returns the time of the attempt
-- whose ageing out frees a place (the `attempts`-th newest). Exact across nodes: reservations
-- of one subject are serialised by a transaction-scoped advisory lock ("Hsgn", and a hash of
-- counter and subject), taken before anything is read; one statement, one round trip.
CREATE FUNCTION haechi_reserve_sign_in(which TEXT, who BYTEA, attempts INTEGER,
                                       window_start BIGINT, attempted BIGINT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    limiting BIGINT;
BEGIN
    PERFORM pg_advisory_xact_lock(1215522670, hashtext(which || '/' || encode(who, 'hex')));
    DELETE FROM sign_in_attempts
     WHERE counter = which AND subject = who AND attempted_at <= window_start;
    SELECT attempted_at INTO limiting FROM sign_in_attempts
     WHERE counter = which AND subject = who
     ORDER BY attempted_at DESC OFFSET attempts - 1 LIMIT 1;
    IF FOUND THEN
        RETURN limiting;
    END IF;
    INSERT INTO sign_in_attempts (counter, subject, attempted_at) VALUES (which, who, attempted);
    RETURN NULL;
END
$$;
