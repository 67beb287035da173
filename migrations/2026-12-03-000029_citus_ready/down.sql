DROP INDEX payments_provider_batch_lookup_idx;
DROP INDEX payments_provider_batch_idx;
CREATE UNIQUE INDEX payments_provider_batch_idx ON payments (provider, provider_batch_id) WHERE provider_batch_id IS NOT NULL;
ALTER TABLE memberships DROP CONSTRAINT memberships_brand_link_code_key,
    ADD CONSTRAINT memberships_link_code_key UNIQUE (link_code);
DROP TRIGGER memberships_link_code_registered ON memberships;
DROP FUNCTION link_codes_register();
DROP TABLE link_codes;
