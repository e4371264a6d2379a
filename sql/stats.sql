-- stats: statistics views after a known workload: exact counts, ordered
-- percentiles, errors by SQLSTATE and kind, hot accounts, reset, tracking off.
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
  FROM stat_operations_raw() ORDER BY operation;
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
