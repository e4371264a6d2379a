-- Monitoring: statistics views, metrics(), alert thresholds: views and SQL-language functions (created after the tables and functions they read).
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE VIEW creditledger.stat_workers AS
SELECT w.database, w.worker, w.pid, w.state, w.started_at, w.last_cycle_at,
       w.cycles, w.postings_flushed, w.holds_expired, w.errors, w.last_error
  FROM creditledger.stat_workers() w;
COMMENT ON VIEW creditledger.stat_workers IS
    'Background workers: database served, pid (NULL when not running), state (not started, starting, idle, flushing, sweeping, paused, waiting for extension, stopped), cycles, buffered postings applied, holds expired, errors and the last error; counters are cumulative since server start.';

CREATE VIEW creditledger.stat_hot_accounts AS
SELECT a.account_id, a.code, a.hot_mode, a.shards,
       coalesce(b.count, 0)::bigint AS buffered_count,
       coalesce(b.amount, 0)::bigint AS buffered_amount,
       clock_timestamp() - b.oldest AS oldest_buffered_age,
       coalesce(h.flushes, 0) AS flushes,
       coalesce(h.flushed_postings, 0) AS flushed_postings,
       h.last_flush_at,
       coalesce(h.skip_locked_retries, 0) AS skip_locked_retries,
       coalesce(h.sweeps, 0) AS sweeps
  FROM creditledger.ledger_accounts a
  LEFT JOIN creditledger.stat_hot_accounts_raw() h USING (account_id)
  LEFT JOIN LATERAL (SELECT count(*) AS count, sum(pb.amount) AS amount,
                            min(pb.accepted_at) AS oldest
                       FROM creditledger.posting_buffer pb
                      WHERE pb.account_id = a.account_id) b ON true
 WHERE (a.hot_mode <> 'none' OR h.account_id IS NOT NULL)
   -- evaluated once, before any join: without the preloaded library the
   -- view raises 55000 (with its hint) even when there are no accounts
   AND (SELECT count(*) FROM creditledger.stat_hot_accounts_raw()) >= 0;
COMMENT ON VIEW creditledger.stat_hot_accounts IS
    'Hot accounts: what is buffered now (count, amount, age of the oldest) and, since the last stat_reset(), flushes, postings flushed, last flush, sub-accounts passed over as locked (SKIP LOCKED retries) and sweeps.';

-- Error kinds: business (classes LD and 22: refusals the ledger must make),
-- client (the caller's own limits: cancellation and statement timeout
-- 57014, lock timeout 55P03, idle-in-transaction timeout 25P03) and system
-- (deadlocks, serialization failures, internal errors, out of resources,
-- everything else).

-- The kind is spelt out in this view and in stat_error_thresholds (a
-- function would need its own EXECUTE grant for every reader of the views).
CREATE VIEW creditledger.stat_errors AS
SELECT e.operation, e.sqlstate,
       CASE WHEN pg_catalog.left(e.sqlstate, 2) IN ('LD', '22') THEN 'business'
            WHEN e.sqlstate IN ('57014', '55P03', '25P03') THEN 'client'
            ELSE 'system' END AS kind,
       e.count
  FROM creditledger.stat_errors_raw() e;
COMMENT ON VIEW creditledger.stat_errors IS
    'Errors per API function and SQLSTATE since the last stat_reset(); kind business (classes LD and 22: refusals the ledger must make), client (57014, 55P03, 25P03: cancellations and timeouts the caller set) or system (deadlocks, serialization failures, internal errors, out of resources, anything else).';

-- stat_operations_raw() returns every operation, zeros included (its
-- counters exist from startup, for metrics()); the view lists the
-- operations called since the last reset.
CREATE VIEW creditledger.stat_operations AS
SELECT o.operation, o.calls, o.errors,
       o.total_seconds / NULLIF(o.calls, 0) * 1000 AS mean_ms,
       creditledger.stat_quantile(o.buckets, creditledger.stat_latency_bounds(), 0.50, o.max_seconds) * 1000 AS p50_ms,
       creditledger.stat_quantile(o.buckets, creditledger.stat_latency_bounds(), 0.95, o.max_seconds) * 1000 AS p95_ms,
       creditledger.stat_quantile(o.buckets, creditledger.stat_latency_bounds(), 0.99, o.max_seconds) * 1000 AS p99_ms,
       o.max_seconds * 1000 AS max_ms,
       o.last_error_sqlstate, o.since
  FROM creditledger.stat_operations_raw() o
 WHERE o.calls > 0;
