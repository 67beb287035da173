ALTER TABLE promo_code_sync DROP COLUMN adopted_discount_id;
