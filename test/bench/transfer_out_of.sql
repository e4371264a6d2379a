-- Workload "out_of_*": one transfer from ONE richly funded account (the hot
-- account :hot) to a uniformly random funded account, e.g. payouts from one
-- settlement account. The hot account's balance decreases, so for hot_mode
-- 'split' each call takes a sub-account nobody holds (SKIP LOCKED).
-- pgbench -D variables: lo, hi (contiguous ids of the payees), hot.
\set b random(:lo, :hi)
\set amount random(1, 100)
SELECT creditledger.transfer('bench-' || nextval('public.bench_voucher_seq'), :hot, :b, :amount);
