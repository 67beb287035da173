-- An unattributed order credited by hand to a membership (assignConversion), once
-- per idempotency key.
ALTER TABLE conversions DROP CONSTRAINT conversions_attribution_check;
ALTER TABLE conversions ADD CONSTRAINT conversions_attribution_check
    CHECK (attribution IN ('LINK', 'PROMO_CODE', 'MANUAL'));
ALTER TABLE conversions ADD COLUMN assignment_key TEXT CHECK (length(assignment_key) BETWEEN 1 AND 200);
