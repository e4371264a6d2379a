-- Audit benchmark setup (run once by test/bench/bench.sh, BENCH_ONLY=audit or
-- a full run, in a database of its own on the throwaway cluster, so that the
-- ledger and credit parts neither see nor slow down this big ledger).
--
-- psql variables: naccounts (customer accounts), ntransfers (transfers from
-- the bank to them: two journal entries each; a multiple of 1000),
-- ncreditops (credit freezes, each followed by an unfreeze, a use, a use and
-- a return, or nothing).
--
-- Creates:
--   * the extension;
--   * 'audit-bank' (debit-normal, no floor) and 'audit-acct-1' .. N;
--   * :ntransfers transfers 'a-G' from the bank to account 1 + G % N of
--     1 + G % 50 each, 1000 per statement, COMMIT after each (a DO block);
--   * 'audit-buf' (hot_mode 'buffered': 200 postings into it, then flush(),
--     as no worker serves this database) and 'audit-split' (funded plain,
--     then split over 8 sub-accounts: 200 payments out of it, 200 into it);
--   * reversals of 20 bank transfers, of a buffered posting and of a split
--     payment;
--   * a credit DAG: 'audit-cl-group' (hot, 8 slices) over 'audit-cl-region';
--     'audit-cl-prod' (hot, 4 slices, folded back at the end with
--     set_credit_line_hot(.., 0)); 40 customer lines 'audit-cl-c1' .. 40 under
--     [region, group] (a diamond: the group twice), [group, prod],
--     [region, prod] or [group]; :ncreditops freezes on them, released in
--     every way (full and partial unfreeze, use with release_rest, use then
--     return, use leaving the rest open, left open), plus a direct drawdown
--     every 10th; a limit decrease on a hot line (a re-spread) on the way;
--   * public.audit_time(stmt): runs one statement returning one value, and
--     returns that value and the seconds it took (clock_timestamp around it,
--     server side: no client round trip in the figure);
--   * public.audit_explain(rule): EXPLAIN (ANALYZE, BUFFERS) of a BCP rule's
--     query, without JIT as bcp_run runs it;
--   * public.audit_bcp: where bench.sh keeps the rows of its bcp_run;
-- then VACUUM ANALYZE and CHECKPOINT.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION creditledger;

SELECT set_config('audit.naccounts', :'naccounts', false),
       set_config('audit.ntransfers', :'ntransfers', false),
       set_config('audit.ncreditops', :'ncreditops', false);

SELECT creditledger.open_account('audit-bank', 'CNY', 'debit', NULL) AS bank
\gset
SELECT count(creditledger.open_account('audit-acct-' || i, 'CNY')) AS opened
  FROM generate_series(1, :naccounts) AS i;

-- The bulk of the ledger: 1000 transfers per statement, one commit each.
DO $$
DECLARE
    bank bigint := creditledger.account_id('audit-bank');
    lo bigint := creditledger.account_id('audit-acct-1');
    nacc int := current_setting('audit.naccounts')::int;
    nbatches int := current_setting('audit.ntransfers')::int / 1000;
BEGIN
    IF creditledger.account_id('audit-acct-' || nacc) <> lo + nacc - 1 THEN
        RAISE EXCEPTION 'audit accounts do not have contiguous ids';
    END IF;
    FOR b IN 0 .. nbatches - 1 LOOP
        PERFORM creditledger.transfer('a-' || g, bank, lo + (g % nacc), 1 + g % 50)
           FROM generate_series(b * 1000 + 1, b * 1000 + 1000) AS g;
        COMMIT;
    END LOOP;
END
$$;

-- Hot accounts: buffered increases (flushed here), a split account.
SELECT creditledger.open_account('audit-buf', 'CNY', hot_mode => 'buffered') AS buf,
       creditledger.open_account('audit-split', 'CNY') AS split
\gset
SELECT creditledger.transfer('audit-fund-split', :bank, :split, 1000000);
SELECT creditledger.set_hot_mode(:split, 'split', 8);
SELECT count(creditledger.transfer('ab-' || g, :bank, :buf, 1 + g % 7)) AS buffered
  FROM generate_series(1, 200) AS g;
SELECT creditledger.flush() AS flushed;
SELECT count(creditledger.transfer('as-out-' || g, :split,
                                   creditledger.account_id('audit-acct-' || (1 + g % 10)), 1 + g % 9)) AS split_out
  FROM generate_series(1, 200) AS g;
