-- A rule's reward is taken back when a refund or rejection un-crosses the rule;
-- crossing it again grants a new one. A cash reward already paid is clawed back
-- by a CLAWBACK entry that names the reward.
ALTER TABLE rewards ADD COLUMN reversed_at TIMESTAMPTZ;
ALTER TABLE rewards DROP CONSTRAINT rewards_granted_once;
CREATE UNIQUE INDEX rewards_granted_once ON rewards (brand_id, reward_rule_id, membership_id, rule_occurrence)
    WHERE reversed_at IS NULL;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_source;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_source CHECK (
    (kind = 'CONVERSION' AND conversion_id IS NOT NULL AND reward_id IS NULL)
    OR (kind = 'CLAWBACK' AND (conversion_id IS NULL) <> (reward_id IS NULL))
    OR (kind = 'REWARD' AND reward_id IS NOT NULL AND conversion_id IS NULL)
    OR (kind = 'CLICKS' AND conversion_id IS NULL AND reward_id IS NULL));
