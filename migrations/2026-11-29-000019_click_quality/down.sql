DROP TABLE click_visitors;
ALTER TABLE clicks DROP CONSTRAINT clicks_paid_or_why_not;
ALTER TABLE clicks DROP COLUMN unpaid_reason;
ALTER TABLE clicks DROP COLUMN commission;
