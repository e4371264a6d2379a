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

-- The latest result of a rule is the one of the latest run by ran_at (the
-- run's transaction start, never later than its snapshot), so a run made on
-- an old snapshot cannot hide a newer failure; every label value escaped.
CREATE OR REPLACE FUNCTION creditledger._metrics_bcp() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET extra_float_digits = 1 AS $$
    WITH latest AS (
        SELECT DISTINCT ON (r.rule) r.rule, r.severity, r.status, r.mismatches, r.run_id
          FROM creditledger.bcp_result_rows r
          JOIN creditledger.bcp_rules x ON x.name = r.rule AND x.enabled
         ORDER BY r.rule, r.ran_at DESC, r.run_id DESC
    ), lbl AS (
        SELECT replace(replace(replace(l.rule, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n') AS rule,
               replace(replace(replace(l.severity, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n') AS severity,
               replace(replace(replace(l.status, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n') AS status,
               l.mismatches
          FROM latest l
    )
    SELECT E'# HELP creditledger_bcp_runs_total Recorded BCP runs (bcp_run(record => true) and scheduled runs).\n'
        || E'# TYPE creditledger_bcp_runs_total counter\n'
        || format(E'creditledger_bcp_runs_total %s\n',
                  (SELECT count(DISTINCT run_id) FROM creditledger.bcp_result_rows))
        || E'# HELP creditledger_bcp_last_run_timestamp_seconds When the last recorded BCP run finished, seconds since the epoch.\n'
        || E'# TYPE creditledger_bcp_last_run_timestamp_seconds gauge\n'
        || coalesce((SELECT format(E'creditledger_bcp_last_run_timestamp_seconds %s\n', extract(epoch FROM max(ran_at)))
                       FROM creditledger.bcp_result_rows HAVING count(*) > 0), '')
        || E'# HELP creditledger_bcp_rule_failing 1 when the latest recorded run of an enabled BCP rule did not pass (status fail or error), else 0.\n'
        || E'# TYPE creditledger_bcp_rule_failing gauge\n'
        || coalesce((SELECT string_agg(format(E'creditledger_bcp_rule_failing{rule="%s",severity="%s",status="%s"} %s\n',
                                              rule, severity, status, (status <> 'pass')::int), '' ORDER BY rule)
                       FROM lbl), '')
        || E'# HELP creditledger_bcp_rule_mismatches Mismatching rows in the latest recorded run of an enabled BCP rule.\n'
        || E'# TYPE creditledger_bcp_rule_mismatches gauge\n'
        || coalesce((SELECT string_agg(format(E'creditledger_bcp_rule_mismatches{rule="%s",severity="%s"} %s\n',
                                              rule, severity, mismatches), '' ORDER BY rule)
                       FROM lbl WHERE mismatches IS NOT NULL), '')
        || E'# HELP creditledger_bcp_failures_total Rule results of recorded BCP runs that did not pass, by severity.\n'
        || E'# TYPE creditledger_bcp_failures_total counter\n'
        || (SELECT string_agg(format(E'creditledger_bcp_failures_total{severity="%s"} %s\n', s.severity,
                                     (SELECT count(*) FROM creditledger.bcp_result_rows r
                                       WHERE r.severity = s.severity AND r.status <> 'pass')), '' ORDER BY s.severity)
              FROM (VALUES ('critical'), ('warning')) s(severity))
$$;
