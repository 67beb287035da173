-- Imports of a Shopify store's order history. One runs per brand at a time; it
-- goes page by page, each page's orders booked in the transaction that moves
-- `after` on, so a stopped import resumes where it stood.
CREATE TABLE shopify_imports (
    brand_id          BIGINT NOT NULL REFERENCES brands (id),
    id                BIGINT GENERATED ALWAYS AS IDENTITY,
    shop_domain       TEXT NOT NULL,
    -- The orders created in [starts_at, ends_at).
    starts_at         TIMESTAMPTZ NOT NULL,
    ends_at           TIMESTAMPTZ NOT NULL CHECK (ends_at > starts_at),
    -- False: commissions already past their hold period were paid outside Sales Tracking.
    payable           BOOLEAN NOT NULL,
    state             TEXT NOT NULL CHECK (state IN ('RUNNING', 'DONE', 'FAILED')),
    -- Shopify's cursor after the last page booked; null before the first.
    after             TEXT,
    -- Orders in the range, as Shopify counted them when the import began.
    total             INT,
    processed         INT NOT NULL DEFAULT 0,
    recorded          INT NOT NULL DEFAULT 0,
    already_recorded  INT NOT NULL DEFAULT 0,
    -- Orders that could not be booked (e.g. in another currency than the brand's).
    skipped           INT NOT NULL DEFAULT 0,
    -- The payment that marks commissions as settled outside, once one is.
    payment_id        BIGINT,
    error             TEXT,
    created_by_key_id BIGINT,
    started_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at       TIMESTAMPTZ,
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, payment_id) REFERENCES payments (brand_id, id),
    FOREIGN KEY (brand_id, created_by_key_id) REFERENCES api_keys (brand_id, id)
);
CREATE UNIQUE INDEX shopify_imports_one_running ON shopify_imports (brand_id) WHERE state = 'RUNNING';

-- What an import books as paid outside is one PAID payment of its own scope.
ALTER TABLE payments DROP CONSTRAINT payments_scope_check;
ALTER TABLE payments ADD CONSTRAINT payments_scope_check
    CHECK (scope IN ('ALL_OFFERS', 'ACTIVE_OFFERS', 'OFFER', 'MEMBERSHIPS', 'SHOP_IMPORT'));

-- The command line acts without an API key (`sales-tracking import-shopify`).
ALTER TABLE audit_events ALTER COLUMN api_key_id DROP NOT NULL;

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('WEBHOOK_DELIVERY', 'EMAIL_OUTBOX', 'PAYMENT_RECONCILIATION', 'LEDGER_MATURITY',
                    'CLICK_PARTITIONS', 'ALERT_EMAIL', 'EVENT_DISPATCH', 'SHOPIFY_SETUP', 'SHOPIFY_CODE_SYNC',
                    'SHOPIFY_IMPORT'));
