-- Click ids are UUIDv7 made by the server, so the redirect can hand one out
-- before the batch that stores it commits.
CREATE TABLE clicks (
    brand_id      BIGINT NOT NULL,
    id            UUID NOT NULL,
    membership_id BIGINT NOT NULL,
    clicked_at    TIMESTAMPTZ NOT NULL,
    ip_hash       BYTEA,
    user_agent    TEXT NOT NULL DEFAULT '',
    is_bot        BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id)
);
CREATE INDEX clicks_membership_time_idx ON clicks (brand_id, membership_id, clicked_at);

-- An order. membership_id is NULL for an unattributed order, which earns nothing.
-- sale_amount and commission are current values (lowered by partial refunds);
-- the original_* columns keep what was first recorded.
CREATE TABLE conversions (
    brand_id             BIGINT NOT NULL,
    id                   BIGINT GENERATED ALWAYS AS IDENTITY,
    source               TEXT NOT NULL CHECK (source ~ '^[a-z0-9][a-z0-9_-]{0,31}$'),
    external_order_id    TEXT NOT NULL CHECK (length(external_order_id) BETWEEN 1 AND 200),
    membership_id        BIGINT,
    occurred_at          TIMESTAMPTZ NOT NULL,
    currency             TEXT NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    original_sale_amount NUMERIC(14, 2) NOT NULL CHECK (original_sale_amount >= 0),
    sale_amount          NUMERIC(14, 2) NOT NULL CHECK (sale_amount >= 0),
    original_commission  NUMERIC(14, 2) NOT NULL DEFAULT 0 CHECK (original_commission >= 0),
    commission           NUMERIC(14, 2) NOT NULL DEFAULT 0 CHECK (commission >= 0),
    status               TEXT NOT NULL DEFAULT 'ACCEPTED' CHECK (status IN ('ACCEPTED', 'REJECTED', 'REVERSED')),
    rejection_reason     TEXT,
    attribution          TEXT CHECK (attribution IN ('LINK', 'PROMO_CODE')),
    click_id             UUID,
    promo_code           TEXT,
    payout_type          TEXT CHECK (payout_type IN ('PERCENT_OF_SALE', 'FLAT_PER_CONVERSION', 'FLAT_PER_CLICK', 'PERCENT_PLUS_FLAT')),
    payout_percent       NUMERIC(7, 4),
    payout_flat          NUMERIC(14, 2),
    created_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id),
    CONSTRAINT conversions_external_order_key UNIQUE (brand_id, source, external_order_id),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id),
    CONSTRAINT conversions_refund_not_above_original CHECK (sale_amount <= original_sale_amount AND commission <= original_commission),
    CONSTRAINT conversions_attributed_consistently CHECK ((membership_id IS NULL) = (attribution IS NULL)),
    CONSTRAINT conversions_rule_when_attributed CHECK (membership_id IS NULL OR payout_type IS NOT NULL),
    CONSTRAINT conversions_rejection_has_reason CHECK ((status = 'REJECTED') = (rejection_reason IS NOT NULL))
);
CREATE INDEX conversions_membership_time_idx ON conversions (brand_id, membership_id, occurred_at);
CREATE INDEX conversions_unattributed_idx ON conversions (brand_id, occurred_at) WHERE membership_id IS NULL;
