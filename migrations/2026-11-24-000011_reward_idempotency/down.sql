DROP INDEX reward_rules_offer_idx;
DROP INDEX rewards_membership_idx;
ALTER TABLE rewards DROP CONSTRAINT rewards_idempotency_key;
ALTER TABLE rewards DROP COLUMN idempotency_key;
