-- Workload "pending_post": authorise, then capture in full, between two
-- distinct uniformly random funded accounts: two calls, two commits per
-- pgbench transaction (so half the uniform transfer rate is the ceiling).
-- The post's voucher is 'bench-...' (a transfer, counted by the lost-
-- transfer check); the pending voucher is 'benchp-...', drawn from the
-- sequence inside the pending call's statement and handed to the post with
-- \gset, so a pair is two statements, as a transfer is one (no third round
-- trip only to draw the voucher).
-- pgbench -D variables: lo, hi (contiguous account ids), naccounts.
\set a random(:lo, :hi)
\set b :lo + (:a - :lo + random(1, :naccounts - 1)) % :naccounts
\set amount random(1, 100)
SELECT creditledger.transfer_pending(v.pv, :a, :b, :amount) AS pid, v.pv
  FROM (SELECT 'benchp-' || nextval('public.bench_voucher_seq') AS pv) v \gset
SELECT creditledger.transfer_post('bench-' || nextval('public.bench_voucher_seq'), :pv);
