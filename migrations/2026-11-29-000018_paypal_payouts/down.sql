DROP INDEX payments_provider_batch_idx;
DROP INDEX payments_unsettled_idx;
ALTER TABLE payment_items DROP COLUMN provider_status;
ALTER TABLE payments DROP CONSTRAINT payments_state_check;
ALTER TABLE payments ADD CONSTRAINT payments_state_check
    CHECK (state IN ('PENDING', 'PROCESSING', 'PAID', 'FAILED'));
ALTER TABLE payments DROP COLUMN provider_batch_id;