COMMENT ON VIEW creditledger.stat_operations IS
    'Per API function called since the last stat_reset(): calls, errors, mean and max latency, and p50/p95/p99 from a fixed log-scale histogram (ms). The extension''s own calls (the worker''s hold expiry, BCP runs) are not counted. stat_operations_raw() lists every function, zeros included.';

-- setup_roles() grants this view and alert_thresholds to the auditor, and
-- INSERT, UPDATE, DELETE on alert_thresholds to the admin.
CREATE VIEW creditledger.stat_error_thresholds AS
WITH ops AS (
    SELECT o.operation FROM creditledger.stat_operations_raw() o
), errs AS (
    SELECT e.operation, e.sqlstate, e.count FROM creditledger.stat_errors_raw() e
), pairs AS (
    SELECT e.operation, e.sqlstate FROM errs e
    UNION
    SELECT o.operation, t.sqlstate
      FROM ops o
      JOIN creditledger.alert_thresholds t
        ON t.sqlstate ~ '^[0-9A-Z]{5}$' AND t.operation IN ('*', o.operation)
)
SELECT p.operation, p.sqlstate,
       CASE WHEN pg_catalog.left(p.sqlstate, 2) IN ('LD', '22') THEN 'business'
            WHEN p.sqlstate IN ('57014', '55P03', '25P03') THEN 'client'
            ELSE 'system' END AS kind,
       COALESCE(e.count, 0) AS errors,
       t.max_per_minute, t.min_calls, t.severity,
       t.sqlstate AS threshold_sqlstate, t.operation AS threshold_operation
  FROM pairs p
  LEFT JOIN errs e ON e.operation = p.operation AND e.sqlstate = p.sqlstate
  -- the row that applies: exact SQLSTATE, then class, then '*'; within
  -- each, the operation before '*'
  LEFT JOIN LATERAL (
        SELECT r.sqlstate, r.operation, r.max_per_minute, r.min_calls, r.severity
          FROM creditledger.alert_thresholds r
         WHERE (r.sqlstate = '*' OR p.sqlstate OPERATOR(pg_catalog.~~) r.sqlstate)
           AND (r.operation = '*' OR r.operation = p.operation)
         ORDER BY CASE WHEN r.sqlstate = p.sqlstate THEN 0 WHEN r.sqlstate = '*' THEN 2 ELSE 1 END,
                  r.operation = '*'
         LIMIT 1) t ON true;
COMMENT ON VIEW creditledger.stat_error_thresholds IS
    'Per API function and SQLSTATE, for every SQLSTATE seen since the last stat_reset() and every one named in alert_thresholds (errors 0 until the first): the errors counted and the alert_thresholds row that applies (its sqlstate and operation, max_per_minute, min_calls, severity; NULL when none does). What metrics() exports as creditledger_errors_total and creditledger_error_threshold_*.';

-- metrics(): every label value escaped (_prom_label); every operation's
-- calls, errors (also by kind) and latency series from startup; errors per
-- SQLSTATE for every code named in alert_thresholds from startup; the
-- effective thresholds.
CREATE FUNCTION creditledger._prom_label(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(value,
               E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n')
$$;
COMMENT ON FUNCTION creditledger._prom_label(text) IS
    'A label value escaped for the Prometheus text exposition format: backslash, double quote and newline as \\, \" and \n.';

CREATE FUNCTION creditledger._metrics_bcp() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET extra_float_digits = 1 AS $$
    WITH latest AS (
        SELECT DISTINCT ON (r.rule) r.rule, r.severity, r.status, r.mismatches, r.run_id
          FROM creditledger.bcp_result_rows r
          JOIN creditledger.bcp_rules x ON x.name = r.rule AND x.enabled
         -- the latest run by ran_at (its transaction start, never later than its
         -- snapshot): a run made on an old snapshot cannot hide a newer failure
         ORDER BY r.rule, r.ran_at DESC, r.run_id DESC
    ), lbl AS (
        SELECT creditledger._prom_label(l.rule) AS rule,
               creditledger._prom_label(l.severity) AS severity,
               creditledger._prom_label(l.status) AS status,
               l.status <> 'pass' AS failing, l.mismatches
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
                                              rule, severity, status, failing::int), '' ORDER BY rule)
                       FROM lbl), '')
        || E'# HELP creditledger_bcp_rule_mismatches Mismatching rows in the latest recorded run of an enabled BCP rule.\n'
        || E'# TYPE creditledger_bcp_rule_mismatches gauge\n'
        || coalesce((SELECT string_agg(format(E'creditledger_bcp_rule_mismatches{rule="%s",severity="%s"} %s\n',
                                              rule, severity, mismatches), '' ORDER BY rule)
                       FROM lbl WHERE mismatches IS NOT NULL), '')
        || E'# HELP creditledger_bcp_failures_total Rule results of recorded BCP runs that did not pass, by severity.\n'
        || E'# TYPE creditledger_bcp_failures_total counter\n'
        || (SELECT string_agg(format(E'creditledger_bcp_failures_total{severity="%s"} %s\n',
                                     creditledger._prom_label(s.severity),
                                     (SELECT count(*) FROM creditledger.bcp_result_rows r
                                       WHERE r.severity = s.severity AND r.status <> 'pass')), '' ORDER BY s.severity)
              FROM (VALUES ('critical'), ('warning')) s(severity))
