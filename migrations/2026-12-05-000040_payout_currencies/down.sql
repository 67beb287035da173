DROP TRIGGER payment_items_payout_defaulted ON payment_items;
DROP FUNCTION payment_items_payout_default();
ALTER TABLE payment_items DROP CONSTRAINT payment_items_rate_check,
    DROP COLUMN rate_source, DROP COLUMN rate_published_on, DROP COLUMN exchange_rate,
    DROP COLUMN payout_amount, DROP COLUMN payout_currency;
DROP TRIGGER members_payout_currency_defaulted ON members;
DROP FUNCTION members_payout_currency_default();
ALTER TABLE members DROP COLUMN payout_currency;
