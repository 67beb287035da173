-- The discount a promo-code offer's codes give shoppers at the shop's checkout,
-- and the Shopify code discount that carries them (one per offer, one redeem code
-- per membership).
CREATE TABLE shopper_discounts (
    brand_id             BIGINT NOT NULL,
    offer_id             BIGINT NOT NULL,
    discount_type        TEXT NOT NULL CHECK (discount_type IN ('PERCENTAGE', 'FIXED_AMOUNT')),
    value                NUMERIC(12, 2) NOT NULL CHECK (value > 0),
    once_per_customer    BOOLEAN NOT NULL DEFAULT false,
    minimum_subtotal     NUMERIC(12, 2) CHECK (minimum_subtotal IS NULL OR minimum_subtotal > 0),
    -- Shopify's id of the code discount (`gid://shopify/DiscountCodeNode/…`), once made.
    shopify_discount_id  TEXT,
    -- Whether the shop's discount is active, as last set; null until set.
    shopify_active       BOOLEAN,
    -- The terms last written to Shopify differ from these while true.
    terms_changed        BOOLEAN NOT NULL DEFAULT false,
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, offer_id),
    FOREIGN KEY (brand_id, offer_id) REFERENCES offers (brand_id, id),
    CHECK (discount_type <> 'PERCENTAGE' OR value <= 100)
);

-- Where each promo code stands in the shop: SYNCED once the shop matches our
-- records (present while it attributes, absent after), FAILED with Shopify's word.
CREATE TABLE promo_code_sync (
    brand_id    BIGINT NOT NULL,
    code        TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('PENDING', 'SYNCED', 'FAILED')),
    error       TEXT,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, code)
);

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('WEBHOOK_DELIVERY', 'EMAIL_OUTBOX', 'PAYMENT_RECONCILIATION', 'LEDGER_MATURITY',
                    'CLICK_PARTITIONS', 'ALERT_EMAIL', 'EVENT_DISPATCH', 'SHOPIFY_SETUP', 'SHOPIFY_CODE_SYNC'));
