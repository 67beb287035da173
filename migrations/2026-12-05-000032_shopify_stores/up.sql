-- A brand's Shopify store: how it was connected and the Admin API token, sealed
-- (AES-256-GCM under the server's secrets key: `v1.<key id>.<nonce and ciphertext>`).
CREATE TABLE shopify_stores (
    brand_id        BIGINT PRIMARY KEY REFERENCES brands (id),
    shop_domain     TEXT NOT NULL CHECK (shop_domain ~ '^[a-z0-9][a-z0-9-]*\.myshopify\.com$'),
    -- The shop's own name, as Shopify gave it when the token was checked.
    shop_name       TEXT NOT NULL,
    sealed_token    TEXT NOT NULL,
    scopes          TEXT[] NOT NULL DEFAULT '{}',
    connected_via   TEXT NOT NULL CHECK (connected_via IN ('ACCESS_TOKEN', 'APP_INSTALL')),
    status          TEXT NOT NULL CHECK (status IN ('CONNECTED', 'DISCONNECTED')),
    -- When the server last finished a round of work with the shop, and its last failure.
    last_synced_at  TIMESTAMPTZ,
    last_error      TEXT,
    connected_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- One brand per connected shop: its webhooks name one brand.
CREATE UNIQUE INDEX shopify_stores_shop_domain_key ON shopify_stores (shop_domain) WHERE status = 'CONNECTED';

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('WEBHOOK_DELIVERY', 'EMAIL_OUTBOX', 'PAYMENT_RECONCILIATION', 'LEDGER_MATURITY',
                    'CLICK_PARTITIONS', 'ALERT_EMAIL', 'EVENT_DISPATCH', 'SHOPIFY_SETUP'));
