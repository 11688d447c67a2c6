-- Charging a service's distinct-customer budget (distinct_reads, migration 7) in one round
-- trip, with repeat reads answered before the lock (crates/store/src/postgres/budgets.rs).
--
-- Charges `asked` to (reader, read_class), all or nothing; true when charged. A read of
-- customers all first read within the window (a service re-reading its customers) is
-- answered at once, without the lock and without writing: it adds no customer, so it cannot
-- take the count past the budget, and a service's repeat reads on many nodes do not queue
-- behind one another or wait for a commit. Otherwise, under the budget's transaction-scoped
-- advisory lock ("Hbud", and a hash of principal and class: the key charges took before this
-- function, so a node of the older version charging beside it serialises with it), it looks
-- again (a VOLATILE function reads with a fresh snapshot per statement under READ COMMITTED,
-- so it sees every charge that committed before the lock was granted), deletes the budget's
-- rows older than the window, counts the rest, refuses if the new customers would pass the
-- budget, and inserts them.
CREATE FUNCTION haechi_charge_distinct_reads(reader TEXT, read_class TEXT, asked TEXT[],
                                             budget BIGINT, window_start BIGINT,
                                             charged_at BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    fresh TEXT[];
    held BIGINT;
BEGIN
    FOR attempt IN 1..2 LOOP
        IF attempt = 2 THEN
            PERFORM pg_advisory_xact_lock(1214412132, hashtext(reader || '/' || read_class));
        END IF;
        SELECT coalesce(array_agg(DISTINCT wanted.customer_id), '{}') INTO fresh
          FROM unnest(asked) AS wanted (customer_id)
         WHERE NOT EXISTS (SELECT 1 FROM distinct_reads AS d
                            WHERE d.principal = reader AND d.class = read_class
                              AND d.customer_id = wanted.customer_id
                              AND d.first_read_at > window_start);
        IF cardinality(fresh) = 0 THEN
            RETURN true;
        END IF;
    END LOOP;
    DELETE FROM distinct_reads AS d
     WHERE d.principal = reader AND d.class = read_class AND d.first_read_at <= window_start;
    SELECT count(*) INTO held FROM distinct_reads AS d
     WHERE d.principal = reader AND d.class = read_class;
    IF held + cardinality(fresh) > budget THEN
        RETURN false;
    END IF;
    INSERT INTO distinct_reads (principal, class, customer_id, first_read_at)
    SELECT reader, read_class, new_customer, charged_at FROM unnest(fresh) AS new_customer;
    RETURN true;
END
$$;
