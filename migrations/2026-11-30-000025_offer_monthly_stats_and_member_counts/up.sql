-- Two more per-offer summaries, so a brand-wide report reads rows per offer and
-- month rather than per offer-day or per membership.

-- The offers' daily rollups summed per brand-local month: a six-month range reads
-- its whole months here and only its partial months from the days.
CREATE TABLE offer_monthly_stats (
    brand_id    BIGINT NOT NULL,
    offer_id    BIGINT NOT NULL,
    month       DATE NOT NULL CHECK (month = date_trunc('month', month)::date),
    clicks      BIGINT NOT NULL DEFAULT 0,
    conversions BIGINT NOT NULL DEFAULT 0,
    sales       NUMERIC(16, 2) NOT NULL DEFAULT 0,
    commission  NUMERIC(16, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (brand_id, offer_id, month),
    FOREIGN KEY (brand_id, offer_id) REFERENCES offers (brand_id, id)
) WITH (fillfactor = 70);

-- The same upsert of changed membership-days into the offer-days as before, and
-- now into the offer-months too, from one aggregate: still one statement per
-- statement on membership_daily_stats.
CREATE OR REPLACE FUNCTION offer_daily_stats_add(
    sign INT, brand_ids BIGINT[], membership_ids BIGINT[], days DATE[],
    clicks BIGINT[], conversions BIGINT[], sales NUMERIC[], commission NUMERIC[]
) RETURNS void LANGUAGE plpgsql AS $$
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
END $$;

INSERT INTO offer_monthly_stats (brand_id, offer_id, month, clicks, conversions, sales, commission)
SELECT brand_id, offer_id, date_trunc('month', day)::date, SUM(clicks), SUM(conversions), SUM(sales), SUM(commission)
FROM offer_daily_stats GROUP BY 1, 2, 3;

-- How many memberships each offer has had. A report's member count (memberships
-- that existed during its range) is this less those that joined after the range
-- and those removed before it: for a range up to today, a few index entries.
CREATE TABLE offer_member_counts (
    brand_id    BIGINT NOT NULL,
    offer_id    BIGINT NOT NULL,
    memberships BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (brand_id, offer_id),
    FOREIGN KEY (brand_id, offer_id) REFERENCES offers (brand_id, id)
);

CREATE FUNCTION offer_member_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO offer_member_counts AS c (brand_id, offer_id, memberships)
        SELECT brand_id, offer_id, count(*) FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (brand_id, offer_id) DO UPDATE SET memberships = c.memberships + EXCLUDED.memberships;
    ELSE
        INSERT INTO offer_member_counts AS c (brand_id, offer_id, memberships)
        SELECT brand_id, offer_id, -count(*) FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (brand_id, offer_id) DO UPDATE SET memberships = c.memberships + EXCLUDED.memberships;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER offer_member_counts_on_insert AFTER INSERT ON memberships
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_member_counts_follow();
CREATE TRIGGER offer_member_counts_on_delete AFTER DELETE ON memberships
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION offer_member_counts_follow();

INSERT INTO offer_member_counts (brand_id, offer_id, memberships)
SELECT brand_id, offer_id, count(*) FROM memberships GROUP BY 1, 2;

CREATE INDEX memberships_offer_joined_idx ON memberships (brand_id, offer_id, joined_at);
CREATE INDEX memberships_offer_removed_idx ON memberships (brand_id, offer_id, removed_at) INCLUDE (joined_at)
    WHERE removed_at IS NOT NULL;
DROP INDEX memberships_offer_periods_idx;
