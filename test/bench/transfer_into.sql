-- Workload "into_*": one transfer from a uniformly random funded account
-- into ONE account (the hot account :hot), e.g. fees collected from many
-- payers. The hot account's balance increases, so for hot_mode 'buffered'
-- each call is a buffer row that the background worker (or flush()) applies.
-- pgbench -D variables: lo, hi (contiguous ids of the payers), hot.
\set a random(:lo, :hi)
\set amount random(1, 100)
SELECT creditledger.transfer('bench-' || nextval('public.bench_voucher_seq'), :a, :hot, :amount);
