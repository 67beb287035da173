-- Click quality: every click is stored, but a click earns a per-click commission
-- only when it passes the rules. Each click keeps what it earned, or why it earned
-- nothing, so the ledger's CLICKS entries can be rebuilt from the clicks.
ALTER TABLE clicks ADD COLUMN commission NUMERIC(14, 2) NOT NULL DEFAULT 0 CHECK (commission >= 0);
ALTER TABLE clicks ADD COLUMN unpaid_reason TEXT
    CHECK (unpaid_reason IN ('BOT', 'REPEAT_VISITOR', 'NO_PER_CLICK_PAYOUT'));
ALTER TABLE clicks ADD CONSTRAINT clicks_paid_or_why_not CHECK ((commission > 0) = (unpaid_reason IS NULL));

-- Clicks stored before the rules: bots earned nothing; the others earned what their
-- membership's per-click payout paid, as the ledger booked it.
UPDATE clicks SET unpaid_reason = 'BOT' WHERE is_bot;
UPDATE clicks c
SET commission = CASE WHEN m.payout_type IS NULL THEN o.payout_flat ELSE m.payout_flat END
FROM memberships m JOIN offers o ON o.brand_id = m.brand_id AND o.id = m.offer_id
WHERE m.brand_id = c.brand_id AND m.id = c.membership_id AND NOT c.is_bot
  AND COALESCE(m.payout_type, o.payout_type) = 'FLAT_PER_CLICK'
  AND COALESCE(CASE WHEN m.payout_type IS NULL THEN o.payout_flat ELSE m.payout_flat END, 0) > 0;
UPDATE clicks SET unpaid_reason = 'NO_PER_CLICK_PAYOUT' WHERE unpaid_reason IS NULL AND commission = 0;

-- When each visitor (keyed hash of IP hash and user agent) of a link was last
-- paid for a click: a visitor earns at most once per repeat window.
CREATE TABLE click_visitors (
    brand_id      BIGINT NOT NULL,
    membership_id BIGINT NOT NULL,
    visitor       BYTEA NOT NULL CHECK (length(visitor) = 16),
    last_paid_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (brand_id, membership_id, visitor),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id)
);
