ALTER TABLE orders_awaiting_rate DROP COLUMN refunds;
