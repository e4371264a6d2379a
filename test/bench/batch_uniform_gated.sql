-- Workload "batch N, gated": the uniform batch of batch_uniform.sql behind a
-- gate the CALLER keeps: the transaction first takes one exclusive advisory
-- lock (key :gate) in a statement of its own, then posts the batch, so
-- batches that would overlap queue for the gate before their post_batch
-- statement starts, instead of inside it (where each waiting batch holds
-- the snapshot its statement began with, which keeps every newer version
-- of the account rows from being pruned: README, Batch posting, contended
-- batches).  pgbench -D variables: lo, naccounts, n, hot, gate.
BEGIN;
SELECT pg_advisory_xact_lock(:gate);
SELECT count(*) FILTER (WHERE r.sqlstate IS NOT NULL) AS refused
  FROM creditledger.post_batch(public.bb_items(:n, :lo, :naccounts, nullif(:hot, 0))) r;
COMMIT;
