DROP TRIGGER rollups_follow_insert ON membership_daily_stats;
DROP TRIGGER rollups_follow_update ON membership_daily_stats;
DROP TRIGGER rollups_follow_delete ON membership_daily_stats;
DROP FUNCTION membership_daily_stats_follow();
DROP FUNCTION membership_days_changed(BIGINT[], BIGINT[], DATE[], BIGINT[], BIGINT[], NUMERIC[], NUMERIC[]);

CREATE OR REPLACE FUNCTION public.offer_daily_stats_add(sign integer, brand_ids bigint[], membership_ids bigint[], days date[], clicks bigint[], conversions bigint[], sales numeric[], commission numeric[])
 RETURNS void
 LANGUAGE plpgsql
AS $function$
BEGIN
    WITH changed AS (
        SELECT m.brand_id, m.offer_id, c.day, sign * SUM(c.clicks) AS clicks, sign * SUM(c.conversions) AS conversions,
               sign * SUM(c.sales) AS sales, sign * SUM(c.commission) AS commission
        FROM unnest(brand_ids, membership_ids, days, clicks, conversions, sales, commission)
             AS c (brand_id, membership_id, day, clicks, conversions, sales, commission)
        JOIN memberships m ON m.brand_id = c.brand_id AND m.id = c.membership_id
        GROUP BY 1, 2, 3),
    daily AS (
        INSERT INTO offer_daily_stats AS o (brand_id, offer_id, day, clicks, conversions, sales, commission)
        SELECT * FROM changed ch ORDER BY 1, 2, 3
        ON CONFLICT (brand_id, offer_id, day) DO UPDATE SET
            clicks = o.clicks + EXCLUDED.clicks, conversions = o.conversions + EXCLUDED.conversions,
            sales = o.sales + EXCLUDED.sales, commission = o.commission + EXCLUDED.commission)
    INSERT INTO offer_monthly_stats AS o (brand_id, offer_id, month, clicks, conversions, sales, commission)
    SELECT ch.brand_id, ch.offer_id, date_trunc('month', ch.day)::date,
           SUM(ch.clicks), SUM(ch.conversions), SUM(ch.sales), SUM(ch.commission)
    FROM changed ch GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (brand_id, offer_id, month) DO UPDATE SET
        clicks = o.clicks + EXCLUDED.clicks, conversions = o.conversions + EXCLUDED.conversions,
        sales = o.sales + EXCLUDED.sales, commission = o.commission + EXCLUDED.commission;
END $function$

;

CREATE OR REPLACE FUNCTION public.membership_monthly_stats_follow()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
END $function$

;

CREATE OR REPLACE FUNCTION public.offer_daily_stats_follow()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
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
END $function$

;

CREATE TRIGGER membership_monthly_stats_on_insert AFTER INSERT ON membership_daily_stats
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_monthly_stats_follow();
CREATE TRIGGER membership_monthly_stats_on_update AFTER UPDATE ON membership_daily_stats
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_monthly_stats_follow();
CREATE TRIGGER membership_monthly_stats_on_delete AFTER DELETE ON membership_daily_stats
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_monthly_stats_follow();
CREATE TRIGGER offer_daily_stats_on_insert AFTER INSERT ON membership_daily_stats
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_daily_stats_follow();
CREATE TRIGGER offer_daily_stats_on_update AFTER UPDATE ON membership_daily_stats
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_daily_stats_follow();
CREATE TRIGGER offer_daily_stats_on_delete AFTER DELETE ON membership_daily_stats
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_daily_stats_follow();
