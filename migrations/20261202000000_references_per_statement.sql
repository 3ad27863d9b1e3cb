-- A delivery's references to its subscriber and digest, checked once per statement instead of once
-- per row. A foreign key runs its check as a separate query for every inserted row; in a digest's
-- outcome write (160 rows a statement) those checks were half of the recorder's Postgres time and
-- the largest cost left on a digest mail's way. The guarantee stays the same:
--   * a row naming a subscriber or digest that does not exist is refused with SQLSTATE 23503, as
--     a foreign key refuses it, and the statement with it;
--   * the check locks the rows it finds FOR KEY SHARE, as a foreign key does, so an erasure
--     running at the same moment either waits for the insert to commit and then removes its
--     rows, or commits first and the insert is refused: no row outlives its subscriber;
--   * deleting a subscriber or a digest deletes its deliveries (the cascade), and neither key
--     changes once written.
ALTER TABLE deliveries
    DROP CONSTRAINT deliveries_subscriber_id_fkey,
    DROP CONSTRAINT deliveries_digest_id_fkey;

CREATE FUNCTION deliveries_check_references() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    missing boolean;
BEGIN
    -- Counted, not searched row by row: each locking query names every row that exists once
    -- (a semi-join), so a shortfall is a missing one. An EXISTS over an anti-join is planned for
    -- its first row (a nested loop) and was quadratic in a statement of 20k rows (an import).
    WITH subscribers_named AS (
        SELECT s.id FROM subscribers s WHERE s.id IN (SELECT subscriber_id FROM added) FOR KEY SHARE
    ),
    digests_named AS (
        SELECT g.id FROM digests g WHERE g.id IN (SELECT digest_id FROM added) FOR KEY SHARE
    )
    SELECT (SELECT count(*) FROM subscribers_named) < (SELECT count(DISTINCT subscriber_id) FROM added)
        OR (SELECT count(*) FROM digests_named) < (SELECT count(DISTINCT digest_id) FROM added)
    INTO missing;
    IF missing THEN
        RAISE EXCEPTION 'a delivery names a subscriber or digest that does not exist'
            USING ERRCODE = 'foreign_key_violation', TABLE = 'deliveries';
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER deliveries_references AFTER INSERT ON deliveries
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION deliveries_check_references();

-- Nothing moves a delivery to another subscriber or digest, or renumbers one of those: refused,
-- rather than checked, so the rule needs no code on the update paths the queue runs all day.
CREATE FUNCTION references_are_fixed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: % does not change once written', TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'foreign_key_violation', TABLE = TG_TABLE_NAME;
END $$;

CREATE TRIGGER deliveries_references_fixed BEFORE UPDATE OF subscriber_id, digest_id ON deliveries
    FOR EACH ROW WHEN (OLD.subscriber_id IS DISTINCT FROM NEW.subscriber_id OR OLD.digest_id IS DISTINCT FROM NEW.digest_id)
    EXECUTE FUNCTION references_are_fixed('the subscriber or digest of a delivery');
CREATE TRIGGER subscribers_id_fixed BEFORE UPDATE OF id ON subscribers
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION references_are_fixed('id');
CREATE TRIGGER digests_id_fixed BEFORE UPDATE OF id ON digests
    FOR EACH ROW WHEN (OLD.id IS DISTINCT FROM NEW.id) EXECUTE FUNCTION references_are_fixed('id');

-- The cascade, once per statement: an erasure of many subscribers scans deliveries once.
CREATE FUNCTION subscribers_delete_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries WHERE subscriber_id IN (SELECT id FROM removed);
    RETURN NULL;
END $$;
CREATE TRIGGER subscribers_deliveries AFTER DELETE ON subscribers
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION subscribers_delete_deliveries();

CREATE FUNCTION digests_delete_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries WHERE digest_id IN (SELECT id FROM removed);
    RETURN NULL;
END $$;
CREATE TRIGGER digests_deliveries AFTER DELETE ON digests
    REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION digests_delete_deliveries();

-- A foreign key also refused emptying a referenced table under its rows.
CREATE FUNCTION deliveries_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM deliveries;
    RETURN NULL;
END $$;
CREATE TRIGGER subscribers_truncate_deliveries AFTER TRUNCATE ON subscribers
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_truncate();
CREATE TRIGGER digests_truncate_deliveries AFTER TRUNCATE ON digests
    FOR EACH STATEMENT EXECUTE FUNCTION deliveries_truncate();
