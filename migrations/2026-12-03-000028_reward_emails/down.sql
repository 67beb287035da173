DROP INDEX email_outbox_reward_idx;
ALTER TABLE email_outbox DROP COLUMN reward_id;
ALTER TABLE rewards DROP COLUMN reversal_reason;
ALTER TABLE reward_rules DROP CONSTRAINT reward_rules_email_whole, DROP COLUMN email_body, DROP COLUMN email_subject;
