-- Workload "INSERT N": a bare multi-row INSERT of N rows into a plain table
-- (the machine's ceiling for the batch workloads: the same random draws,
-- one statement, one commit).  pgbench -D variables: lo, naccounts, n.
SELECT public.bb_insert(:n, :lo, :naccounts);
