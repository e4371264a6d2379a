-- Batch benchmark setup (BENCH_ONLY=batch part of test/bench/bench.sh), in
-- its own database.
--
-- psql variables: naccounts (funded accounts), fund (opening balance of each),
-- npool (accounts of the large pool, 0 for none).
--
-- Creates the extension; 'bb-system' (no floor); 'bb-acct-1' ..
-- 'bb-acct-N' (contiguous ids, funded); 'bb-pool-1' .. 'bb-pool-M' (the
-- large pool: M = npool, contiguous ids, funded, where uniform batches of
-- 100 rarely share an account); 'bb-hot-buffered' (hot_mode
-- 'buffered', receives); public.bench_insert and public.bench_voucher_seq as
-- in setup.sql; and public.bb_items(n, lo, naccounts, hot), the items of one
-- post_batch call: n transfers of 1..100, each from a uniformly random
-- account of lo .. lo + naccounts - 1 to another one (hot NULL) or to the
-- account hot, each with a fresh voucher 'bb-<seq>'.  The same draws make
-- the rows of the multi-row INSERT baseline (public.bb_insert(n, lo,
-- naccounts)), so both sides pay the same generation cost.

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

CREATE FUNCTION public.bb_items(n int, lo bigint, naccounts int, hot bigint) RETURNS jsonb
LANGUAGE sql VOLATILE AS $$
    SELECT jsonb_agg(jsonb_build_object(
               'op', 'transfer',
               'voucher', 'bb-' || nextval('public.bench_voucher_seq'),
               'debit', d.a,
               'credit', coalesce(hot, lo + (d.a - lo + 1 + floor(random() * (naccounts - 1))::int) % naccounts),
               'amount', 1 + floor(random() * 100)::int))
      FROM (SELECT lo + floor(random() * naccounts)::int AS a FROM generate_series(1, n)) d
$$;

CREATE FUNCTION public.bb_insert(n int, lo bigint, naccounts int) RETURNS bigint
LANGUAGE sql VOLATILE AS $$
    WITH ins AS (
        INSERT INTO public.bench_insert (a, b, amount)
        SELECT d.a, lo + (d.a - lo + 1 + floor(random() * (naccounts - 1))::int) % naccounts,
               1 + floor(random() * 100)::int
          FROM (SELECT lo + floor(random() * naccounts)::int AS a FROM generate_series(1, n)) d
        RETURNING 1)
    SELECT count(*) FROM ins
$$;

SELECT creditledger.open_account('bb-system', 'CNY', 'credit', NULL) AS system_id
\gset
SELECT count(creditledger.open_account('bb-acct-' || i, 'CNY')) AS opened
  FROM generate_series(1, :naccounts) AS i;
SELECT count(creditledger.transfer('bb-fund-' || a.account_id, :system_id, a.account_id, :fund)) AS funded
  FROM (SELECT account_id FROM creditledger.accounts
         WHERE code LIKE 'bb-acct-%' ORDER BY account_id) AS a;
-- The large pool: funded by post_batch calls of 1,000, each its own
-- transaction (\gexec), so that no transaction holds 100,000 mode locks.
SELECT count(creditledger.open_account('bb-pool-' || i, 'CNY')) AS pooled
  FROM generate_series(1, :npool) AS i;
SELECT coalesce(min(account_id), 0) AS pool_lo, coalesce(max(account_id), -1) AS pool_hi
  FROM creditledger.accounts WHERE code LIKE 'bb-pool-%'
\gset
SELECT format('SELECT count(*) FILTER (WHERE sqlstate IS NOT NULL) AS refused'
              ' FROM creditledger.post_batch((SELECT jsonb_agg(jsonb_build_object(''op'', ''transfer'','
              ' ''voucher'', ''bb-pool-fund-'' || a, ''debit'', %s, ''credit'', a, ''amount'', %s))'
              ' FROM generate_series(%s, %s) AS a))',
              :system_id, :fund, c, least(c + 999, :pool_hi))
  FROM generate_series(:pool_lo, :pool_hi, 1000) AS c
\gexec
SELECT creditledger.open_account('bb-hot-buffered', 'CNY', hot_mode => 'buffered') AS hot;

VACUUM ANALYZE;
CHECKPOINT;
