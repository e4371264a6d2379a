-- Benchmark setup (run once by test/bench/bench.sh on its throwaway cluster).
--
-- psql variables: naccounts (number of funded accounts), fund (opening
-- balance of each, minor units).
--
-- Creates:
--   * the extension;
--   * public.bench_insert: the bare one-row INSERT of the baseline workload
--     (bigserial pk, three bigint columns, timestamptz default now());
--   * public.bench_voucher_seq: unique vouchers for pgbench
--     ('bench-' || nextval(...)); pgbench itself has no per-client counter;
--   * 'bench-system': a system account with no floor (min_balance NULL);
--   * 'bench-acct-1' .. 'bench-acct-N': ordinary accounts (floor 0), each
--     funded with :fund from the system account, so random transfers of a few
--     units never hit LD001 within a benchmark's length.
-- bench.sh checks afterwards that the account ids are contiguous (it maps
-- pgbench's random(lo, hi) straight onto them).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION creditledger;

CREATE TABLE public.bench_insert (
    id         bigserial PRIMARY KEY,
    a          bigint NOT NULL,
    b          bigint NOT NULL,
    amount     bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE SEQUENCE public.bench_voucher_seq;

SELECT creditledger.open_account('bench-system', 'CNY', 'credit', NULL) AS system_id
\gset

-- One statement, in code order, so the ids come out contiguous.
SELECT count(creditledger.open_account('bench-acct-' || i, 'CNY')) AS opened
  FROM generate_series(1, :naccounts) AS i;

SELECT count(creditledger.transfer('bench-fund-' || a.account_id, :system_id,
                                   a.account_id, :fund)) AS funded
  FROM (SELECT account_id FROM creditledger.accounts
         WHERE code LIKE 'bench-acct-%' ORDER BY account_id) AS a;

VACUUM ANALYZE;
CHECKPOINT;
