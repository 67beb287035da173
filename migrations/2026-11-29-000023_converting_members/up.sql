-- Members with Conversions is a distinct count, so it cannot be added up from
-- rollups. These are the memberships with accepted conversions per offer and day,
-- and per offer and month, as roaring bitmaps of membership ids (`db::converting`):
-- a report merges one bitmap per offer and period instead of reading memberships'
-- rows. Written with the daily rollups (`db::stats::Deltas::apply`) whenever a
-- membership-day's conversions go from none to some or back; rebuildable from them.
CREATE TABLE offer_converting_members (
    brand_id     BIGINT NOT NULL,
    offer_id     BIGINT NOT NULL,
    is_month     BOOLEAN NOT NULL,
    -- A brand-local day, or the 1st of a month.
    period_start DATE NOT NULL CHECK (NOT is_month OR period_start = date_trunc('month', period_start)::date),
    members      BYTEA NOT NULL,
    PRIMARY KEY (brand_id, offer_id, is_month, period_start),
    FOREIGN KEY (brand_id, offer_id) REFERENCES offers (brand_id, id)
);
