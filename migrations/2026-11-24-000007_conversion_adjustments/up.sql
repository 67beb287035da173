-- Every refund and rejection applied to a conversion. `reference` is the shop's
-- refund id or the caller's idempotency key: the same one twice changes nothing.
CREATE TABLE conversion_adjustments (
    brand_id      BIGINT NOT NULL,
    id            BIGINT GENERATED ALWAYS AS IDENTITY,
    conversion_id BIGINT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('REFUND', 'REJECT')),
    sale_amount   NUMERIC(14, 2) NOT NULL CHECK (sale_amount >= 0),
    commission    NUMERIC(14, 2) NOT NULL CHECK (commission >= 0),
    reference     TEXT NOT NULL CHECK (length(reference) BETWEEN 1 AND 200),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id),
    CONSTRAINT conversion_adjustments_reference_key UNIQUE (brand_id, conversion_id, reference),
    FOREIGN KEY (brand_id, conversion_id) REFERENCES conversions (brand_id, id)
);