SELECT count(creditledger.transfer('as-in-' || g, :bank, :split, 1 + g % 5)) AS split_in
  FROM generate_series(1, 200) AS g;

-- Reversals.
SELECT count(creditledger.reverse('a-' || g)) AS reversed FROM generate_series(1, 20) AS g;
SELECT creditledger.reverse('ab-1') > 0 AS reversed_buffered,
       creditledger.reverse('as-out-1') > 0 AS reversed_split;

-- Credit: a small DAG with hot lines.
SELECT creditledger.create_credit_line('audit-cl-group', 'CNY', 1000000000000) AS grp,
       creditledger.create_credit_line('audit-cl-prod', 'CNY', 1000000000000) AS prod
\gset
SELECT creditledger.create_credit_line('audit-cl-region', 'CNY', 100000000000, ARRAY[:grp]::bigint[]) AS region
\gset
SELECT creditledger.set_credit_line_hot(:grp, 8);
SELECT creditledger.set_credit_line_hot(:prod, 4);
SELECT count(creditledger.create_credit_line('audit-cl-c' || i, 'CNY', 1000000000,
             CASE i % 4 WHEN 0 THEN ARRAY[:region, :grp]
                        WHEN 1 THEN ARRAY[:grp, :prod]
                        WHEN 2 THEN ARRAY[:region, :prod]
                        ELSE ARRAY[:grp] END::bigint[])) AS customer_lines
  FROM generate_series(1, 40) AS i;

DO $$
DECLARE
    n int := current_setting('audit.ncreditops')::int;
    line bigint;
    h text;
BEGIN
    FOR i IN 1 .. n LOOP
        line := creditledger.credit_line_id('audit-cl-c' || (1 + i % 40));
        h := 'ah-' || i;
        PERFORM creditledger.credit_freeze(line, 10 + i % 91, h);
        CASE i % 6
            WHEN 0 THEN PERFORM creditledger.credit_unfreeze(h, 'au-' || i);
            WHEN 1 THEN PERFORM creditledger.credit_unfreeze(h, 'au-' || i, 3);
            WHEN 2 THEN PERFORM creditledger.credit_use(h, 'ad-' || i, 5, true);
            WHEN 3 THEN PERFORM creditledger.credit_use(h, 'ad-' || i, 8);
                        PERFORM creditledger.credit_return('ad-' || i, 'ar-' || i, 3);
            WHEN 4 THEN PERFORM creditledger.credit_use(h, 'ad-' || i, 4);
            ELSE NULL;   -- left open
        END CASE;
        IF i % 10 = 0 THEN
            PERFORM creditledger.credit_use_direct(line, 7, 'ax-' || i);
        END IF;
        IF i = n / 2 THEN   -- a limit decrease on a hot line: its headroom re-spread
            PERFORM creditledger.set_credit_limit(creditledger.credit_line_id('audit-cl-group'),
                                                  900000000000);
        END IF;
        IF i % 500 = 0 THEN
            COMMIT;
        END IF;
    END LOOP;
END
$$;
-- Fold the product line's slices back into its own chain.
SELECT creditledger.set_credit_line_hot(:prod, 0);

CREATE FUNCTION public.audit_time(stmt text, OUT result text, OUT seconds double precision)
LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz;
BEGIN
    t0 := clock_timestamp();
    EXECUTE stmt INTO result;
    seconds := extract(epoch FROM clock_timestamp() - t0);
END
$$;

-- EXPLAIN (ANALYZE, BUFFERS) of a BCP rule's query, as bcp_run runs it (no JIT).
CREATE FUNCTION public.audit_explain(rule text) RETURNS SETOF text
LANGUAGE plpgsql SET jit = off AS $$
DECLARE
    q text;
    l text;
BEGIN
    SELECT r.check_sql INTO STRICT q FROM creditledger.bcp_rules r WHERE r.name = rule;
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, BUFFERS) ' || q LOOP
        RETURN NEXT l;
    END LOOP;
END
$$;

CREATE TABLE public.audit_bcp (
    rule        text,
    severity    text,
    status      text,
    mismatches  bigint,
    sample      jsonb,
    duration_ms double precision
);

VACUUM ANALYZE;
CHECKPOINT;
