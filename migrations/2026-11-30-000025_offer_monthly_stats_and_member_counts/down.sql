CREATE INDEX memberships_offer_periods_idx ON memberships (brand_id, offer_id) INCLUDE (joined_at, removed_at);
DROP INDEX memberships_offer_removed_idx;
DROP INDEX memberships_offer_joined_idx;
DROP TRIGGER offer_member_counts_on_delete ON memberships;
DROP TRIGGER offer_member_counts_on_insert ON memberships;
DROP FUNCTION offer_member_counts_follow();
DROP TABLE offer_member_counts;

CREATE OR REPLACE FUNCTION offer_daily_stats_add(
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
DROP TABLE offer_monthly_stats;
