-- Workload "freeze+disburse": an application's freeze, then credit_disburse
-- of all of it (immediate), in one transaction on a random line of the
-- group.  pgbench -D variables: llo, lhi (line ids), alo, ahi (borrowers).
\set line random(:llo, :lhi)
\set borrower random(:alo, :ahi)
\set amount random(1, 100)
BEGIN;
SELECT nextval('public.bench_voucher_seq') AS v \gset
SELECT creditledger.credit_freeze(:line, :amount, 'bla-' || :v);
SELECT creditledger.credit_disburse('bla-' || :v, 'bld-' || :v, :borrower);
COMMIT;
