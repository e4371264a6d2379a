-- Money holds: pending transfers, funds holds, account blocks: triggers.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE TRIGGER hold_entries_append_only
    BEFORE UPDATE OR DELETE ON creditledger.hold_entries
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER hold_entries_no_truncate
    BEFORE TRUNCATE ON creditledger.hold_entries
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER hold_operations_append_only
    BEFORE UPDATE OR DELETE ON creditledger.hold_operations
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER hold_operations_no_truncate
    BEFORE TRUNCATE ON creditledger.hold_operations
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();
