-- The daily rollups summed per offer, so brand-wide reports add up a few rows per
-- offer-day instead of every membership's. Kept by statement-level triggers on
-- membership_daily_stats, like the monthly rollups (a membership never changes offer).
CREATE TABLE offer_daily_stats (
    brand_id    BIGINT NOT NULL,
    offer_id    BIGINT NOT NULL,
    day         DATE NOT NULL,
    clicks      BIGINT NOT NULL DEFAULT 0,
    conversions BIGINT NOT NULL DEFAULT 0,
    sales       NUMERIC(16, 2) NOT NULL DEFAULT 0,
    commission  NUMERIC(16, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (brand_id, offer_id, day),
    FOREIGN KEY (brand_id, offer_id) REFERENCES offers (brand_id, id)
-- Every click batch updates today's rows: no index on the figures and free room in
-- each page let those be HOT updates, which neither touch an index nor bloat one.
) WITH (fillfactor = 70);

-- Adds (sign 1) or takes away (sign -1) changed membership-days, summed per
-- offer-day: one upsert per statement. Static SQL in plpgsql, so its plan is cached
-- on the hot path of every click batch.
CREATE FUNCTION offer_daily_stats_add(
    sign INT, brand_ids BIGINT[], membership_ids BIGINT[], days DATE[],
    clicks BIGINT[], conversions BIGINT[], sales NUMERIC[], commission NUMERIC[]
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO offer_daily_stats AS o (brand_id, offer_id, day, clicks, conversions, sales, commission)
    SELECT m.brand_id, m.offer_id, c.day, sign * SUM(c.clicks), sign * SUM(c.conversions),
           sign * SUM(c.sales), sign * SUM(c.commission)
    FROM unnest(brand_ids, membership_ids, days, clicks, conversions, sales, commission)
         AS c (brand_id, membership_id, day, clicks, conversions, sales, commission)
    JOIN memberships m ON m.brand_id = c.brand_id AND m.id = c.membership_id
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (brand_id, offer_id, day) DO UPDATE SET
        clicks = o.clicks + EXCLUDED.clicks, conversions = o.conversions + EXCLUDED.conversions,
        sales = o.sales + EXCLUDED.sales, commission = o.commission + EXCLUDED.commission;
END $$;

-- A trigger sees only the transition tables it declares: new rows on insert, old
-- rows on delete, both on update.
CREATE FUNCTION offer_daily_stats_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' THEN
        PERFORM offer_daily_stats_add(1, array_agg(brand_id), array_agg(membership_id), array_agg(day),
            array_agg(clicks), array_agg(conversions), array_agg(sales), array_agg(commission))
        FROM new_rows HAVING count(*) > 0;
    END IF;
    IF TG_OP <> 'INSERT' THEN
        PERFORM offer_daily_stats_add(-1, array_agg(brand_id), array_agg(membership_id), array_agg(day),
            array_agg(clicks), array_agg(conversions), array_agg(sales), array_agg(commission))
        FROM old_rows HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER offer_daily_stats_on_insert AFTER INSERT ON membership_daily_stats
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_daily_stats_follow();
CREATE TRIGGER offer_daily_stats_on_update AFTER UPDATE ON membership_daily_stats
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_daily_stats_follow();
CREATE TRIGGER offer_daily_stats_on_delete AFTER DELETE ON membership_daily_stats
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_daily_stats_follow();

INSERT INTO offer_daily_stats (brand_id, offer_id, day, clicks, conversions, sales, commission)
SELECT s.brand_id, m.offer_id, s.day, SUM(s.clicks), SUM(s.conversions), SUM(s.sales), SUM(s.commission)
FROM membership_daily_stats s JOIN memberships m ON m.brand_id = s.brand_id AND m.id = s.membership_id
GROUP BY 1, 2, 3;

-- Members with conversions is a distinct count, so it still reads memberships'
-- rollups, but only the rows that have conversions.
CREATE INDEX membership_monthly_stats_converting_idx ON membership_monthly_stats (brand_id, month)
    INCLUDE (membership_id) WHERE conversions > 0;
CREATE INDEX membership_daily_stats_converting_idx ON membership_daily_stats (brand_id, day)
    INCLUDE (membership_id) WHERE conversions > 0;
