-- Free-product and discount-code rewards are emailed to the member through the
-- outbox (a rule may carry its own message), and a reward can be revoked by hand.
ALTER TABLE reward_rules
    ADD COLUMN email_subject TEXT CHECK (length(email_subject) BETWEEN 1 AND 200),
    ADD COLUMN email_body TEXT CHECK (length(email_body) BETWEEN 1 AND 20000),
    ADD CONSTRAINT reward_rules_email_whole CHECK ((email_subject IS NULL) = (email_body IS NULL));
ALTER TABLE rewards ADD COLUMN reversal_reason TEXT CHECK (length(reversal_reason) BETWEEN 1 AND 500);
ALTER TABLE email_outbox ADD COLUMN reward_id BIGINT,
    ADD CONSTRAINT email_outbox_reward_fk FOREIGN KEY (brand_id, reward_id) REFERENCES rewards (brand_id, id);
CREATE INDEX email_outbox_reward_idx ON email_outbox (brand_id, reward_id) WHERE reward_id IS NOT NULL;
