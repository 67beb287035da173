-- "Email members their link or code": rendered messages wait here, written in the
-- same transaction as the request, until the sender delivers them.
CREATE TABLE email_outbox (
    brand_id        BIGINT NOT NULL,
    id              BIGINT GENERATED ALWAYS AS IDENTITY,
    membership_id   BIGINT NOT NULL,
    to_address      TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL DEFAULT 'PENDING' CHECK (status IN ('PENDING', 'SENT', 'FAILED')),
    attempts        INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    sent_at         TIMESTAMPTZ,
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id)
);
CREATE INDEX email_outbox_due_idx ON email_outbox (next_attempt_at) WHERE status = 'PENDING';

-- One row per delivery attempt: the per-member send log.
CREATE TABLE email_attempts (
    brand_id     BIGINT NOT NULL,
    id           BIGINT GENERATED ALWAYS AS IDENTITY,
    outbox_id    BIGINT NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    succeeded    BOOLEAN NOT NULL,
    error        TEXT,
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, outbox_id) REFERENCES email_outbox (brand_id, id) ON DELETE CASCADE
);
