-- Workload "use_direct": the credit half of a disbursement alone:
-- credit_use_direct of 1..100 on a random line of the group that has no
-- receivable account.  pgbench -D variables: clo, chi (line ids).
\set line random(:clo, :chi)
\set amount random(1, 100)
SELECT creditledger.credit_use_direct(:line, :amount, 'blu-' || nextval('public.bench_voucher_seq'));
