ALTER TABLE payments DROP COLUMN next_check_at;
