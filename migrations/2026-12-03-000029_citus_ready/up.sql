-- Citus-ready: every key among tenant tables includes brand_id, so each table can be
-- distributed by brand. What is looked up before its brand is known lives in small
-- reference tables: brands, api_keys (a key by its digest) and link_codes (a
-- shopper's /r/{code}), which keeps link codes unique across brands.
CREATE TABLE link_codes (
    code TEXT PRIMARY KEY,
    brand_id BIGINT NOT NULL REFERENCES brands (id),
    membership_id BIGINT NOT NULL
);
INSERT INTO link_codes (code, brand_id, membership_id)
    SELECT link_code, brand_id, id FROM memberships WHERE link_code IS NOT NULL;

-- Every writer of memberships registers its code here (a taken code fails the insert).
CREATE FUNCTION link_codes_register() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO link_codes (code, brand_id, membership_id) VALUES (NEW.link_code, NEW.brand_id, NEW.id);
    RETURN NULL;
END $$;
CREATE TRIGGER memberships_link_code_registered AFTER INSERT ON memberships
    FOR EACH ROW WHEN (NEW.link_code IS NOT NULL) EXECUTE FUNCTION link_codes_register();

ALTER TABLE memberships DROP CONSTRAINT memberships_link_code_key,
    ADD CONSTRAINT memberships_brand_link_code_key UNIQUE (brand_id, link_code);

-- PayPal's batch ids are PayPal's to keep unique; ours is per brand. The webhook,
-- which knows no brand, finds the batch through the plain index.
DROP INDEX payments_provider_batch_idx;
CREATE UNIQUE INDEX payments_provider_batch_idx ON payments (brand_id, provider, provider_batch_id)
    WHERE provider_batch_id IS NOT NULL;
CREATE INDEX payments_provider_batch_lookup_idx ON payments (provider_batch_id) WHERE provider_batch_id IS NOT NULL;
