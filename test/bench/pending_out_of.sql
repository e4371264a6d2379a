-- Workload "pending_split": one pending debit (authorisation, left open)
-- from ONE richly funded split account (:hot) to a uniformly random funded
-- account: each reservation sits in one sub-account taken with SKIP LOCKED.
-- pgbench -D variables: lo, hi (contiguous ids of the payees), hot.
\set b random(:lo, :hi)
\set amount random(1, 100)
SELECT creditledger.transfer_pending('benchp-' || nextval('public.bench_voucher_seq'), :hot, :b, :amount);
