-- Benchmark setup (run once by test/bench/bench.sh on its throwaway cluster).
--
-- psql variables: naccounts (number of funded accounts), fund (opening
-- balance of each, minor units), hotfund (opening balance of each paying hot
-- account), shards (sub-accounts of the split account).
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
--     units never hit LD001 within a benchmark's length;
--   * the hot accounts of the hot-account table, opened after the ordinary
--     ones (so those keep contiguous ids):
--       'bench-hot-into-none'      hot_mode 'none', receives (starts at 0);
--       'bench-hot-into-buffered'  hot_mode 'buffered', receives (starts at 0);
--       'bench-hot-out-none'       hot_mode 'none', pays, funded with :hotfund;
--       'bench-hot-out-split'      funded with :hotfund as a plain account,
--                                  then set_hot_mode(..., 'split', :shards),
--                                  which spreads the balance evenly over the
--                                  sub-accounts (with journal entries).
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

SELECT creditledger.open_account('bench-hot-into-none', 'CNY') AS into_none,
       creditledger.open_account('bench-hot-into-buffered', 'CNY', hot_mode => 'buffered') AS into_buffered,
       creditledger.open_account('bench-hot-out-none', 'CNY') AS out_none,
       creditledger.open_account('bench-hot-out-split', 'CNY') AS out_split
\gset

SELECT creditledger.transfer('bench-fund-hot-out-none', :system_id, :out_none, :hotfund),
       creditledger.transfer('bench-fund-hot-out-split', :system_id, :out_split, :hotfund);
SELECT creditledger.set_hot_mode(:out_split, 'split', :shards);

VACUUM ANALYZE;
CHECKPOINT;
