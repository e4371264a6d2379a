-- Workload "batch N, own accounts": as batch_uniform.sql, but each client
-- draws its transfers from its own slice of the accounts (client k: the
-- k-th of nclients equal slices), so no two batches wait for each other's
-- account locks: what a batch costs without lock contention.
-- pgbench -D variables: lo, naccounts, n, nclients.
\set span :naccounts / :nclients
\set first :lo + :client_id * :span
SELECT count(*) FILTER (WHERE r.sqlstate IS NOT NULL) AS refused
  FROM creditledger.post_batch(public.bb_items(:n, :first, :span, NULL)) r;
