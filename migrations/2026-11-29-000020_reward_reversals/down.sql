ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_source;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_source CHECK (
    (kind IN ('CONVERSION', 'CLAWBACK') AND conversion_id IS NOT NULL AND reward_id IS NULL)
    OR (kind = 'REWARD' AND reward_id IS NOT NULL AND conversion_id IS NULL)
    OR (kind = 'CLICKS' AND conversion_id IS NULL AND reward_id IS NULL));
DROP INDEX rewards_granted_once;
ALTER TABLE rewards ADD CONSTRAINT rewards_granted_once UNIQUE (brand_id, reward_rule_id, membership_id, rule_occurrence);
ALTER TABLE rewards DROP COLUMN reversed_at;
