-- PayPal pays a phone number as well as an email: a payout address is either.
ALTER TABLE members DROP CONSTRAINT members_payout_email_check;
ALTER TABLE members ADD CONSTRAINT members_payout_email_check
    CHECK (payout_email ~ '^[^@\s]+@[^@\s]+$' OR payout_email ~ '^\+?[0-9]{7,15}$');
