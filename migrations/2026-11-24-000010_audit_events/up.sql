-- Who (API key) changed what and when: every mutation that touches money, codes or
-- memberships writes one row in its own transaction.
CREATE TABLE audit_events (
    brand_id   BIGINT NOT NULL,
    id         BIGINT GENERATED ALWAYS AS IDENTITY,
    api_key_id BIGINT NOT NULL,
    action     TEXT NOT NULL CHECK (action ~ '^[a-zA-Z]{1,64}$'),
    details    JSONB NOT NULL DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, api_key_id) REFERENCES api_keys (brand_id, id)
);
