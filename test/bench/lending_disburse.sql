-- Workload "disburse": credit_disburse_direct of 1..100 on a random line of
-- the group (a credit use on the line and the hot group line, plus a
-- transfer from the line's receivable to a random funded account), one
-- transaction.  pgbench -D variables: llo, lhi (line ids), alo, ahi
-- (borrower account ids).
\set line random(:llo, :lhi)
\set borrower random(:alo, :ahi)
\set amount random(1, 100)
SELECT creditledger.credit_disburse_direct(:line, 'bl-' || nextval('public.bench_voucher_seq'), :borrower, :amount);
