-- An order group inserts a conversion and a ledger entry per order, and each
-- row's foreign keys were checked one by one: two lookups of its membership and
-- one of its conversion per order, each taking a key-share lock (7.6% of the
-- group's time in PostgreSQL, pg_stat_statements). Both rows are written only
-- with a membership the same transaction read (by a promo code, a click, or by
-- hand), and a ledger entry only with the conversion it just inserted or read;
-- memberships and conversions are never deleted (refused outright), so the
-- checks could not fail. `sales-tracking check` counts any row naming one that
-- is not there.
ALTER TABLE conversions DROP CONSTRAINT conversions_brand_id_membership_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_brand_id_membership_id_fkey;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_brand_id_conversion_id_fkey;
CREATE FUNCTION conversions_are_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'conversions are never deleted: refund or reject one instead'
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER conversions_are_kept BEFORE DELETE ON conversions
    FOR EACH ROW EXECUTE FUNCTION conversions_are_kept();
