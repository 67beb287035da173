DROP TRIGGER offer_balances_on_insert ON membership_balances;
DROP TRIGGER offer_balances_on_update ON membership_balances;
DROP TRIGGER offer_balances_on_delete ON membership_balances;
DROP FUNCTION offer_balances_follow();
DROP FUNCTION offer_balances_add(INT[], BIGINT[], BIGINT[], NUMERIC[], NUMERIC[]);
DROP TABLE offer_balances;
DROP INDEX ledger_entries_on_hold_idx;
CREATE INDEX ledger_entries_on_hold_idx ON ledger_entries (brand_id, payable_at)
    INCLUDE (membership_id, amount) WHERE payment_item_id IS NULL;
CREATE OR REPLACE FUNCTION membership_balances_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO membership_balances AS b (brand_id, membership_id, unpaid, paid)
        SELECT brand_id, membership_id,
               COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NULL), 0),
               COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NOT NULL), 0)
        FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (brand_id, membership_id) DO UPDATE SET
            unpaid = b.unpaid + EXCLUDED.unpaid, paid = b.paid + EXCLUDED.paid;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO membership_balances AS b (brand_id, membership_id, unpaid, paid)
        SELECT brand_id, membership_id,
               -COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NULL), 0),
               -COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NOT NULL), 0)
        FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (brand_id, membership_id) DO UPDATE SET
            unpaid = b.unpaid + EXCLUDED.unpaid, paid = b.paid + EXCLUDED.paid;
    END IF;
    RETURN NULL;
END $$;
ALTER TABLE membership_balances DROP COLUMN on_hold;
ALTER TABLE ledger_entries DROP COLUMN matured;
