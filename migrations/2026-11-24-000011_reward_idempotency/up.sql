-- A reward granted by hand carries the request's idempotency key: retrying the
-- grant returns the first reward instead of paying a second bonus.
ALTER TABLE rewards ADD COLUMN idempotency_key TEXT CHECK (length(idempotency_key) BETWEEN 1 AND 200);
ALTER TABLE rewards ADD CONSTRAINT rewards_idempotency_key UNIQUE (brand_id, idempotency_key);
CREATE INDEX rewards_membership_idx ON rewards (brand_id, membership_id);
CREATE INDEX reward_rules_offer_idx ON reward_rules (brand_id, offer_id);
