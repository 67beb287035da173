-- PayPal payouts: the provider's own batch id (PayPal's payout_batch_id) once known,
-- each item's provider status, and PARTIALLY_PAID for a batch whose items ended apart.
ALTER TABLE payments ADD COLUMN provider_batch_id TEXT CHECK (length(provider_batch_id) BETWEEN 1 AND 200);
ALTER TABLE payments DROP CONSTRAINT payments_state_check;
ALTER TABLE payments ADD CONSTRAINT payments_state_check
    CHECK (state IN ('PENDING', 'PROCESSING', 'PAID', 'PARTIALLY_PAID', 'FAILED'));
ALTER TABLE payment_items ADD COLUMN provider_status TEXT CHECK (provider_status ~ '^[A-Z_]{1,40}$');
-- PayPal's webhooks name the batch.
CREATE UNIQUE INDEX payments_provider_batch_idx ON payments (provider, provider_batch_id) WHERE provider_batch_id IS NOT NULL;
-- What reconciliation drives to a final state.
CREATE INDEX payments_unsettled_idx ON payments (created_at) WHERE state IN ('PENDING', 'PROCESSING');
