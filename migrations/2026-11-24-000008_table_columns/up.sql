-- Which columns a table shows, in order, per API key: the web and the mobile app
-- of the same key show the same table.
CREATE TABLE table_columns (
    brand_id   BIGINT NOT NULL,
    api_key_id BIGINT NOT NULL,
    table_name TEXT NOT NULL CHECK (table_name IN ('OFFERS', 'MEMBERSHIPS')),
    column_names TEXT[] NOT NULL CHECK (cardinality(column_names) BETWEEN 1 AND 40),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (brand_id, api_key_id, table_name),
    FOREIGN KEY (brand_id, api_key_id) REFERENCES api_keys (brand_id, id) ON DELETE CASCADE
);
