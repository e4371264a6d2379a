-- stats: statistics views after a known workload: exact counts, ordered
-- percentiles, errors by SQLSTATE and kind, hot accounts, reset, tracking off;
-- counters from startup, alert thresholds and their export, label escaping.
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

SELECT open_account('st:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('st:a', 'CNY') AS a \gset
SELECT open_account('st:fee', 'CNY', hot_mode => 'buffered') AS fee \gset
SELECT stat_reset();
SELECT count(*) AS rows_after_reset FROM stat_operations;

SELECT count(transfer('st-' || g, :bank, :a, 10)) FROM generate_series(1, 50) g;
SELECT transfer('st-1', :bank, :a, 11);                 -- LD004
SELECT transfer('st-x', :a, :bank, 1000000);            -- LD001
SELECT transfer('st-x', :a, 999999, 1);                 -- LD003
SELECT transfer(NULL, :a, :bank, 1);                    -- 22004
SELECT balance(:a);
SELECT count(transfer('st-f' || g, :bank, :fee, 1)) FROM generate_series(1, 3) g;
SELECT flush(:fee);

SELECT operation, calls, errors, last_error_sqlstate,
       p50_ms <= p95_ms AND p95_ms <= p99_ms AND p99_ms <= max_ms AS percentiles_ordered,
       mean_ms > 0 AND mean_ms <= max_ms AS mean_ok,
       since <= now() AS since_ok
  FROM stat_operations ORDER BY operation;
SELECT operation, sqlstate, kind, count FROM stat_errors ORDER BY operation, sqlstate;
-- the histogram holds every call
SELECT operation, calls = (SELECT sum(b) FROM unnest(buckets) b) AS all_in_histogram,
       array_length(buckets, 1) = array_length(stat_latency_bounds(), 1) + 1 AS has_inf_bucket
  FROM stat_operations_raw() WHERE calls > 0 ORDER BY operation;
SELECT code, hot_mode, buffered_count, buffered_amount, oldest_buffered_age IS NULL AS nothing_buffered,
       flushes, flushed_postings, last_flush_at IS NOT NULL AS flushed, skip_locked_retries, sweeps
  FROM stat_hot_accounts WHERE account_id = :fee;
-- something buffered shows its age
SELECT transfer('st-f9', :bank, :fee, 1) > 0 AS ok;
SELECT buffered_count, oldest_buffered_age >= interval '0' AS aged FROM stat_hot_accounts WHERE account_id = :fee;

-- quantiles from a histogram: interpolated within the bucket, capped at the max
SELECT stat_quantile('{0,10,0}', '{0.001,0.002}', 0.5, 0.0018) AS mid_second_bucket,
       stat_quantile('{0,10,0}', '{0.001,0.002}', 1.0, 0.0018) AS capped_at_max,
       stat_quantile('{0,0,0}', '{0.001,0.002}', 0.5, 0) AS empty;

-- reset
SELECT stat_reset();
SELECT count(*) AS operations, (SELECT count(*) FROM stat_errors) AS errors FROM stat_operations;
SELECT flushes FROM stat_hot_accounts WHERE account_id = :fee;

-- tracking off counts nothing
SET creditledger.track = off;
SELECT transfer('st-off', :bank, :a, 1) > 0 AS ok;
SELECT count(*) AS operations FROM stat_operations;
RESET creditledger.track;
SELECT transfer('st-on', :bank, :a, 1) > 0 AS ok;
SELECT operation, calls FROM stat_operations;

-- only superusers turn tracking off
CREATE ROLE regress_cl_stats;
SET ROLE regress_cl_stats;
SET creditledger.track = off;
RESET ROLE;
DROP ROLE regress_cl_stats;
SELECT flush(:fee);

-- every operation's counters exist from the start, zeros included
-- (stat_operations lists the operations called; the raw SRF all of them)
SELECT stat_reset();
SELECT count(*) AS operations, count(*) FILTER (WHERE calls = 0 AND errors = 0) AS never_called,
       (SELECT count(*) FROM stat_operations) AS listed
  FROM stat_operations_raw();

-- errors by kind; the threshold that applies to each (operation, SQLSTATE):
-- every SQLSTATE named in alert_thresholds is there from 0
SELECT transfer('st-1', :bank, :a, 11);                 -- LD004
SELECT transfer('st-y', :a, :bank, 1000000);            -- LD001
SELECT transfer(NULL, :a, :bank, 1);                    -- 22004
SELECT operation, sqlstate, kind, count FROM stat_errors ORDER BY operation, sqlstate;
SELECT operation, sqlstate, kind, errors, max_per_minute, min_calls, severity,
       threshold_sqlstate, threshold_operation
  FROM stat_error_thresholds
 WHERE operation = 'transfer' AND sqlstate IN ('LD001', 'LD004', '22004', '40P01', '57014', '55P03', '25P03')
 ORDER BY sqlstate;
SELECT count(*) AS pairs, count(DISTINCT operation) AS operations,
       count(*) FILTER (WHERE max_per_minute IS NULL) AS without_threshold
  FROM stat_error_thresholds;
-- the most specific row applies: SQLSTATE before operation, exact before class before '*'
INSERT INTO alert_thresholds (sqlstate, operation, max_per_minute, min_calls, severity)
VALUES ('LD001', 'transfer', 7, 100, 'info'), ('22%', 'transfer', 3, 0, 'critical'),
       ('*', 'transfer', NULL, 0, 'warning');
SELECT operation, sqlstate, kind, errors, max_per_minute, min_calls, severity,
       threshold_sqlstate, threshold_operation
  FROM stat_error_thresholds
 WHERE operation IN ('transfer', 'balance') AND sqlstate IN ('LD001', '22004', 'LD004')
 ORDER BY operation, sqlstate;
-- metrics(): errors by kind (all three, from 0), per SQLSTATE, thresholds
SELECT m FROM pg_catalog.regexp_split_to_table(metrics(), E'\n') m
 WHERE m ~ '^creditledger_(operation_errors_by_kind_total|errors_total|error_threshold_per_minute|error_threshold_min_calls)\{operation="transfer"'
   AND m ~ '(kind="(business|client|system)"\} |sqlstate="(LD001|22004)")'
 ORDER BY m;
-- the shipped row comes back as it was when restored over (pg_restore
-- loads the dumped rows after CREATE EXTENSION made the shipped ones)
UPDATE alert_thresholds SET max_per_minute = 99 WHERE sqlstate = 'LD003' AND operation = '*';
INSERT INTO alert_thresholds (sqlstate, operation, max_per_minute, min_calls, severity, builtin)
VALUES ('LD003', '*', 5, 0, 'warning', true);
SELECT sqlstate, operation, max_per_minute, builtin FROM alert_thresholds WHERE sqlstate = 'LD003';
-- a user row twice is a duplicate as usual; malformed rows are refused
INSERT INTO alert_thresholds (sqlstate, operation, max_per_minute) VALUES ('LD001', 'transfer', 1);
INSERT INTO alert_thresholds (sqlstate, max_per_minute) VALUES ('LD', 1);
INSERT INTO alert_thresholds (sqlstate, operation, max_per_minute) VALUES ('LD001', 'Transfer"', 1);
INSERT INTO alert_thresholds (sqlstate, max_per_minute, severity) VALUES ('XX001', 1, 'page');
INSERT INTO alert_thresholds (sqlstate, max_per_minute) VALUES ('XX001', -1);
DELETE FROM alert_thresholds WHERE NOT builtin;
SELECT count(*) AS shipped, count(DISTINCT sqlstate) FILTER (WHERE sqlstate LIKE 'LD___') AS ld_codes
  FROM alert_thresholds;

-- label values are escaped per the exposition format (\ " newline)
SELECT _prom_label(E'a"b\\c\nd') AS escaped;
