-- Credit lines: triggers.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE TRIGGER credit_journal_entries_append_only
    BEFORE UPDATE OR DELETE ON creditledger.credit_journal_entries
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER credit_journal_entries_no_truncate
    BEFORE TRUNCATE ON creditledger.credit_journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();
