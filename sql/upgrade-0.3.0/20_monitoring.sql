
--------------------------------------------------------------------------
-- Monitoring (issue 11): error kinds (business, client, system), counters
-- that exist from startup, per-code alert thresholds, and the sweep of one
-- split account callable from SQL.
--------------------------------------------------------------------------

CREATE FUNCTION creditledger._sweep_account(account bigint) RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_sweep_account'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger._sweep_account(bigint) IS
    'One sweep of a split account, as the background worker runs it every creditledger.sweep_interval: evens out the sub-accounts with chained internal transfers and returns how many were moved (0 when there is nothing to even out: then it writes nothing). Owner only.';
REVOKE ALL ON FUNCTION creditledger._sweep_account(bigint) FROM PUBLIC;

--------------------------------------------------------------------------
-- Error kinds: business (classes LD and 22: refusals the ledger must make),
-- client (the caller's own limits: cancellation and statement timeout
-- 57014, lock timeout 55P03, idle-in-transaction timeout 25P03) and system
-- (deadlocks, serialization failures, internal errors, out of resources,
-- everything else).
--------------------------------------------------------------------------

-- The kind is spelt out in this view and in stat_error_thresholds (a
-- function would need its own EXECUTE grant for every reader of the views).
CREATE OR REPLACE VIEW creditledger.stat_errors AS
SELECT e.operation, e.sqlstate,
       CASE WHEN pg_catalog.left(e.sqlstate, 2) IN ('LD', '22') THEN 'business'
            WHEN e.sqlstate IN ('57014', '55P03', '25P03') THEN 'client'
            ELSE 'system' END AS kind,
       e.count
  FROM creditledger.stat_errors_raw() e;
COMMENT ON VIEW creditledger.stat_errors IS
    'Errors per API function and SQLSTATE since the last stat_reset(); kind business (classes LD and 22: refusals the ledger must make), client (57014, 55P03, 25P03: cancellations and timeouts the caller set) or system (deadlocks, serialization failures, internal errors, out of resources, anything else).';

-- stat_operations_raw() now returns every operation, zeros included (its
-- counters exist from startup, for metrics()); the view keeps listing the
-- operations called since the last reset.
CREATE OR REPLACE VIEW creditledger.stat_operations AS
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
COMMENT ON FUNCTION creditledger.stat_operations_raw() IS
    'Per API function, every one (zeros until its first call), since the last reset: calls, errors, total and max seconds, last error SQLSTATE, and the latency histogram (per-bucket counts, one per stat_latency_bounds() bound plus +Inf). Needs the library preloaded.';

--------------------------------------------------------------------------
-- Per-error-code alert thresholds.  The shipped alert rules compare each
-- (operation, SQLSTATE)'s errors per minute with the threshold that applies
-- to it, exported by metrics() (creditledger_error_threshold_per_minute),
-- so alerting is tuned with an UPDATE here.
--
-- Which row applies to an error (operation o, SQLSTATE s): the most
-- specific one, SQLSTATE first: sqlstate = s, then a class 'XX%' that s is
-- in, then '*'; within those, operation = o before '*'.  max_per_minute
-- NULL: never alert for what the row covers.  Rows made by CREATE
-- EXTENSION have builtin = true; all rows are dumped, and a restore (which
-- loads them after CREATE EXTENSION made the shipped ones) replaces a
-- shipped row by its dumped copy instead of failing on the duplicate key.
--------------------------------------------------------------------------

CREATE TABLE creditledger.alert_thresholds (
    sqlstate        text NOT NULL
                    CHECK (sqlstate ~ '^([0-9A-Z]{5}|[0-9A-Z]{2}%|\*)$'),
    operation       text NOT NULL DEFAULT '*'
                    CHECK (operation ~ '^([a-z][a-z0-9_]{0,62}|\*)$'),
    max_per_minute  double precision CHECK (max_per_minute >= 0),
    min_calls       double precision NOT NULL DEFAULT 0 CHECK (min_calls >= 0),
    severity        text NOT NULL DEFAULT 'warning'
                    CHECK (severity IN ('critical', 'warning', 'info')),
    description     text,
    builtin         boolean NOT NULL DEFAULT false,
    PRIMARY KEY (sqlstate, operation)
);
COMMENT ON TABLE creditledger.alert_thresholds IS
    'Alert thresholds per error code: sqlstate (a code such as LD001, a class such as ''LD%'', or ''*''), operation (an API function or ''*''), max_per_minute (errors per minute of one operation above which the shipped rule CreditledgerErrorRateAboveThreshold fires; NULL: never), min_calls (the rule applies only while the operation has at least this many calls per minute), severity of the alert (critical, warning, info). The most specific row applies (SQLSTATE before operation; see stat_error_thresholds). Administrators edit it; metrics() exports the result.';
COMMENT ON COLUMN creditledger.alert_thresholds.sqlstate IS
    'A SQLSTATE (LD004), a class (''LD%'': two characters and %), or ''*'' (any).';
COMMENT ON COLUMN creditledger.alert_thresholds.operation IS
    'An API function as named in stat_operations (transfer, credit_freeze, ...) or ''*'' (any).';
COMMENT ON COLUMN creditledger.alert_thresholds.max_per_minute IS
    'Errors per minute (of one operation with one SQLSTATE) above which the alert fires; NULL: no alert for what this row covers.';
COMMENT ON COLUMN creditledger.alert_thresholds.min_calls IS
    'The alert applies only while the operation is called at least this many times per minute (failed calls included); 0: always.';
COMMENT ON COLUMN creditledger.alert_thresholds.severity IS
    'Severity label of the alert: critical (page), warning, info.';
