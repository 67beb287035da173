-- An install of the Shopify app an admin started: Shopify sends `state` back to
-- the callback, which takes it once, before it expires, for the brand and shop it
-- names. Only the state's SHA-256 is kept.
CREATE TABLE shopify_installs (
    state_hash   TEXT PRIMARY KEY,
    brand_id     BIGINT NOT NULL REFERENCES brands (id),
    -- The admin's key, which the connection is audited as.
    api_key_id   BIGINT NOT NULL,
    shop_domain  TEXT NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    used_at      TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX shopify_installs_brand_idx ON shopify_installs (brand_id);
