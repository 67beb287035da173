-- ACTIVE_OFFERS: what the home page's Payments Due shows (every active offer, or the home filter's offers).
ALTER TABLE payments DROP CONSTRAINT payments_scope_check;
ALTER TABLE payments ADD CONSTRAINT payments_scope_check
    CHECK (scope IN ('ALL_OFFERS', 'ACTIVE_OFFERS', 'OFFER', 'MEMBERSHIPS'));
