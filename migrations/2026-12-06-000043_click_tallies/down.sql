DROP TRIGGER memberships_are_kept ON memberships;
DROP FUNCTION memberships_are_kept();
ALTER TABLE clicks ADD CONSTRAINT clicks_by_month_membership_fkey FOREIGN KEY (brand_id, membership_id)
    REFERENCES memberships (brand_id, id);

-- The tallies not folded yet are counted before their table goes.
INSERT INTO membership_daily_stats AS s (brand_id, membership_id, day, clicks, conversions, sales, commission)
SELECT brand_id, membership_id, day, SUM(clicks), 0, 0, 0 FROM click_tallies GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
ON CONFLICT (brand_id, membership_id, day) DO UPDATE SET clicks = s.clicks + EXCLUDED.clicks;
DROP TABLE click_tallies;
