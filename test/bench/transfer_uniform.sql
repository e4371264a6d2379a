-- Workload "uniform": one transfer between two distinct, uniformly random
-- funded accounts (the no-contention ceiling of the ledger).
-- pgbench -D variables: lo, hi (contiguous account ids), naccounts (= hi - lo + 1).
-- b = a shifted by 1..naccounts-1 modulo naccounts: uniform over the others, never a.
\set a random(:lo, :hi)
\set b :lo + (:a - :lo + random(1, :naccounts - 1)) % :naccounts
\set amount random(1, 100)
SELECT creditledger.transfer('bench-' || nextval('public.bench_voucher_seq'), :a, :b, :amount);
