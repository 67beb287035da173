DROP TABLE email_attempts;
DROP TABLE email_outbox;
