-- A code adopted from the shop keeps its own Shopify discount (not the offer's):
-- the sync keeps the code in that discount while it attributes, and takes it out after.
ALTER TABLE promo_code_sync ADD COLUMN adopted_discount_id TEXT;
