-- An order sold in another currency than its brand's: what it was sold for, how
-- much of that was refunded, and how it was valued. Null: sold in the brand's
-- currency (rate 1), as every order before this migration was.
ALTER TABLE conversions
    ADD COLUMN order_currency text CHECK (order_currency ~ '^[A-Z]{3}$'),
    ADD COLUMN order_amount numeric CHECK (order_amount > 0),
    ADD COLUMN order_refunded numeric NOT NULL DEFAULT 0 CHECK (order_refunded >= 0),
    ADD COLUMN exchange_rate numeric CHECK (exchange_rate > 0),
    ADD COLUMN rate_published_on date,
    ADD COLUMN rate_source text,
    ADD CONSTRAINT conversions_valued_check CHECK (
        (order_currency IS NULL) = (order_amount IS NULL)
        AND (order_currency IS NULL) = (exchange_rate IS NULL)
        AND (order_currency IS NULL) = (rate_published_on IS NULL)
        AND (order_currency IS NULL) = (rate_source IS NULL)
        AND order_refunded <= coalesce(order_amount, 0));
