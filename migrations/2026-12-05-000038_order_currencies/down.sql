ALTER TABLE conversions
    DROP CONSTRAINT conversions_valued_check,
    DROP COLUMN order_currency,
    DROP COLUMN order_amount,
    DROP COLUMN order_refunded,
    DROP COLUMN exchange_rate,
    DROP COLUMN rate_published_on,
    DROP COLUMN rate_source;
