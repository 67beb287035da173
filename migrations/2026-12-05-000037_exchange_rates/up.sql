-- Reference rates as published: units of `currency` one euro buys on `day` (the
-- ECB's form). Cross rates are computed through the euro when they are used.
CREATE TABLE exchange_rates (
    day date NOT NULL,
    currency text NOT NULL CHECK (currency ~ '^[A-Z]{3}$' AND currency <> 'EUR'),
    per_euro numeric NOT NULL CHECK (per_euro > 0),
    source text NOT NULL,
    fetched_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, currency)
);

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('WEBHOOK_DELIVERY', 'EMAIL_OUTBOX', 'PAYMENT_RECONCILIATION', 'LEDGER_MATURITY',
                    'CLICK_PARTITIONS', 'ALERT_EMAIL', 'EVENT_DISPATCH', 'SHOPIFY_SETUP', 'SHOPIFY_CODE_SYNC',
                    'SHOPIFY_IMPORT', 'EXCHANGE_RATES'));