COMMENT ON COLUMN creditledger.alert_thresholds.builtin IS
    'Shipped with the extension (a restore or an upgrade brings back a shipped row that was deleted: to silence one, set its max_per_minute to NULL).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.alert_thresholds', '');

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
CREATE TRIGGER alert_thresholds_upsert
    BEFORE INSERT ON creditledger.alert_thresholds
    FOR EACH ROW EXECUTE FUNCTION creditledger._alert_thresholds_upsert();

-- Defaults, for an application of the order of 100 calls/s.  Refusals that
-- customers cause (insufficient funds, limits, blocks) are common; those
-- that only a faulty client or an attack causes (a voucher reused with
-- another payload, unknown accounts, unbalanced entries, currency
-- mismatches) are rare and alarming; deadlocks should not happen at all.
INSERT INTO creditledger.alert_thresholds
    (sqlstate, operation, max_per_minute, min_calls, severity, builtin, description) VALUES
    ('LD001', '*',  60, 0, 'warning',  true, 'insufficient funds: customers run out of money; normal at a low rate'),
    ('LD002', '*',  60, 0, 'warning',  true, 'credit limit exceeded: normal at a low rate'),
    ('LD003', '*',   5, 0, 'warning',  true, 'unknown or closed account: a client posting to accounts that do not exist'),
    ('LD004', '*',   2, 0, 'critical', true, 'idempotency conflict: a voucher or reference reused with another payload (client bug, or a replay with changed amounts)'),
    ('LD005', '*',   5, 0, 'warning',  true, 'reversal not allowed: double or invalid reversals'),
    ('LD006', '*',  30, 0, 'warning',  true, 'credit line unavailable (suspended, closed, expired)'),
    ('LD007', '*',  30, 0, 'warning',  true, 'hold state: use or unfreeze of an expired, released or too small hold'),
    ('LD008', '*',  10, 0, 'warning',  true, 'drawdown state: return of more than is outstanding'),
    ('LD009', '*',   2, 0, 'warning',  true, 'currency mismatch: a client bug'),
    ('LD010', '*',   2, 0, 'warning',  true, 'unbalanced entry: a client bug'),
    ('LD011', '*',   1, 0, 'warning',  true, 'credit graph cycle: an administration error'),
    ('LD012', '*',  60, 0, 'warning',  true, 'account blocked: postings refused by a block, expected while blocks are in place'),
    ('LD013', '*',  30, 0, 'warning',  true, 'pending transfer or funds hold not pending any more, or too small'),
    ('LD014', '*', 120, 0, 'info',     true, 'linked batch item not applied because another item of its group failed (counted with that item''s own error)'),
    ('22%',   '*',  10, 0, 'warning',  true, 'malformed input (NULL, out of range, invalid parameter): a client bug'),
    ('40P01', '*',   1, 0, 'critical', true, 'deadlock: the ledger locks in one order, so there should be none'),
    ('40001', '*',   5, 0, 'warning',  true, 'serialization failure (callers in REPEATABLE READ or SERIALIZABLE retry these)'),
    ('57014', '*',  10, 0, 'warning',  true, 'statement timeout or cancellation by the client (kind client)'),
    ('55P03', '*',  10, 0, 'warning',  true, 'lock timeout set by the client (kind client)'),
    ('25P03', '*',   5, 0, 'warning',  true, 'idle-in-transaction timeout (kind client)'),
    ('*',     '*',   1, 0, 'critical', true, 'any other error: internal errors, out of resources, unexpected SQLSTATEs');

REVOKE ALL ON creditledger.alert_thresholds FROM PUBLIC;
GRANT SELECT ON creditledger.alert_thresholds TO pg_monitor;
-- setup_roles() (being rewritten in sql/upgrade-0.3.0/90_privileges.sql)
-- must add, for admin-writable thresholds and the auditor's metrics():
--   GRANT SELECT ON creditledger.alert_thresholds, creditledger.stat_error_thresholds TO creditledger_auditor;
--   GRANT INSERT, UPDATE, DELETE ON creditledger.alert_thresholds TO creditledger_admin;
--   GRANT EXECUTE ON FUNCTION creditledger._prom_label(text) TO creditledger_auditor;

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

REVOKE ALL ON creditledger.stat_error_thresholds FROM PUBLIC;
REVOKE ALL ON FUNCTION creditledger._alert_thresholds_upsert() FROM PUBLIC;
GRANT SELECT ON creditledger.stat_error_thresholds TO pg_monitor;

--------------------------------------------------------------------------
-- metrics(): every label value escaped (_prom_label); every operation's
-- calls, errors (also by kind) and latency series from startup; errors per
-- SQLSTATE for every code named in alert_thresholds from startup; the
-- effective thresholds.
--------------------------------------------------------------------------

CREATE FUNCTION creditledger._prom_label(value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT pg_catalog.replace(pg_catalog.replace(pg_catalog.replace(value,
               E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n')
$$;
COMMENT ON FUNCTION creditledger._prom_label(text) IS
    'A label value escaped for the Prometheus text exposition format: backslash, double quote and newline as \\, \" and \n.';
REVOKE ALL ON FUNCTION creditledger._prom_label(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION creditledger._prom_label(text) TO pg_monitor;

CREATE OR REPLACE FUNCTION creditledger._metrics_core() RETURNS text
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

CREATE OR REPLACE FUNCTION creditledger._metrics_bcp() RETURNS text
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

COMMENT ON FUNCTION creditledger.metrics() IS
    'All creditledger statistics (operations, latency histogram, errors by kind and by SQLSTATE with their alert thresholds, hot accounts, background workers, credit alerts, BCP results) in the Prometheus text exposition format, every label value escaped; every operation''s counters exist from startup (0); needs the library preloaded (55000 with a hint otherwise).';
