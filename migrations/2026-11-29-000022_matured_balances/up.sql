-- Payments Due without reading ledger entries at report time. An unpaid entry is
-- on hold until its payable time; the maturity job (`app::maturity`) marks entries
-- whose time has come as matured, and the balances move them from on hold to due.
-- A report adds the few entries that came due since the job last ran (found through
-- a partial index on the entries still on hold), so its figure is exact at any instant.
ALTER TABLE ledger_entries ADD COLUMN matured BOOLEAN NOT NULL DEFAULT false;
UPDATE ledger_entries SET matured = true WHERE payable_at <= now();

ALTER TABLE membership_balances ADD COLUMN on_hold NUMERIC(16, 2) NOT NULL DEFAULT 0;
UPDATE membership_balances b SET on_hold = h.amount
FROM (SELECT brand_id, membership_id, SUM(amount) AS amount FROM ledger_entries
      WHERE payment_item_id IS NULL AND NOT matured GROUP BY 1, 2) h
WHERE b.brand_id = h.brand_id AND b.membership_id = h.membership_id;

CREATE OR REPLACE FUNCTION membership_balances_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO membership_balances AS b (brand_id, membership_id, unpaid, on_hold, paid)
        SELECT brand_id, membership_id,
               COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NULL), 0),
               COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NULL AND NOT matured), 0),
               COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NOT NULL), 0)
        FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (brand_id, membership_id) DO UPDATE SET
            unpaid = b.unpaid + EXCLUDED.unpaid, on_hold = b.on_hold + EXCLUDED.on_hold, paid = b.paid + EXCLUDED.paid;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO membership_balances AS b (brand_id, membership_id, unpaid, on_hold, paid)
        SELECT brand_id, membership_id,
               -COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NULL), 0),
               -COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NULL AND NOT matured), 0),
               -COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NOT NULL), 0)
        FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (brand_id, membership_id) DO UPDATE SET
            unpaid = b.unpaid + EXCLUDED.unpaid, on_hold = b.on_hold + EXCLUDED.on_hold, paid = b.paid + EXCLUDED.paid;
    END IF;
    RETURN NULL;
END $$;

-- The unpaid entries still on hold, by payable time: the maturity job and reports
-- read only its oldest end (entries come due since the job last ran), any brand.
DROP INDEX ledger_entries_on_hold_idx;
CREATE INDEX ledger_entries_on_hold_idx ON ledger_entries (payable_at)
    INCLUDE (brand_id, membership_id, amount) WHERE payment_item_id IS NULL AND NOT matured;

-- Per offer: its memberships' matured balances, as the KPIs count them. Payments Due
-- adds only positive balances (a membership owing a clawback does not lower it).
CREATE TABLE offer_balances (
    brand_id                  BIGINT NOT NULL,
    offer_id                  BIGINT NOT NULL,
    payments_due              NUMERIC(16, 2) NOT NULL DEFAULT 0,
    members_with_payments_due BIGINT NOT NULL DEFAULT 0,
    paid                      NUMERIC(16, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (brand_id, offer_id),
    FOREIGN KEY (brand_id, offer_id) REFERENCES offers (brand_id, id)
) WITH (fillfactor = 70);

-- Adds (sign 1) or takes away (sign -1) memberships' balances, summed per offer:
-- one upsert per statement, static SQL so that its plan is cached.
CREATE FUNCTION offer_balances_add(
    signs INT[], brand_ids BIGINT[], membership_ids BIGINT[], dues NUMERIC[], paid NUMERIC[]
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO offer_balances AS o (brand_id, offer_id, payments_due, members_with_payments_due, paid)
    SELECT m.brand_id, m.offer_id, SUM(c.sign * GREATEST(c.due, 0)), SUM(c.sign * (c.due > 0)::int), SUM(c.sign * c.paid)
    FROM unnest(signs, brand_ids, membership_ids, dues, paid) AS c (sign, brand_id, membership_id, due, paid)
    JOIN memberships m ON m.brand_id = c.brand_id AND m.id = c.membership_id
    GROUP BY 1, 2 ORDER BY 1, 2
    ON CONFLICT (brand_id, offer_id) DO UPDATE SET
        payments_due = o.payments_due + EXCLUDED.payments_due,
        members_with_payments_due = o.members_with_payments_due + EXCLUDED.members_with_payments_due,
        paid = o.paid + EXCLUDED.paid;
END $$;

-- A trigger sees only the transition tables it declares: new rows on insert, old
-- rows on delete, both on update (summed in one upsert).
CREATE FUNCTION offer_balances_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM offer_balances_add(array_agg(1), array_agg(brand_id), array_agg(membership_id),
            array_agg(unpaid - on_hold), array_agg(paid))
        FROM new_rows HAVING count(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM offer_balances_add(array_agg(-1), array_agg(brand_id), array_agg(membership_id),
            array_agg(unpaid - on_hold), array_agg(paid))
        FROM old_rows HAVING count(*) > 0;
    ELSE
        PERFORM offer_balances_add(array_agg(sign), array_agg(brand_id), array_agg(membership_id),
            array_agg(due), array_agg(paid))
        FROM (SELECT 1 AS sign, brand_id, membership_id, unpaid - on_hold AS due, paid FROM new_rows
              UNION ALL
              SELECT -1, brand_id, membership_id, unpaid - on_hold, paid FROM old_rows) c
        HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER offer_balances_on_insert AFTER INSERT ON membership_balances
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_balances_follow();
CREATE TRIGGER offer_balances_on_update AFTER UPDATE ON membership_balances
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_balances_follow();
CREATE TRIGGER offer_balances_on_delete AFTER DELETE ON membership_balances
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_balances_follow();

INSERT INTO offer_balances (brand_id, offer_id, payments_due, members_with_payments_due, paid)
SELECT m.brand_id, m.offer_id, SUM(GREATEST(b.unpaid - b.on_hold, 0)), count(*) FILTER (WHERE b.unpaid - b.on_hold > 0), SUM(b.paid)
FROM membership_balances b JOIN memberships m ON m.brand_id = b.brand_id AND m.id = b.membership_id
GROUP BY 1, 2;
