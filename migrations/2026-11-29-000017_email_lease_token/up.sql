-- Who holds a claimed message: the final update of a send must come from the
-- holder of the current lease, so a sender whose lease lapsed records nothing.
ALTER TABLE email_outbox ADD COLUMN lease_token UUID;
