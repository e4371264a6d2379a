-- Credit race: freeze 1..:maxamount under a uniformly random child of the
-- race parent (hot, limit far below what the run wants to freeze), nothing
-- ever released. Refusals (LD002) are caught by bench_credit_try_freeze
-- (credit_setup.sql), which returns false and logs the refused amount, so the
-- clients keep going once the parent is full.
-- pgbench -D variables: lo, hi (contiguous ids of the race parent's
-- children), run (unique to this pgbench run), maxamount.
\set line random(:lo, :hi)
\set amount random(1, :maxamount)
\set n random(1, 1000000000000000)
SELECT public.bench_credit_try_freeze(:line, :amount, 'br-' || :run || '-' || :client_id || '-' || :n);
