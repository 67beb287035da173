DROP TRIGGER conversions_are_kept ON conversions;
DROP FUNCTION conversions_are_kept();
ALTER TABLE conversions ADD CONSTRAINT conversions_brand_id_membership_id_fkey
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id);
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_brand_id_membership_id_fkey
    FOREIGN KEY (brand_id, membership_id) REFERENCES memberships (brand_id, id);
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_brand_id_conversion_id_fkey
    FOREIGN KEY (brand_id, conversion_id) REFERENCES conversions (brand_id, id);
