-- Workload "pending_uniform": one pending debit (authorisation, left open)
-- between two distinct uniformly random funded accounts: the ceiling that
-- pending debits from one split account are compared with.
-- pgbench -D variables: lo, hi (contiguous account ids), naccounts.
\set a random(:lo, :hi)
\set b :lo + (:a - :lo + random(1, :naccounts - 1)) % :naccounts
\set amount random(1, 100)
SELECT creditledger.transfer_pending('benchp-' || nextval('public.bench_voucher_seq'), :a, :b, :amount);
