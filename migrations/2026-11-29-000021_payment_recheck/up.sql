-- When reconciliation next asks the provider about an unsettled payment: soon for a
-- new one, rarely for one waiting long (an unclaimed PayPal payout waits 30 days).
ALTER TABLE payments ADD COLUMN next_check_at TIMESTAMPTZ;
