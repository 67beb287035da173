DROP TABLE order_tallies;
DROP TRIGGER membership_balances_on_insert ON ledger_entries;
CREATE TRIGGER membership_balances_on_insert AFTER INSERT ON ledger_entries
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION membership_balances_follow();
