-- Clicks by month (UTC): a month's clicks are one table, so keeping N months of raw
-- clicks drops whole tables while the rollups keep every figure. The key includes
-- the month (PostgreSQL's rule for partitioned keys); a click id is still stored once,
-- as a replayed click carries its time. The server creates months ahead; the default
-- partition only catches what no month holds yet, so no click is ever refused.
ALTER TABLE clicks RENAME TO clicks_unpartitioned;
ALTER TABLE clicks_unpartitioned RENAME CONSTRAINT clicks_pkey TO clicks_unpartitioned_pkey;
ALTER INDEX clicks_membership_time_idx RENAME TO clicks_unpartitioned_membership_time_idx;

CREATE TABLE clicks (
    brand_id BIGINT NOT NULL,
    id UUID NOT NULL,
    membership_id BIGINT NOT NULL,
    clicked_at TIMESTAMPTZ NOT NULL,
    ip_hash BYTEA,
    user_agent TEXT NOT NULL DEFAULT '',
    is_bot BOOLEAN NOT NULL DEFAULT false,
    commission NUMERIC(14, 2) NOT NULL DEFAULT 0,
    unpaid_reason TEXT,
    CONSTRAINT clicks_by_month_commission_check CHECK (commission >= 0),
    CONSTRAINT clicks_by_month_paid_or_why_not CHECK ((commission > 0) = (unpaid_reason IS NULL)),
    CONSTRAINT clicks_by_month_unpaid_reason_check
        CHECK (unpaid_reason IN ('BOT', 'REPEAT_VISITOR', 'NO_PER_CLICK_PAYOUT')),
    CONSTRAINT clicks_by_month_pkey PRIMARY KEY (brand_id, id, clicked_at),
    CONSTRAINT clicks_by_month_membership_fkey FOREIGN KEY (brand_id, membership_id)
        REFERENCES memberships (brand_id, id)
) PARTITION BY RANGE (clicked_at);
CREATE INDEX clicks_by_month_membership_time_idx ON clicks (brand_id, membership_id, clicked_at);
CREATE TABLE clicks_default PARTITION OF clicks DEFAULT;

-- A month for every month the clicks so far span, the thirteen before this one (for
-- clicks replayed or seeded from the past), this one and the next three.
DO $$
DECLARE
    month TIMESTAMP;
BEGIN
    FOR month IN
        SELECT generate_series(
            date_trunc('month', LEAST(COALESCE((SELECT min(clicked_at) FROM clicks_unpartitioned), now()), now() - INTERVAL '13 months') AT TIME ZONE 'UTC'),
            date_trunc('month', now() AT TIME ZONE 'UTC') + INTERVAL '3 months',
            INTERVAL '1 month')
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF clicks FOR VALUES FROM (%L) TO (%L)',
            'clicks_' || to_char(month, 'YYYY_MM'),
            month AT TIME ZONE 'UTC', (month + INTERVAL '1 month') AT TIME ZONE 'UTC');
    END LOOP;
END $$;

INSERT INTO clicks (brand_id, id, membership_id, clicked_at, ip_hash, user_agent, is_bot, commission, unpaid_reason)
    SELECT brand_id, id, membership_id, clicked_at, ip_hash, user_agent, is_bot, commission, unpaid_reason
    FROM clicks_unpartitioned;
DROP TABLE clicks_unpartitioned;

-- Raw clicks before this instant were dropped by the retention setting; the rollups
-- still hold their figures, and checks against raw events start here.
CREATE TABLE click_retention (
    only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    kept_since TIMESTAMPTZ NOT NULL
);
INSERT INTO click_retention (kept_since) VALUES ('-infinity');
