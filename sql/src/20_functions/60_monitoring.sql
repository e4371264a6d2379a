-- Monitoring: statistics views, metrics(), alert thresholds: functions (C declarations and PL/pgSQL/SQL bodies) and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE FUNCTION creditledger.stat_workers(
        OUT database text, OUT worker text, OUT pid int, OUT state text,
        OUT started_at timestamptz, OUT last_cycle_at timestamptz,
        OUT cycles bigint, OUT postings_flushed bigint, OUT holds_expired bigint,
        OUT errors bigint, OUT last_error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cl_stat_workers'
LANGUAGE C VOLATILE PARALLEL SAFE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_workers() IS
    'One row per background worker configured in creditledger.database, from shared memory; needs creditledger in shared_preload_libraries (55000 with a hint otherwise).';

-- Monitoring: operations, errors, hot accounts (opstats.c)
CREATE FUNCTION creditledger.stat_latency_bounds() RETURNS float8[]
AS 'MODULE_PATHNAME', 'cl_stat_latency_bounds'
LANGUAGE C IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_latency_bounds() IS
    'Upper bounds, in seconds, of the latency histogram buckets (a last bucket is +Inf).';

CREATE FUNCTION creditledger.stat_operations_raw(
        OUT operation text, OUT calls bigint, OUT errors bigint,
        OUT total_seconds float8, OUT max_seconds float8,
        OUT last_error_sqlstate text, OUT since timestamptz, OUT buckets bigint[])
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cl_stat_operations_raw'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_operations_raw() IS
    'Per API function, every one (zeros until its first call), since the last reset: calls, errors, total and max seconds, last error SQLSTATE, and the latency histogram (per-bucket counts, one per stat_latency_bounds() bound plus +Inf). Needs the library preloaded.';

CREATE FUNCTION creditledger.stat_errors_raw(OUT operation text, OUT sqlstate text, OUT count bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cl_stat_errors_raw'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_errors_raw() IS
    'Errors per API function and SQLSTATE since the last reset. Needs the library preloaded.';

CREATE FUNCTION creditledger.stat_hot_accounts_raw(
        OUT account_id bigint, OUT flushes bigint, OUT flushed_postings bigint,
        OUT last_flush_at timestamptz, OUT skip_locked_retries bigint, OUT sweeps bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'cl_stat_hot_accounts_raw'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_hot_accounts_raw() IS
    'Per hot account since the last reset: flushes, postings flushed, last flush, sub-accounts passed over as locked, sweeps. Needs the library preloaded.';

CREATE FUNCTION creditledger.stat_reset() RETURNS void
AS 'MODULE_PATHNAME', 'cl_stat_reset'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.stat_reset() IS
    'Zeroes the operation, error and hot-account statistics (worker counters count since server start and are kept).';

CREATE FUNCTION creditledger.stat_quantile(buckets bigint[], bounds float8[], q float8,
                                           max_seconds float8)
RETURNS float8
LANGUAGE plpgsql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    total bigint;
    cum bigint := 0;
    target float8;
    lo float8 := 0;
    hi float8;
BEGIN
    SELECT sum(b) INTO total FROM unnest(buckets) AS b;
    IF total IS NULL OR total = 0 THEN
        RETURN NULL;
    END IF;
    target := q * total;
    FOR i IN 1 .. array_length(buckets, 1) LOOP
        hi := CASE WHEN i <= array_length(bounds, 1) THEN bounds[i] ELSE max_seconds END;
        IF buckets[i] > 0 AND cum + buckets[i] >= target THEN
            RETURN least(max_seconds, lo + (hi - lo) * (target - cum) / buckets[i]);
        END IF;
        cum := cum + buckets[i];
        IF i <= array_length(bounds, 1) THEN
            lo := bounds[i];
        END IF;
    END LOOP;
    RETURN max_seconds;
END
$$;
COMMENT ON FUNCTION creditledger.stat_quantile(bigint[], float8[], float8, float8) IS
    'The q-quantile of a latency histogram, interpolated linearly within its bucket and capped at the maximum.';

-- Monitoring: Prometheus text exposition (metrics()).  Metric names are
-- the contract of monitoring/ (alert rules, dashboard, and the exporter's
-- queries.yaml, which produces the same names from the views).
CREATE FUNCTION creditledger._metrics_core() RETURNS text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
SET extra_float_digits = 1
AS $$
DECLARE
    body text;
    credit text := '';
BEGIN
    -- The statistics first, so that without the preloaded library the
    -- caller gets the clear 55000 error (with its hint) and nothing else.
    PERFORM 1 FROM creditledger.stat_operations_raw() LIMIT 1;

    WITH
    -- Every label value goes through _prom_label (\ " and newline escaped).
    ops AS (
        SELECT creditledger._prom_label(o.operation) AS operation, o.calls, o.errors,
               o.total_seconds, o.max_seconds, o.since, o.buckets
          FROM creditledger.stat_operations_raw() o),
    bounds AS (
        SELECT creditledger.stat_latency_bounds() AS b),
    errs AS (
        SELECT creditledger._prom_label(e.operation) AS operation,
               creditledger._prom_label(e.sqlstate) AS sqlstate,
               creditledger._prom_label(e.kind) AS kind, e.errors,
               e.max_per_minute, e.min_calls,
               creditledger._prom_label(e.severity) AS severity
          FROM creditledger.stat_error_thresholds e),
    kinds AS (
        SELECT o.operation, k.kind, COALESCE(n.n, 0) AS n
          FROM ops o
         CROSS JOIN (VALUES ('business'), ('client'), ('system')) k(kind)
          LEFT JOIN (SELECT creditledger._prom_label(e.operation) AS operation, e.kind,
                            sum(e.count) AS n
                       FROM creditledger.stat_errors e GROUP BY e.operation, e.kind) n
            ON n.operation = o.operation AND n.kind = k.kind),
    hot AS (
        SELECT creditledger._prom_label(current_database()::text) AS db,
               creditledger._prom_label(h.code) AS account,
               h.account_id, creditledger._prom_label(h.hot_mode) AS hot_mode,
               h.shards, h.buffered_count, h.buffered_amount,
               greatest(coalesce(extract(epoch FROM h.oldest_buffered_age), 0), 0) AS age,
               h.flushes, h.flushed_postings, h.last_flush_at,
               h.skip_locked_retries, h.sweeps
          FROM creditledger.stat_hot_accounts h),
    wrk AS (
        SELECT creditledger._prom_label(w.database) AS db,
               w.pid, w.state, w.started_at, w.last_cycle_at, w.cycles,
               w.postings_flushed, w.holds_expired, w.errors
          FROM creditledger.stat_workers w),
    families(ord, name, type, help) AS (VALUES
        (1, 'creditledger_up', 'gauge',
            '1: creditledger is preloaded and its statistics are available.'),
        (2, 'creditledger_build_info', 'gauge',
            'Installed creditledger extension version (always 1).'),
        (3, 'creditledger_tracking_enabled', 'gauge',
            '1 when creditledger.track is on (calls, errors and latencies are counted), else 0.'),
        (4, 'creditledger_stats_reset_timestamp_seconds', 'gauge',
            'When the operation and hot-account statistics started counting (server start or stat_reset()), seconds since the epoch.'),
        (10, 'creditledger_operation_calls_total', 'counter',
            'Calls of a creditledger API function, failed ones included (the extension''s own calls are not counted).'),
        (11, 'creditledger_operation_errors_total', 'counter',
            'Calls of a creditledger API function that ended in an error.'),
        (12, 'creditledger_operation_duration_seconds', 'histogram',
            'Duration of creditledger API function calls (fixed log-scale buckets).'),
        (13, 'creditledger_operation_max_duration_seconds', 'gauge',
            'Longest call of a creditledger API function since the statistics started.'),
        (14, 'creditledger_operation_errors_by_kind_total', 'counter',
            'Calls of a creditledger API function that ended in an error, by kind: business (classes LD and 22: refusals), client (57014, 55P03, 25P03: cancellations and timeouts) or system (deadlocks, serialization failures, internal errors, anything else).'),
        (20, 'creditledger_errors_total', 'counter',
            'Errors of creditledger API functions by SQLSTATE and kind (business, client or system); every SQLSTATE named in alert_thresholds from 0.'),
        (21, 'creditledger_error_threshold_per_minute', 'gauge',
            'Errors per minute of an operation with a SQLSTATE above which alert CreditledgerErrorRateAboveThreshold fires: the alert_thresholds row that applies, with its severity.'),
        (22, 'creditledger_error_threshold_min_calls', 'gauge',
            'Calls per minute of an operation below which its error threshold does not apply (only when above 0).'),
        (30, 'creditledger_hot_account_info', 'gauge',
            'A hot account (buffered, split or buffered_split) and its mode (always 1).'),
        (31, 'creditledger_hot_account_shards', 'gauge',
            'Sub-accounts of a hot account.'),
        (32, 'creditledger_hot_account_buffered_postings', 'gauge',
            'Committed postings waiting in the buffer of a hot account.'),
        (33, 'creditledger_hot_account_buffered_amount', 'gauge',
            'Sum of the buffered postings of a hot account, in minor units.'),
        (34, 'creditledger_hot_account_oldest_buffered_age_seconds', 'gauge',
            'Age of the oldest buffered posting of a hot account (0 when nothing is buffered).'),
        (35, 'creditledger_hot_account_flushes_total', 'counter',
            'Flushes that applied buffered postings of a hot account.'),
        (36, 'creditledger_hot_account_flushed_postings_total', 'counter',
            'Buffered postings of a hot account applied to the journal.'),
        (37, 'creditledger_hot_account_last_flush_timestamp_seconds', 'gauge',
            'When a hot account was last flushed, seconds since the epoch.'),
        (38, 'creditledger_hot_account_skip_locked_retries_total', 'counter',
            'Sub-accounts of a split account passed over because another transaction held them.'),
        (39, 'creditledger_hot_account_sweeps_total', 'counter',
            'Sweeps that rebalanced the sub-accounts of a split account.'),
        (50, 'creditledger_worker_up', 'gauge',
            '1 when the background worker of a database is running, else 0.'),
        (51, 'creditledger_worker_state', 'gauge',
            'Background worker state: 0 not started, 1 starting, 2 waiting for extension, 3 paused, 4 idle, 5 flushing, 6 sweeping, 7 stopped, -1 other.'),
        (52, 'creditledger_worker_start_timestamp_seconds', 'gauge',
            'When the background worker started, seconds since the epoch.'),
        (53, 'creditledger_worker_last_cycle_timestamp_seconds', 'gauge',
            'When the background worker last completed a cycle, seconds since the epoch.'),
        (54, 'creditledger_worker_cycles_total', 'counter',
            'Cycles of the background worker since server start.'),
        (55, 'creditledger_worker_postings_flushed_total', 'counter',
            'Buffered postings the background worker applied since server start.'),
        (56, 'creditledger_worker_holds_expired_total', 'counter',
            'Credit holds the background worker expired since server start.'),
        (57, 'creditledger_worker_errors_total', 'counter',
            'Errors of the background worker since server start.')),
    samples(ord, series, sub, line) AS MATERIALIZED (
        SELECT 1, '', 0, 'creditledger_up 1'
        UNION ALL
        SELECT 2, '', 0, format('creditledger_build_info{version="%s"} 1',
                                creditledger._prom_label(e.extversion))
          FROM pg_catalog.pg_extension e WHERE e.extname = 'creditledger'
        UNION ALL
        SELECT 3, '', 0, 'creditledger_tracking_enabled '
               || CASE WHEN coalesce(current_setting('creditledger.track', true), 'on')
                            IN ('on', 'true', '1', 'yes') THEN '1' ELSE '0' END
        UNION ALL
        SELECT 4, '', 0, 'creditledger_stats_reset_timestamp_seconds '
               || extract(epoch FROM min(o.since))::text
          FROM ops o HAVING count(*) > 0
        -- operations (every one, zeros included)
        UNION ALL
        SELECT 10, o.operation, 0, format('creditledger_operation_calls_total{operation="%s"} %s',
                                          o.operation, o.calls) FROM ops o
        UNION ALL
        SELECT 11, o.operation, 0, format('creditledger_operation_errors_total{operation="%s"} %s',
                                          o.operation, o.errors) FROM ops o
        UNION ALL
        SELECT 12, c.operation, c.i::int,
               format('creditledger_operation_duration_seconds_bucket{operation="%s",le="%s"} %s',
                      c.operation,
                      CASE WHEN c.i > cardinality(bd.b) THEN '+Inf' ELSE bd.b[c.i]::text END,
                      c.cum)
          FROM (SELECT o.operation, u.i,
                       sum(u.n) OVER (PARTITION BY o.operation ORDER BY u.i) AS cum
                  FROM ops o, unnest(o.buckets) WITH ORDINALITY AS u(n, i)) c, bounds bd
        UNION ALL
        SELECT 12, o.operation, 100000,
               format('creditledger_operation_duration_seconds_sum{operation="%s"} %s',
                      o.operation, o.total_seconds) FROM ops o
        UNION ALL
        SELECT 12, o.operation, 100001,
               format('creditledger_operation_duration_seconds_count{operation="%s"} %s',
                      o.operation, o.calls) FROM ops o
        UNION ALL
        SELECT 13, o.operation, 0,
               format('creditledger_operation_max_duration_seconds{operation="%s"} %s',
                      o.operation, o.max_seconds) FROM ops o
        UNION ALL
        SELECT 14, k.operation || ' ' || k.kind, 0,
               format('creditledger_operation_errors_by_kind_total{operation="%s",kind="%s"} %s',
                      k.operation, k.kind, k.n) FROM kinds k
        -- errors and thresholds per (operation, SQLSTATE)
        UNION ALL
        SELECT 20, e.operation || ' ' || e.sqlstate, 0,
               format('creditledger_errors_total{operation="%s",sqlstate="%s",kind="%s"} %s',
                      e.operation, e.sqlstate, e.kind, e.errors) FROM errs e
        UNION ALL
        SELECT 21, e.operation || ' ' || e.sqlstate, 0,
               format('creditledger_error_threshold_per_minute{operation="%s",sqlstate="%s",severity="%s"} %s',
                      e.operation, e.sqlstate, e.severity, e.max_per_minute)
          FROM errs e WHERE e.max_per_minute IS NOT NULL
        UNION ALL
        SELECT 22, e.operation || ' ' || e.sqlstate, 0,
               format('creditledger_error_threshold_min_calls{operation="%s",sqlstate="%s"} %s',
                      e.operation, e.sqlstate, e.min_calls)
          FROM errs e WHERE e.max_per_minute IS NOT NULL AND e.min_calls > 0
        -- hot accounts
        UNION ALL
        SELECT 30, h.account, 0, format('creditledger_hot_account_info{database="%s",account="%s",hot_mode="%s"} 1',
                                        h.db, h.account, h.hot_mode) FROM hot h
        -- per hot account, one sample per family, named by the families list
        UNION ALL
        SELECT v.ord, h.account, 0,
               format('%s{database="%s",account="%s"} %s', f.name, h.db, h.account, v.value)
          FROM hot h
         CROSS JOIN LATERAL (VALUES
                (31, h.shards::text), (32, h.buffered_count::text),
                (33, h.buffered_amount::text), (34, h.age::text),
                (35, h.flushes::text), (36, h.flushed_postings::text),
                (37, extract(epoch FROM h.last_flush_at)::text),
                (38, h.skip_locked_retries::text), (39, h.sweeps::text)) AS v(ord, value)
          JOIN families f ON f.ord = v.ord
         WHERE v.value IS NOT NULL
        -- background workers
        UNION ALL
        SELECT 50, w.db, 0, format('creditledger_worker_up{database="%s"} %s',
                                   w.db, CASE WHEN w.pid IS NULL THEN 0 ELSE 1 END) FROM wrk w
        UNION ALL
        SELECT 51, w.db, 0, format('creditledger_worker_state{database="%s"} %s', w.db,
                                   CASE w.state WHEN 'not started' THEN 0 WHEN 'starting' THEN 1
                                        WHEN 'waiting for extension' THEN 2 WHEN 'paused' THEN 3
                                        WHEN 'idle' THEN 4 WHEN 'flushing' THEN 5
                                        WHEN 'sweeping' THEN 6 WHEN 'stopped' THEN 7
                                        ELSE -1 END) FROM wrk w
        -- per worker, one sample per family, named by the families list
        UNION ALL
        SELECT v.ord, w.db, 0, format('%s{database="%s"} %s', f.name, w.db, v.value)
          FROM wrk w
         CROSS JOIN LATERAL (VALUES
                (52, extract(epoch FROM w.started_at)::text),
                (53, extract(epoch FROM w.last_cycle_at)::text),
                (54, w.cycles::text), (55, w.postings_flushed::text),
                (56, w.holds_expired::text), (57, w.errors::text)) AS v(ord, value)
          JOIN families f ON f.ord = v.ord
         WHERE v.value IS NOT NULL)
    SELECT string_agg(format(E'# HELP %s %s\n# TYPE %s %s\n', f.name, f.help, f.name, f.type)
                      || coalesce((SELECT string_agg(s.line || E'\n', '' ORDER BY s.series, s.sub)
                                     FROM samples s WHERE s.ord = f.ord), ''),
                      '' ORDER BY f.ord)
      INTO body
      FROM families f;

    -- Credit lines (credit_alerts), when the view is readable.
    IF pg_catalog.to_regclass('creditledger.credit_alerts') IS NOT NULL
       AND pg_catalog.has_table_privilege('creditledger.credit_alerts', 'SELECT') THEN
        EXECUTE $q$
            SELECT E'# HELP creditledger_credit_alert_lines Credit lines in an alert state (credit_alerts) by kind.\n'
                   || E'# TYPE creditledger_credit_alert_lines gauge\n'
                   || string_agg(format(E'creditledger_credit_alert_lines{kind="%s"} %s\n',
                                        creditledger._prom_label(k.kind), coalesce(a.n, 0)),
                                 '' ORDER BY k.kind)
              FROM (SELECT unnest(ARRAY['utilization_high', 'expiring_soon', 'over_limit',
                                        'expired_with_outstanding', 'suspended_with_holds',
                                        'temporary_limit_overdue']) AS kind
                    UNION
                    SELECT DISTINCT c.kind FROM creditledger.credit_alerts c) k
              LEFT JOIN (SELECT c.kind, count(DISTINCT c.line_id) AS n
                           FROM creditledger.credit_alerts c GROUP BY c.kind) a USING (kind)
        $q$ INTO credit;
    END IF;

    RETURN body || coalesce(credit, '');
END
$$;
COMMENT ON FUNCTION creditledger._metrics_core() IS
    'The operation, error (by kind and SQLSTATE, with the alert thresholds), hot-account, worker and credit-alert part of metrics(); every label value escaped.';

CREATE FUNCTION creditledger._alert_thresholds_upsert() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- A row for the key of a shipped row replaces it (pg_restore loads the
    -- dumped rows after CREATE EXTENSION made the shipped ones).
    UPDATE creditledger.alert_thresholds t
       SET max_per_minute = NEW.max_per_minute, min_calls = NEW.min_calls,
           severity = NEW.severity, description = NEW.description, builtin = NEW.builtin
     WHERE t.sqlstate = NEW.sqlstate AND t.operation = NEW.operation AND t.builtin;
    IF FOUND THEN
        RETURN NULL;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION creditledger._alert_thresholds_upsert() IS
    'Trigger function: an INSERT of the key of a shipped (builtin) alert_thresholds row updates that row instead, so a pg_dump of the table restores over the rows CREATE EXTENSION made.';
