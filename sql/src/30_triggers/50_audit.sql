-- Verification, digests and BCP reconciliation: triggers.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE TRIGGER bcp_builtin_switches_apply
    AFTER INSERT OR UPDATE ON creditledger.bcp_builtin_switches
    FOR EACH ROW EXECUTE FUNCTION creditledger._bcp_apply_switch();

CREATE TRIGGER bcp_digests_append_only
    BEFORE UPDATE OR DELETE ON creditledger.bcp_digests
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER bcp_digests_no_truncate
    BEFORE TRUNCATE ON creditledger.bcp_digests
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER bcp_digest_heads_append_only
    BEFORE UPDATE OR DELETE ON creditledger.bcp_digest_heads
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();

CREATE TRIGGER bcp_digest_heads_no_truncate
    BEFORE TRUNCATE ON creditledger.bcp_digest_heads
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();
