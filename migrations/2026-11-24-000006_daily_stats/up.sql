-- Per membership and brand-local day: what reports read instead of raw events.
-- Maintained in the same transaction as the events that change it, one upsert
-- per key per batch; rebuildable from clicks, conversions and ledger entries.
CREATE TABLE membership_daily_stats (
    brand_id      BIGINT NOT NULL,
    membership_id BIGINT NOT NULL,
    day           DATE NOT NULL,
    -- Counted clicks: bots are stored in clicks but never counted here.
    clicks        BIGINT NOT NULL DEFAULT 0,
    -- Accepted conversions, their current sale amounts and commissions, by order day.
    conversions   BIGINT NOT NULL DEFAULT 0,
    sales         NUMERIC(16, 2) NOT NULL DEFAULT 0,
    -- Commission earned on the day: conversions, paid clicks and cash rewards.
    commission    NUMERIC(16, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (brand_id, membership_id, day),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id)
);
CREATE INDEX membership_daily_stats_brand_day_idx ON membership_daily_stats (brand_id, day);
