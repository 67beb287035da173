-- Reports read rollups by brand and day, and ledger sums per membership: covering
-- indexes let both be index-only scans.
DROP INDEX membership_daily_stats_brand_day_idx;
CREATE INDEX membership_daily_stats_brand_day_idx ON membership_daily_stats (brand_id, day)
    INCLUDE (membership_id, clicks, conversions, sales, commission);
DROP INDEX ledger_entries_unpaid_idx;
CREATE INDEX ledger_entries_unpaid_idx ON ledger_entries (brand_id, membership_id)
    INCLUDE (payable_at, amount) WHERE payment_item_id IS NULL;
CREATE INDEX ledger_entries_paid_idx ON ledger_entries (brand_id, membership_id)
    INCLUDE (amount) WHERE payment_item_id IS NOT NULL;
