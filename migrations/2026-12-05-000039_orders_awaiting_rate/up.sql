-- Orders sold in a currency whose rate for their day is not published yet: kept
-- as received, and recorded by the rates job once it is (never refused, never lost).
CREATE TABLE orders_awaiting_rate (
    brand_id BIGINT NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    source TEXT NOT NULL,
    external_order_id TEXT NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    amount NUMERIC NOT NULL CHECK (amount > 0),
    currency TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    promo_codes TEXT[] NOT NULL,
    click_id UUID,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, source, external_order_id)
);
