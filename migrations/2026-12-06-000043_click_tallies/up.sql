-- Under load the click writer keeps two batches committing at once. Each batch
-- upserted the same rollup rows (a link's day, its month, its offer's), so the
-- second waited on the first's row locks and nothing ran side by side. A batch
-- written beside another now adds its click counts here instead: an insert with
-- no index and no lock another batch could wait on. The writer folds the tallies
-- into membership_daily_stats (whose triggers carry them up) when it falls idle,
-- and at least every quarter of a second under steady load; a fold deletes what
-- it adds in the same statement, so each tally counts once.
CREATE TABLE click_tallies (
    brand_id BIGINT NOT NULL,
    membership_id BIGINT NOT NULL,
    day DATE NOT NULL,
    clicks BIGINT NOT NULL CHECK (clicks > 0)
);
-- Rows live for a fraction of a second: vacuum it often.
ALTER TABLE click_tallies SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

-- Clicks are inserted only by statements that read their running membership in
-- the same statement, and memberships are never deleted (an ended one is marked
-- removed). The foreign key's check, run for every click, was a fifth of a click
-- batch's time; deleting a membership is refused outright instead.
ALTER TABLE clicks DROP CONSTRAINT clicks_by_month_membership_fkey;
CREATE FUNCTION memberships_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'memberships are never deleted: mark one removed instead'
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER memberships_are_kept BEFORE DELETE ON memberships
    FOR EACH ROW EXECUTE FUNCTION memberships_are_kept();