$$;
COMMENT ON FUNCTION creditledger._metrics_bcp() IS
    'The creditledger_bcp_* part of metrics(): runs, last run time, per-rule failing flag and mismatches of the latest recorded run, failures by severity; every label value escaped.';

-- Monitoring: pending counts and amounts, expiries, oldest pending age.
CREATE VIEW creditledger.stat_holds AS
SELECT a.currency,
       count(p.pending_id) FILTER (WHERE p.status = 'pending')::bigint AS pending_count,
       coalesce(sum(p.amount - p.posted) FILTER (WHERE p.status = 'pending'), 0)::bigint AS pending_amount,
       coalesce(max(now() - p.created_at) FILTER (WHERE p.status = 'pending'), interval '0') AS oldest_pending_age,
       count(p.pending_id) FILTER (WHERE p.status = 'pending' AND p.expires_at <= now())::bigint AS pending_overdue,
       count(p.pending_id) FILTER (WHERE p.status = 'expired' AND p.closed_at > now() - interval '1 minute')::bigint
           AS pending_expired_last_minute,
       (SELECT count(*) FROM creditledger.ledger_funds_holds h
          JOIN creditledger.ledger_accounts b ON b.account_id = h.account_id
         WHERE h.status = 'open' AND b.currency = a.currency)::bigint AS funds_holds_count,
       (SELECT coalesce(sum(h.amount - h.released), 0) FROM creditledger.ledger_funds_holds h
          JOIN creditledger.ledger_accounts b ON b.account_id = h.account_id
         WHERE h.status = 'open' AND b.currency = a.currency)::bigint AS funds_holds_amount,
       (SELECT count(*) FROM creditledger.ledger_funds_holds h
          JOIN creditledger.ledger_accounts b ON b.account_id = h.account_id
         WHERE h.status = 'expired' AND h.closed_at > now() - interval '1 minute'
           AND b.currency = a.currency)::bigint AS funds_holds_expired_last_minute,
       (SELECT count(*) FROM creditledger.ledger_accounts b
         WHERE b.block <> 'none' AND b.currency = a.currency)::bigint AS blocked_accounts
  FROM (SELECT DISTINCT currency FROM creditledger.ledger_accounts) a
  LEFT JOIN creditledger.ledger_accounts d ON d.currency = a.currency
  LEFT JOIN creditledger.ledger_pending_transfers p ON p.debit_account = d.account_id
 GROUP BY a.currency;
COMMENT ON VIEW creditledger.stat_holds IS
    'Money holds per currency: open pending transfers (count, remaining amount, oldest age, past expires_at), pending transfers and funds holds expired in the last minute (expiries per minute), open funds holds (count, amount), blocked accounts.';

CREATE FUNCTION creditledger._metrics_holds() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT '# HELP creditledger_pending_transfers Open pending transfers.' || E'\n'
        || '# TYPE creditledger_pending_transfers gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_pending_transfers{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.pending_count), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_pending_amount Remaining (reserved) amount of open pending transfers, minor units.' || E'\n'
        || '# TYPE creditledger_pending_amount gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_pending_amount{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.pending_amount), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_pending_oldest_age_seconds Age of the oldest open pending transfer.' || E'\n'
        || '# TYPE creditledger_pending_oldest_age_seconds gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_pending_oldest_age_seconds{currency="%s"} %s',
               creditledger._prom_label(s.currency), extract(epoch FROM s.oldest_pending_age)::float8),
               E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_pending_expired_last_minute Pending transfers expired in the last minute.' || E'\n'
        || '# TYPE creditledger_pending_expired_last_minute gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_pending_expired_last_minute{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.pending_expired_last_minute), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_funds_holds Open funds holds.' || E'\n'
        || '# TYPE creditledger_funds_holds gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_funds_holds{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.funds_holds_count), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_funds_held_amount Remaining amount of open funds holds, minor units.' || E'\n'
        || '# TYPE creditledger_funds_held_amount gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_funds_held_amount{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.funds_holds_amount), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_funds_holds_expired_last_minute Funds holds expired in the last minute.' || E'\n'
        || '# TYPE creditledger_funds_holds_expired_last_minute gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_funds_holds_expired_last_minute{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.funds_holds_expired_last_minute), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_blocked_accounts Accounts blocked for debits, credits or both.' || E'\n'
        || '# TYPE creditledger_blocked_accounts gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_blocked_accounts{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.blocked_accounts), E'\n' ORDER BY s.currency) || E'\n', '')
      FROM creditledger.stat_holds s
