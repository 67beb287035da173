ALTER TABLE payments DROP CONSTRAINT payments_scope_check;
ALTER TABLE payments ADD CONSTRAINT payments_scope_check
    CHECK (scope IN ('ALL_OFFERS', 'OFFER', 'MEMBERSHIPS'));
