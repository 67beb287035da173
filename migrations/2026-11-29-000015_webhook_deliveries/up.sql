-- Webhook deliveries already applied, by the shop's delivery id (Shopify's
-- X-Shopify-Webhook-Id): a redelivery of any topic changes nothing.
CREATE TABLE webhook_deliveries (
    brand_id    BIGINT NOT NULL REFERENCES brands (id),
    source      TEXT NOT NULL,
    delivery_id TEXT NOT NULL CHECK (length(delivery_id) BETWEEN 1 AND 200),
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, source, delivery_id)
);