$$;
COMMENT ON FUNCTION creditledger._metrics_holds() IS
    'The money-holds part of metrics(): creditledger_pending_* and creditledger_funds_* gauges per currency and blocked accounts.';

CREATE FUNCTION creditledger.metrics() RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT creditledger._metrics_core() || creditledger._metrics_bcp() || creditledger._metrics_holds()
$$;
COMMENT ON FUNCTION creditledger.metrics() IS
    'All creditledger statistics (operations, latency histogram, errors by kind and by SQLSTATE with their alert thresholds, hot accounts, background workers, credit alerts, BCP results, money holds) in the Prometheus text exposition format, every label value escaped; every operation''s counters exist from startup (0); needs the library preloaded (55000 with a hint otherwise).';

CREATE VIEW creditledger.credit_alerts AS
WITH cfg AS (
    SELECT coalesce(nullif(pg_catalog.current_setting('creditledger.credit_alert_utilization', true), '')::float8, 0.9) AS util,
           coalesce(nullif(pg_catalog.current_setting('creditledger.credit_alert_expiring_within', true), '')::interval,
                    interval '7 days') AS horizon,
           coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                    interval '1 minute') AS overdue
), l AS (
    SELECT c.*, c.frozen + c.used + CASE WHEN c.revolving THEN 0 ELSE c.returned END AS consumed,
           c.limit_amount + c.temporary_limit AS effective_limit
      FROM creditledger.credit_lines c
)
SELECT l.line_id, l.code, 'utilization_high'::text AS kind,
       format('%s of %s consumed (%s%%), threshold %s%%', l.consumed, l.effective_limit,
              round(100.0 * l.consumed / l.effective_limit, 1), round(100 * cfg.util::numeric, 1)) AS detail
  FROM l, cfg
 WHERE l.effective_limit > 0 AND l.consumed >= cfg.util * l.effective_limit
   AND l.consumed <= l.effective_limit AND l.status <> 'closed'
UNION ALL
SELECT l.line_id, l.code, 'over_limit',
       format('%s consumed over a limit of %s', l.consumed, l.effective_limit)
  FROM l WHERE l.consumed > l.effective_limit
UNION ALL
SELECT l.line_id, l.code, 'expiring_soon', format('valid until %s', l.valid_until)
  FROM l, cfg
 WHERE l.valid_until > now() AND l.valid_until <= now() + cfg.horizon AND l.status <> 'closed'
UNION ALL
SELECT l.line_id, l.code, 'expired_with_outstanding',
       format('expired at %s with %s frozen and %s used', l.valid_until, l.frozen, l.used)
  FROM l WHERE l.valid_until <= now() AND (l.frozen <> 0 OR l.used <> 0)
UNION ALL
SELECT l.line_id, l.code, 'suspended_with_holds',
       format('suspended with %s frozen%s', l.frozen,
              coalesce(' (' || l.status_reason || ')', ''))
  FROM l WHERE l.status = 'suspended' AND l.frozen <> 0
UNION ALL
SELECT t.line_id, c.code, 'temporary_limit_overdue',
       CASE WHEN t.status = 'active'
            THEN format('temporary limit "%s" of %s still active, its window ended at %s', t.ref, t.amount, t.valid_until)
            ELSE format('temporary limit "%s" of %s not started, its window began at %s', t.ref, t.amount, t.valid_from) END
  FROM creditledger.ledger_credit_temporary_limits t
  JOIN creditledger.ledger_credit_lines c ON c.line_id = t.line_id, cfg
 WHERE (t.status = 'active' AND t.valid_until < now() - cfg.overdue)
    OR (t.status = 'scheduled' AND t.valid_from < now() - cfg.overdue);
COMMENT ON VIEW creditledger.credit_alerts IS
    'Lines needing attention: utilization_high (consumed >= creditledger.credit_alert_utilization of the limit, temporary limits included), over_limit, expiring_soon (valid_until within creditledger.credit_alert_expiring_within), expired_with_outstanding, suspended_with_holds, temporary_limit_overdue (a temporary limit still active after its window, or not started after its valid_from, by more than creditledger.bcp_hold_overdue: is the worker running?).';
