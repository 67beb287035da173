-- Outgoing webhooks: a brand's endpoints, the lifecycle events written with the
-- changes they report, and one delivery per event and subscribed endpoint.
CREATE TABLE webhook_endpoints (
    brand_id        BIGINT NOT NULL REFERENCES brands (id),
    id              BIGINT GENERATED ALWAYS AS IDENTITY,
    url             TEXT NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    description     TEXT NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    event_types     TEXT[] NOT NULL CHECK (cardinality(event_types) > 0),
    -- Signs every delivery (Standard Webhooks' `whsec_` + base64 key); kept to sign.
    secret          TEXT NOT NULL,
    -- Who is told when the endpoint is disabled for failing.
    alert_email     TEXT,
    enabled         BOOLEAN NOT NULL DEFAULT true,
    disabled_reason TEXT,
    -- The first failed attempt since the last success: failing for days disables it.
    failing_since   TIMESTAMPTZ,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id)
);

CREATE TABLE events (
    brand_id   BIGINT NOT NULL REFERENCES brands (id),
    id         UUID NOT NULL,
    event_type TEXT NOT NULL CHECK (event_type ~ '^[a-z_]+\.[a-z_]+$'),
    -- The public id of the object it reports: deliveries keep their order per object.
    object_id  TEXT NOT NULL,
    -- The JSON body sent, as sent: stored as text, it is neither parsed nor rebuilt.
    payload    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Written order: the dispatcher hands events to their endpoints in it.
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    -- Whether its deliveries were queued (by the dispatcher, after the change committed).
    dispatched BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (brand_id, id)
);
CREATE INDEX events_undispatched_idx ON events (seq) WHERE NOT dispatched;

CREATE TABLE event_deliveries (
    brand_id         BIGINT NOT NULL,
    id               BIGINT GENERATED ALWAYS AS IDENTITY,
    endpoint_id      BIGINT NOT NULL,
    event_id         UUID NOT NULL,
    status           TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SUCCEEDED', 'FAILED')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_status_code INTEGER,
    last_duration_ms INTEGER,
    last_error       TEXT,
    last_attempt_at  TIMESTAMPTZ,
    next_attempt_at  TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, endpoint_id) REFERENCES webhook_endpoints (brand_id, id) ON DELETE CASCADE,
    FOREIGN KEY (brand_id, event_id) REFERENCES events (brand_id, id)
);
CREATE INDEX event_deliveries_recent_idx ON event_deliveries (brand_id, endpoint_id, id DESC);

-- Every background task's work, leased by one server at a time with a token: a
-- crashed server's jobs come back when their lease lapses. A recurring kind
-- (maturity, partitions...) has one row that reschedules itself.
CREATE TABLE jobs (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('WEBHOOK_DELIVERY', 'EMAIL_OUTBOX', 'PAYMENT_RECONCILIATION',
                                               'LEDGER_MATURITY', 'CLICK_PARTITIONS', 'ALERT_EMAIL',
                                               'EVENT_DISPATCH')),
    recurring    BOOLEAN NOT NULL DEFAULT false,
    brand_id     BIGINT,
    -- The event delivery a WEBHOOK_DELIVERY job sends.
    delivery_id  BIGINT,
    -- Jobs with one key run one at a time, in id order (a webhook per endpoint and object).
    ordering_key TEXT,
    payload      JSONB NOT NULL DEFAULT '{}',
    status       TEXT NOT NULL DEFAULT 'QUEUED' CHECK (status IN ('QUEUED', 'FAILED')),
    run_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    attempts     INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    lease_token  UUID,
    leased_until TIMESTAMPTZ,
    last_error   TEXT,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX jobs_recurring_idx ON jobs (kind) WHERE recurring;
-- In the claim's order, so a claim reads the first due jobs and stops.
CREATE INDEX jobs_due_idx ON jobs (kind, run_at, id) WHERE status = 'QUEUED';
CREATE INDEX jobs_ordering_idx ON jobs (ordering_key, id) WHERE ordering_key IS NOT NULL AND status = 'QUEUED';
