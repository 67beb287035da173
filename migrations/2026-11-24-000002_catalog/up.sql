CREATE TABLE projects (
    brand_id   BIGINT NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    id         BIGINT GENERATED ALWAYS AS IDENTITY,
    name       TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id)
);
CREATE UNIQUE INDEX projects_brand_name_key ON projects (brand_id, lower(name));

CREATE TABLE members (
    brand_id     BIGINT NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    id           BIGINT GENERATED ALWAYS AS IDENTITY,
    name         TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    email        TEXT NOT NULL CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    payout_email TEXT CHECK (payout_email ~ '^[^@\s]+@[^@\s]+$'),
    country      TEXT CHECK (country ~ '^[A-Z]{2}$'),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id)
);
CREATE UNIQUE INDEX members_brand_email_key ON members (brand_id, lower(email));

-- A payout rule is a type plus the values that type needs; the checks keep them consistent.
-- The same three columns appear on offers (the default), memberships (an override)
-- and conversions (the rule a commission was computed with).
CREATE TABLE offers (
    brand_id                BIGINT NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    id                      BIGINT GENERATED ALWAYS AS IDENTITY,
    name                    TEXT NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    offer_type              TEXT NOT NULL CHECK (offer_type IN ('SALES_LINK', 'PROMO_CODE')),
    -- EXPIRED is not stored: it follows from ends_on.
    status                  TEXT NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'PAUSED', 'ARCHIVED')),
    destination_url         TEXT CHECK (destination_url ~ '^https?://'),
    code_prefix             TEXT CHECK (code_prefix ~ '^[A-Z0-9]{1,20}$'),
    payout_type             TEXT NOT NULL CHECK (payout_type IN ('PERCENT_OF_SALE', 'FLAT_PER_CONVERSION', 'FLAT_PER_CLICK', 'PERCENT_PLUS_FLAT')),
    payout_percent          NUMERIC(7, 4) CHECK (payout_percent >= 0 AND payout_percent <= 100),
    payout_flat             NUMERIC(14, 2) CHECK (payout_flat >= 0),
    attribution_window_days INTEGER NOT NULL DEFAULT 30 CHECK (attribution_window_days BETWEEN 1 AND 365),
    hold_period_days        INTEGER NOT NULL DEFAULT 30 CHECK (hold_period_days BETWEEN 0 AND 365),
    starts_on               DATE NOT NULL,
    ends_on                 DATE,
    created_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at              TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id),
    CONSTRAINT offers_dates_ordered CHECK (ends_on IS NULL OR ends_on >= starts_on),
    CONSTRAINT offers_link_has_destination CHECK (offer_type <> 'SALES_LINK' OR destination_url IS NOT NULL),
    CONSTRAINT offers_code_has_prefix CHECK (offer_type <> 'PROMO_CODE' OR code_prefix IS NOT NULL),
    CONSTRAINT offers_click_payout_needs_link CHECK (payout_type <> 'FLAT_PER_CLICK' OR offer_type = 'SALES_LINK'),
    CONSTRAINT offers_payout_complete CHECK (
        (payout_type = 'PERCENT_OF_SALE' AND payout_percent IS NOT NULL AND payout_flat IS NULL)
        OR (payout_type IN ('FLAT_PER_CONVERSION', 'FLAT_PER_CLICK') AND payout_flat IS NOT NULL AND payout_percent IS NULL)
        OR (payout_type = 'PERCENT_PLUS_FLAT' AND payout_percent IS NOT NULL AND payout_flat IS NOT NULL))
);
CREATE INDEX offers_brand_name_idx ON offers (brand_id, lower(name));

CREATE TABLE offer_projects (
    brand_id   BIGINT NOT NULL,
    offer_id   BIGINT NOT NULL,
    project_id BIGINT NOT NULL,
    PRIMARY KEY (brand_id, offer_id, project_id),
    FOREIGN KEY (brand_id, offer_id) REFERENCES offers (brand_id, id) ON DELETE CASCADE,
    FOREIGN KEY (brand_id, project_id) REFERENCES projects (brand_id, id) ON DELETE CASCADE
);
CREATE INDEX offer_projects_project_idx ON offer_projects (brand_id, project_id);

-- A member in an offer. Removing keeps the row (removed_at) so history stays.
-- Link codes are unique across brands because /r/{code} carries no brand.
CREATE TABLE memberships (
    brand_id       BIGINT NOT NULL,
    id             BIGINT GENERATED ALWAYS AS IDENTITY,
    offer_id       BIGINT NOT NULL,
    member_id      BIGINT NOT NULL,
    active         BOOLEAN NOT NULL DEFAULT true,
    link_code      TEXT UNIQUE CHECK (link_code ~ '^[a-z0-9][a-z0-9-]{2,63}$'),
    payout_type    TEXT CHECK (payout_type IN ('PERCENT_OF_SALE', 'FLAT_PER_CONVERSION', 'FLAT_PER_CLICK', 'PERCENT_PLUS_FLAT')),
    payout_percent NUMERIC(7, 4) CHECK (payout_percent >= 0 AND payout_percent <= 100),
    payout_flat    NUMERIC(14, 2) CHECK (payout_flat >= 0),
    joined_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    removed_at     TIMESTAMPTZ,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, id),
    UNIQUE (brand_id, offer_id, member_id),
    FOREIGN KEY (brand_id, offer_id) REFERENCES offers (brand_id, id),
    FOREIGN KEY (brand_id, member_id) REFERENCES members (brand_id, id),
    CONSTRAINT memberships_removed_after_joined CHECK (removed_at IS NULL OR removed_at >= joined_at),
    CONSTRAINT memberships_payout_override_complete CHECK (
        (payout_type IS NULL AND payout_percent IS NULL AND payout_flat IS NULL)
        OR (payout_type = 'PERCENT_OF_SALE' AND payout_percent IS NOT NULL AND payout_flat IS NULL)
        OR (payout_type IN ('FLAT_PER_CONVERSION', 'FLAT_PER_CLICK') AND payout_flat IS NOT NULL AND payout_percent IS NULL)
        OR (payout_type = 'PERCENT_PLUS_FLAT' AND payout_percent IS NOT NULL AND payout_flat IS NOT NULL))
);
CREATE INDEX memberships_member_idx ON memberships (brand_id, member_id);

-- Every promo code ever issued. The membership's current code is its one row
-- with disabled_at IS NULL; a code is never issued twice in a brand.
CREATE TABLE promo_codes (
    brand_id      BIGINT NOT NULL,
    id            BIGINT GENERATED ALWAYS AS IDENTITY,
    membership_id BIGINT NOT NULL,
    code          TEXT NOT NULL CHECK (code ~ '^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$'),
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    disabled_at   TIMESTAMPTZ,
    PRIMARY KEY (brand_id, id),
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id)
);
CREATE UNIQUE INDEX promo_codes_brand_code_key ON promo_codes (brand_id, lower(code));
CREATE UNIQUE INDEX promo_codes_one_current_per_membership ON promo_codes (brand_id, membership_id) WHERE disabled_at IS NULL;
