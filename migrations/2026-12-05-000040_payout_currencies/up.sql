-- Members are paid in their own currency (the brand's unless set).
ALTER TABLE members ADD COLUMN payout_currency TEXT CHECK (payout_currency ~ '^[A-Z]{3}$');
UPDATE members SET payout_currency = b.currency FROM brands b WHERE b.id = members.brand_id;
ALTER TABLE members ALTER COLUMN payout_currency SET NOT NULL;

-- Every writer of members gets the brand's currency when it names none.
CREATE FUNCTION members_payout_currency_default() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.payout_currency := (SELECT currency FROM brands WHERE id = NEW.brand_id);
    RETURN NEW;
END $$;
CREATE TRIGGER members_payout_currency_defaulted BEFORE INSERT ON members
    FOR EACH ROW WHEN (NEW.payout_currency IS NULL) EXECUTE FUNCTION members_payout_currency_default();

-- What an item sends, in the member's currency, and the rate it was converted
-- at: units of the payout currency per unit of the brand's (1 when they are the
-- same), published for `rate_published_on` by `rate_source` (both null at 1).
-- `amount` stays in the brand's currency: it is what a failed item returns to due.
ALTER TABLE payment_items
    ADD COLUMN payout_currency TEXT CHECK (payout_currency ~ '^[A-Z]{3}$'),
    ADD COLUMN payout_amount NUMERIC CHECK (payout_amount >= 0),
    ADD COLUMN exchange_rate NUMERIC CHECK (exchange_rate > 0),
    ADD COLUMN rate_published_on DATE,
    ADD COLUMN rate_source TEXT,
    ADD CONSTRAINT payment_items_rate_check CHECK ((rate_published_on IS NULL) = (rate_source IS NULL));
UPDATE payment_items SET payout_currency = b.currency, payout_amount = amount, exchange_rate = 1
    FROM brands b WHERE b.id = payment_items.brand_id;
ALTER TABLE payment_items
    ALTER COLUMN payout_currency SET NOT NULL,
    ALTER COLUMN payout_amount SET NOT NULL,
    ALTER COLUMN exchange_rate SET NOT NULL;

-- A writer naming no payout currency (an import settled outside) pays in the
-- brand's currency at rate 1.
CREATE FUNCTION payment_items_payout_default() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.payout_currency := (SELECT currency FROM brands WHERE id = NEW.brand_id);
    NEW.payout_amount := NEW.amount;
    NEW.exchange_rate := 1;
    RETURN NEW;
END $$;
CREATE TRIGGER payment_items_payout_defaulted BEFORE INSERT ON payment_items
    FOR EACH ROW WHEN (NEW.payout_currency IS NULL) EXECUTE FUNCTION payment_items_payout_default();
