-- Workload "batch N": one post_batch call of N transfers between uniformly
-- random distinct accounts (public.bb_items, batch_setup.sql); with hot set
-- (not 0), every transfer goes into that account instead.
-- pgbench -D variables: lo, naccounts, n, hot.
SELECT count(*) FILTER (WHERE r.sqlstate IS NOT NULL) AS refused
  FROM creditledger.post_batch(public.bb_items(:n, :lo, :naccounts, nullif(:hot, 0))) r;
