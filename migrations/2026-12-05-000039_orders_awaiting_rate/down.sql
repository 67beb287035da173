DROP TABLE orders_awaiting_rate;
