ALTER TABLE members DROP CONSTRAINT members_payout_email_check;
ALTER TABLE members ADD CONSTRAINT members_payout_email_check CHECK (payout_email ~ '^[^@\s]+@[^@\s]+$');
