-- Refunds of an order still awaiting its rate: kept with it, applied when it is
-- recorded. Each is {"reference": …, "amount": "12.50" | null (all that is left)},
-- in the order's own currency.
ALTER TABLE orders_awaiting_rate ADD COLUMN refunds JSONB NOT NULL DEFAULT '[]';
