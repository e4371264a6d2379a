--------------------------------------------------------------------------
-- BCP runs in C (bcp_run.c): rule text checked by parsing, never EXECUTEd
-- by a definer; rules run with the caller's rights (user rules as
-- creditledger_bcp_runner when the caller is a superuser), all against one
-- snapshot, read-only, each under creditledger.bcp_rule_timeout; history
-- written only by a real run, as the table's owner, from C.  The SQL-callable
-- helpers that let a role write history or run text as the owner are gone.
--------------------------------------------------------------------------

DROP FUNCTION creditledger._bcp_record(bigint, text, text, text, bigint, jsonb, double precision);
DROP FUNCTION creditledger._bcp_new_run();
DROP FUNCTION creditledger._bcp_check_rule_sql(text);
DROP FUNCTION creditledger._bcp_scheduled_run();

CREATE OR REPLACE FUNCTION creditledger.bcp_add_rule(name text, check_sql text,
        description text DEFAULT NULL, severity text DEFAULT 'critical')
RETURNS void AS 'MODULE_PATHNAME', 'cl_bcp_add_rule'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.bcp_add_rule(text, text, text, text) IS
    'Adds (or replaces) a user BCP rule: check_sql must parse as exactly one read-only SELECT or VALUES and plan with the caller''s rights (22023 if not); 42710 for a built-in name.';

CREATE OR REPLACE FUNCTION creditledger.bcp_run(rules text[] DEFAULT NULL, record boolean DEFAULT true)
RETURNS TABLE(rule text, severity text, status text, mismatches bigint, sample jsonb,
              duration_ms double precision)
AS 'MODULE_PATHNAME', 'cl_bcp_run'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp SET jit = off;
COMMENT ON FUNCTION creditledger.bcp_run(text[], boolean) IS
    'Runs the enabled BCP rules (or the named ones) against one snapshot, read-only, each under creditledger.bcp_rule_timeout, with the caller''s rights (user rules as creditledger_bcp_runner when the caller is a superuser); one NOTICE per rule as progress; an erroring rule has status error. record => true appends the results to bcp_results; record => false writes nothing (works on a hot standby).';
