DROP TABLE click_retention;
ALTER TABLE clicks RENAME TO clicks_by_month;
CREATE TABLE clicks (
    brand_id BIGINT NOT NULL,
    id UUID NOT NULL,
    membership_id BIGINT NOT NULL,
    clicked_at TIMESTAMPTZ NOT NULL,
    ip_hash BYTEA,
    user_agent TEXT NOT NULL DEFAULT '',
    is_bot BOOLEAN NOT NULL DEFAULT false,
    commission NUMERIC(14, 2) NOT NULL DEFAULT 0 CHECK (commission >= 0),
    unpaid_reason TEXT CHECK (unpaid_reason IN ('BOT', 'REPEAT_VISITOR', 'NO_PER_CLICK_PAYOUT')),
    CONSTRAINT clicks_paid_or_why_not CHECK ((commission > 0) = (unpaid_reason IS NULL)),
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id)
);
CREATE INDEX clicks_membership_time_idx ON clicks (brand_id, membership_id, clicked_at);
INSERT INTO clicks SELECT brand_id, id, membership_id, clicked_at, ip_hash, user_agent, is_bot, commission, unpaid_reason
    FROM clicks_by_month ON CONFLICT DO NOTHING;
DROP TABLE clicks_by_month;
