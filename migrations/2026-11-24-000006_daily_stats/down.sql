DROP TABLE membership_daily_stats;
