-- One Send Payment. The idempotency key makes a retried request return this row.
CREATE TABLE payments (
    brand_id          BIGINT NOT NULL,
    id                BIGINT GENERATED ALWAYS AS IDENTITY,
    idempotency_key   TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    scope             TEXT NOT NULL CHECK (scope IN ('ALL_OFFERS', 'OFFER', 'MEMBERSHIPS')),
    offer_id          BIGINT,
    provider          TEXT NOT NULL DEFAULT 'MANUAL' CHECK (provider ~ '^[A-Z_]{1,32}$'),
    state             TEXT NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'PROCESSING', 'PAID', 'FAILED')),
    total_amount      NUMERIC(14, 2) NOT NULL DEFAULT 0 CHECK (total_amount >= 0),
    created_by_key_id BIGINT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    completed_at      TIMESTAMPTZ,
    PRIMARY KEY (brand_id, id),
    CONSTRAINT payments_idempotency_key UNIQUE (brand_id, idempotency_key),
    FOREIGN KEY (brand_id, offer_id) REFERENCES offers (brand_id, id),
    FOREIGN KEY (brand_id, created_by_key_id) REFERENCES api_keys (brand_id, id),
    CONSTRAINT payments_offer_scope_has_offer CHECK ((scope = 'OFFER') = (offer_id IS NOT NULL))
);

CREATE TABLE payment_items (
    brand_id           BIGINT NOT NULL,
    id                 BIGINT GENERATED ALWAYS AS IDENTITY,
    payment_id         BIGINT NOT NULL,
    membership_id      BIGINT NOT NULL,
    amount             NUMERIC(14, 2) NOT NULL CHECK (amount > 0),
    state              TEXT NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'PROCESSING', 'PAID', 'FAILED')),
    provider_reference TEXT,
    PRIMARY KEY (brand_id, id),
    UNIQUE (brand_id, payment_id, membership_id),
    FOREIGN KEY (brand_id, payment_id) REFERENCES payments (brand_id, id),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id)
);

-- Automatic rewards on an offer, granted once per membership and occurrence.
CREATE TABLE reward_rules (
    brand_id         BIGINT NOT NULL,
    id               BIGINT GENERATED ALWAYS AS IDENTITY,
    offer_id         BIGINT NOT NULL,
    trigger          TEXT NOT NULL CHECK (trigger IN ('FIRST_CONVERSION', 'EVERY_N_CONVERSIONS', 'SALES_OVER_AMOUNT')),
    every_n          INTEGER CHECK (every_n > 0),
    sales_threshold  NUMERIC(14, 2) CHECK (sales_threshold > 0),
    reward_kind      TEXT NOT NULL CHECK (reward_kind IN ('CASH_BONUS', 'FREE_PRODUCT', 'DISCOUNT_CODE')),
    cash_amount      NUMERIC(14, 2) CHECK (cash_amount > 0),
    description      TEXT NOT NULL DEFAULT '',
    active           BOOLEAN NOT NULL DEFAULT true,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, offer_id) REFERENCES offers (brand_id, id),
    CONSTRAINT reward_rules_trigger_complete CHECK (
        (trigger = 'FIRST_CONVERSION' AND every_n IS NULL AND sales_threshold IS NULL)
        OR (trigger = 'EVERY_N_CONVERSIONS' AND every_n IS NOT NULL AND sales_threshold IS NULL)
        OR (trigger = 'SALES_OVER_AMOUNT' AND sales_threshold IS NOT NULL AND every_n IS NULL)),
    CONSTRAINT reward_rules_cash_has_amount CHECK ((reward_kind = 'CASH_BONUS') = (cash_amount IS NOT NULL))
);

CREATE TABLE rewards (
    brand_id          BIGINT NOT NULL,
    id                BIGINT GENERATED ALWAYS AS IDENTITY,
    membership_id     BIGINT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('CASH_BONUS', 'FREE_PRODUCT', 'DISCOUNT_CODE')),
    cash_amount       NUMERIC(14, 2) CHECK (cash_amount > 0),
    description       TEXT NOT NULL DEFAULT '',
    discount_code     TEXT,
    reward_rule_id    BIGINT,
    -- Which crossing of the rule this is (1 for the first N conversions, 2 for the next N...).
    rule_occurrence   INTEGER,
    granted_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id),
    FOREIGN KEY (brand_id, reward_rule_id) REFERENCES reward_rules (brand_id, id),
    CONSTRAINT rewards_granted_once UNIQUE (brand_id, reward_rule_id, membership_id, rule_occurrence),
    CONSTRAINT rewards_cash_has_amount CHECK ((kind = 'CASH_BONUS') = (cash_amount IS NOT NULL)),
    CONSTRAINT rewards_discount_has_code CHECK (kind <> 'DISCOUNT_CODE' OR discount_code IS NOT NULL),
    CONSTRAINT rewards_rule_has_occurrence CHECK ((reward_rule_id IS NULL) = (rule_occurrence IS NULL))
);

-- Commission owed to a membership. Earned entries are positive; a refund after
-- payment is a negative CLAWBACK entry. An entry with payment_item_id set is paid
-- and is never edited again. Balances are sums over these rows.
CREATE TABLE ledger_entries (
    brand_id        BIGINT NOT NULL,
    id              BIGINT GENERATED ALWAYS AS IDENTITY,
    membership_id   BIGINT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('CONVERSION', 'CLICKS', 'REWARD', 'CLAWBACK')),
    amount          NUMERIC(14, 2) NOT NULL,
    conversion_id   BIGINT,
    reward_id       BIGINT,
    earned_at       TIMESTAMPTZ NOT NULL,
    payable_at      TIMESTAMPTZ NOT NULL,
    payment_item_id BIGINT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id),
    FOREIGN KEY (brand_id, conversion_id) REFERENCES conversions (brand_id, id),
    FOREIGN KEY (brand_id, reward_id) REFERENCES rewards (brand_id, id),
    FOREIGN KEY (brand_id, payment_item_id) REFERENCES payment_items (brand_id, id),
    CONSTRAINT ledger_entries_sign CHECK ((kind = 'CLAWBACK' AND amount < 0) OR (kind <> 'CLAWBACK' AND amount >= 0)),
    CONSTRAINT ledger_entries_source CHECK (
        (kind IN ('CONVERSION', 'CLAWBACK') AND conversion_id IS NOT NULL AND reward_id IS NULL)
        OR (kind = 'REWARD' AND reward_id IS NOT NULL AND conversion_id IS NULL)
        OR (kind = 'CLICKS' AND conversion_id IS NULL AND reward_id IS NULL))
);
-- At most one earning entry per conversion; clawbacks may be several.
CREATE UNIQUE INDEX ledger_entries_one_per_conversion ON ledger_entries (brand_id, conversion_id) WHERE kind = 'CONVERSION';
CREATE INDEX ledger_entries_unpaid_idx ON ledger_entries (brand_id, membership_id, payable_at) WHERE payment_item_id IS NULL;
CREATE INDEX ledger_entries_payment_item_idx ON ledger_entries (brand_id, payment_item_id) WHERE payment_item_id IS NOT NULL;
