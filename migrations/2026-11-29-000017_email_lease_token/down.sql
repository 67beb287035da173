ALTER TABLE email_outbox DROP COLUMN lease_token;
