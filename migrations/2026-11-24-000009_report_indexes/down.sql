DROP INDEX ledger_entries_paid_idx;
DROP INDEX ledger_entries_unpaid_idx;
CREATE INDEX ledger_entries_unpaid_idx ON ledger_entries (brand_id, membership_id, payable_at) WHERE payment_item_id IS NULL;
DROP INDEX membership_daily_stats_brand_day_idx;
CREATE INDEX membership_daily_stats_brand_day_idx ON membership_daily_stats (brand_id, day);
