-- The tenant. Every other table carries brand_id and keys on it.
CREATE TABLE brands (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    slug           TEXT NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name           TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    time_zone      TEXT NOT NULL,
    currency       TEXT NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    webhook_secret TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Keys are high-entropy random tokens, so a SHA-256 digest is enough to store them.
CREATE TABLE api_keys (
    brand_id     BIGINT NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    id           BIGINT GENERATED ALWAYS AS IDENTITY,
    role         TEXT NOT NULL CHECK (role IN ('ADMIN', 'ANALYST')),
    key_hash     BYTEA NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix   TEXT NOT NULL,
    label        TEXT NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at   TIMESTAMPTZ,
    PRIMARY KEY (brand_id, id)
);
