-- Workload "insert": a bare one-row INSERT into a plain table (the machine's
-- ceiling for a committed one-row write). Same random draws as the transfer
-- workloads, so pgbench's own overhead is the same on both sides.
-- pgbench -D variables: lo, hi, naccounts.
\set a random(:lo, :hi)
\set b :lo + (:a - :lo + random(1, :naccounts - 1)) % :naccounts
\set amount random(1, 100)
INSERT INTO public.bench_insert (a, b, amount) VALUES (:a, :b, :amount);
