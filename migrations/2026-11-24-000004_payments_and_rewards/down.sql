DROP TABLE ledger_entries;
DROP TABLE rewards;
DROP TABLE reward_rules;
DROP TABLE payment_items;
DROP TABLE payments;
