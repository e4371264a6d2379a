-- Accounts, transfers and the chained journal: triggers.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE TRIGGER journal_entries_append_only
    BEFORE UPDATE OR DELETE ON creditledger.journal_entries
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER journal_entries_no_truncate
    BEFORE TRUNCATE ON creditledger.journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER ledger_transfers_append_only
    BEFORE UPDATE OR DELETE ON creditledger.ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER ledger_transfers_no_truncate
    BEFORE TRUNCATE ON creditledger.ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER ledger_transfers_seal
    BEFORE INSERT ON creditledger.ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION creditledger._transfer_seal();
