-- Under load the order writer keeps two groups committing at once. Spread over
-- many codes, each group upserted a dozen memberships' balance and daily rollup
-- rows (and, through their statement triggers, their offers'), so the second
-- group waited on the first's row locks, and the triggers were a third of a
-- group's time in PostgreSQL. A group written beside another now adds what it
-- changed here instead: an insert with no index and no lock another group could
-- wait on. The writer folds the tallies into the balances and the daily rollups
-- (whose triggers carry them up) when it falls idle, and at least every quarter
-- of a second under steady load; a fold deletes what it adds in the same
-- statement, so each tally counts once.
CREATE TABLE order_tallies (
    brand_id BIGINT NOT NULL,
    membership_id BIGINT NOT NULL,
    -- A change to the membership's day; NULL for a change to its balance.
    day DATE,
    conversions BIGINT NOT NULL DEFAULT 0,
    sales NUMERIC NOT NULL DEFAULT 0,
    commission NUMERIC NOT NULL DEFAULT 0,
    unpaid NUMERIC NOT NULL DEFAULT 0,
    on_hold NUMERIC NOT NULL DEFAULT 0
);
-- Rows live for a fraction of a second: vacuum it often.
ALTER TABLE order_tallies SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

-- A tallied group books its entries with `sales_tracking.balances_tallied` set for
-- its transaction, and tallies their balances in the same statement: the balances'
-- insert trigger stands aside then.
DROP TRIGGER membership_balances_on_insert ON ledger_entries;
CREATE TRIGGER membership_balances_on_insert AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
    WHEN (current_setting('sales_tracking.balances_tallied', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION membership_balances_follow();
