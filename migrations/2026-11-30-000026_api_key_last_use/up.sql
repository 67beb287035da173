-- When each key was last seen (to the minute): admins spot unused keys to revoke.
ALTER TABLE api_keys ADD COLUMN last_used_at TIMESTAMPTZ;
