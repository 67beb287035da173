-- The rollups above membership-days (membership-months, offer-days, offer-months)
-- followed a statement on membership_daily_stats through two triggers per
-- operation, and an update ran each twice (once adding the new rows, once taking
-- the old ones away): four trigger calls and four statements per click batch.
-- One trigger per operation now passes what changed (new minus old) once, and
-- one statement writes the three rollups.

CREATE FUNCTION membership_days_changed(
    brand_ids BIGINT[], membership_ids BIGINT[], days DATE[],
    click_counts BIGINT[], conversion_counts BIGINT[], sale_amounts NUMERIC[], commission_amounts NUMERIC[]
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    WITH changed AS (
        SELECT c.brand_id, c.membership_id, m.offer_id, c.day, SUM(c.clicks) AS clicks,
               SUM(c.conversions) AS conversions, SUM(c.sales) AS sales, SUM(c.commission) AS commission
        FROM unnest(brand_ids, membership_ids, days, click_counts, conversion_counts, sale_amounts, commission_amounts)
             AS c (brand_id, membership_id, day, clicks, conversions, sales, commission)
        JOIN memberships m ON m.brand_id = c.brand_id AND m.id = c.membership_id
        GROUP BY 1, 2, 3, 4),
    membership_months AS (
        INSERT INTO membership_monthly_stats AS s (brand_id, membership_id, month, clicks, conversions, sales, commission)
        SELECT brand_id, membership_id, date_trunc('month', day)::date,
               SUM(clicks), SUM(conversions), SUM(sales), SUM(commission)
        FROM changed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (brand_id, membership_id, month) DO UPDATE SET
            clicks = s.clicks + EXCLUDED.clicks, conversions = s.conversions + EXCLUDED.conversions,
            sales = s.sales + EXCLUDED.sales, commission = s.commission + EXCLUDED.commission),
    offer_days AS (
        INSERT INTO offer_daily_stats AS s (brand_id, offer_id, day, clicks, conversions, sales, commission)
        SELECT brand_id, offer_id, day, SUM(clicks), SUM(conversions), SUM(sales), SUM(commission)
        FROM changed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (brand_id, offer_id, day) DO UPDATE SET
            clicks = s.clicks + EXCLUDED.clicks, conversions = s.conversions + EXCLUDED.conversions,
            sales = s.sales + EXCLUDED.sales, commission = s.commission + EXCLUDED.commission)
    INSERT INTO offer_monthly_stats AS s (brand_id, offer_id, month, clicks, conversions, sales, commission)
    SELECT brand_id, offer_id, date_trunc('month', day)::date,
           SUM(clicks), SUM(conversions), SUM(sales), SUM(commission)
    FROM changed GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (brand_id, offer_id, month) DO UPDATE SET
        clicks = s.clicks + EXCLUDED.clicks, conversions = s.conversions + EXCLUDED.conversions,
        sales = s.sales + EXCLUDED.sales, commission = s.commission + EXCLUDED.commission;
END $$;

CREATE FUNCTION membership_daily_stats_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM membership_days_changed(array_agg(brand_id), array_agg(membership_id), array_agg(day),
            array_agg(clicks), array_agg(conversions), array_agg(sales), array_agg(commission))
        FROM new_rows HAVING count(*) > 0;
    ELSIF TG_OP = 'UPDATE' THEN
        PERFORM membership_days_changed(array_agg(brand_id), array_agg(membership_id), array_agg(day),
            array_agg(clicks), array_agg(conversions), array_agg(sales), array_agg(commission))
        FROM (SELECT brand_id, membership_id, day, clicks, conversions, sales, commission FROM new_rows
              UNION ALL
              SELECT brand_id, membership_id, day, -clicks, -conversions, -sales, -commission FROM old_rows) AS changed
        HAVING count(*) > 0;
    ELSE
        PERFORM membership_days_changed(array_agg(brand_id), array_agg(membership_id), array_agg(day),
            array_agg(-clicks), array_agg(-conversions), array_agg(-sales), array_agg(-commission))
        FROM old_rows HAVING count(*) > 0;
    END IF;
    RETURN NULL;
END $$;

DROP TRIGGER membership_monthly_stats_on_insert ON membership_daily_stats;
DROP TRIGGER membership_monthly_stats_on_update ON membership_daily_stats;
DROP TRIGGER membership_monthly_stats_on_delete ON membership_daily_stats;
DROP TRIGGER offer_daily_stats_on_insert ON membership_daily_stats;
DROP TRIGGER offer_daily_stats_on_update ON membership_daily_stats;
DROP TRIGGER offer_daily_stats_on_delete ON membership_daily_stats;
DROP FUNCTION membership_monthly_stats_follow();
DROP FUNCTION offer_daily_stats_follow();
DROP FUNCTION offer_daily_stats_add(INT, BIGINT[], BIGINT[], DATE[], BIGINT[], BIGINT[], NUMERIC[], NUMERIC[]);

CREATE TRIGGER rollups_follow_insert AFTER INSERT ON membership_daily_stats
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_daily_stats_follow();
CREATE TRIGGER rollups_follow_update AFTER UPDATE ON membership_daily_stats
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_daily_stats_follow();
CREATE TRIGGER rollups_follow_delete AFTER DELETE ON membership_daily_stats
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_daily_stats_follow();
