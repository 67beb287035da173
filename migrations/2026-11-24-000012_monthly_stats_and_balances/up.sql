-- Two summaries that keep brand-wide reports fast, both maintained by
-- statement-level triggers (one aggregate upsert per statement, never per row),
-- so every writer keeps them right without knowing about them.

-- The daily rollups summed per brand-local month: a six-month range reads the
-- months it covers whole from here and only its partial months from the days.
CREATE TABLE membership_monthly_stats (
    brand_id      BIGINT NOT NULL,
    membership_id BIGINT NOT NULL,
    month         DATE NOT NULL CHECK (month = date_trunc('month', month)::date),
    clicks        BIGINT NOT NULL DEFAULT 0,
    conversions   BIGINT NOT NULL DEFAULT 0,
    sales         NUMERIC(16, 2) NOT NULL DEFAULT 0,
    commission    NUMERIC(16, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (brand_id, membership_id, month),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id)
);
CREATE INDEX membership_monthly_stats_brand_month_idx ON membership_monthly_stats (brand_id, month)
    INCLUDE (membership_id, clicks, conversions, sales, commission);

CREATE FUNCTION membership_monthly_stats_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO membership_monthly_stats AS m (brand_id, membership_id, month, clicks, conversions, sales, commission)
        SELECT brand_id, membership_id, date_trunc('month', day)::date, SUM(clicks), SUM(conversions), SUM(sales), SUM(commission)
        FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (brand_id, membership_id, month) DO UPDATE SET
            clicks = m.clicks + EXCLUDED.clicks, conversions = m.conversions + EXCLUDED.conversions,
            sales = m.sales + EXCLUDED.sales, commission = m.commission + EXCLUDED.commission;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        INSERT INTO membership_monthly_stats AS m (brand_id, membership_id, month, clicks, conversions, sales, commission)
        SELECT brand_id, membership_id, date_trunc('month', day)::date, -SUM(clicks), -SUM(conversions), -SUM(sales), -SUM(commission)
        FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (brand_id, membership_id, month) DO UPDATE SET
            clicks = m.clicks + EXCLUDED.clicks, conversions = m.conversions + EXCLUDED.conversions,
            sales = m.sales + EXCLUDED.sales, commission = m.commission + EXCLUDED.commission;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER membership_monthly_stats_on_insert AFTER INSERT ON membership_daily_stats
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_monthly_stats_follow();
CREATE TRIGGER membership_monthly_stats_on_update AFTER UPDATE ON membership_daily_stats
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_monthly_stats_follow();
CREATE TRIGGER membership_monthly_stats_on_delete AFTER DELETE ON membership_daily_stats
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_monthly_stats_follow();

INSERT INTO membership_monthly_stats (brand_id, membership_id, month, clicks, conversions, sales, commission)
SELECT brand_id, membership_id, date_trunc('month', day)::date, SUM(clicks), SUM(conversions), SUM(sales), SUM(commission)
FROM membership_daily_stats GROUP BY 1, 2, 3;

-- Each membership's ledger summed: unpaid (due and on hold, net of clawbacks) and
-- paid. Payments Due is `unpaid` less the few entries still on hold.
CREATE TABLE membership_balances (
    brand_id      BIGINT NOT NULL,
    membership_id BIGINT NOT NULL,
    unpaid        NUMERIC(16, 2) NOT NULL DEFAULT 0,
    paid          NUMERIC(16, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (brand_id, membership_id),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id)
);

CREATE FUNCTION membership_balances_follow() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER membership_balances_on_insert AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_balances_follow();
CREATE TRIGGER membership_balances_on_update AFTER UPDATE ON ledger_entries
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_balances_follow();
CREATE TRIGGER membership_balances_on_delete AFTER DELETE ON ledger_entries
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_balances_follow();

INSERT INTO membership_balances (brand_id, membership_id, unpaid, paid)
SELECT brand_id, membership_id,
       COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NULL), 0),
       COALESCE(SUM(amount) FILTER (WHERE payment_item_id IS NOT NULL), 0)
FROM ledger_entries GROUP BY 1, 2;

-- The entries still on hold, found by time without reading the rest.
CREATE INDEX ledger_entries_on_hold_idx ON ledger_entries (brand_id, payable_at)
    INCLUDE (membership_id, amount) WHERE payment_item_id IS NULL;
