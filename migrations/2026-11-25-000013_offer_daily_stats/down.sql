DROP INDEX membership_daily_stats_converting_idx;
DROP INDEX membership_monthly_stats_converting_idx;
DROP TRIGGER offer_daily_stats_on_delete ON membership_daily_stats;
DROP TRIGGER offer_daily_stats_on_update ON membership_daily_stats;
DROP TRIGGER offer_daily_stats_on_insert ON membership_daily_stats;
DROP FUNCTION offer_daily_stats_follow();
DROP FUNCTION offer_daily_stats_add(INT, BIGINT[], BIGINT[], DATE[], BIGINT[], BIGINT[], NUMERIC[], NUMERIC[]);
DROP TABLE offer_daily_stats;
