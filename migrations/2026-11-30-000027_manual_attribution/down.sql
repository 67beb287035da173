ALTER TABLE conversions DROP COLUMN assignment_key;
ALTER TABLE conversions DROP CONSTRAINT conversions_attribution_check;
ALTER TABLE conversions ADD CONSTRAINT conversions_attribution_check CHECK (attribution IN ('LINK', 'PROMO_CODE'));
