-- The member count of a report (memberships that existed during the range, per
-- offer) read from the index alone.
CREATE INDEX memberships_offer_periods_idx ON memberships (brand_id, offer_id) INCLUDE (joined_at, removed_at);
