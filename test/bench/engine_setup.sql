-- Credit-engine benchmark setup (test/bench/credit_engine.sh), after setup.sql
-- (accounts for the transfer baseline).
--
-- psql variables: nlines (lines per group), line_limit, parent_limit,
-- race_limit.  Every hot line uses set_credit_line_hot's DEFAULT slice count.
--
-- Creates, each group's lines in one statement (contiguous ids):
--   * 'be-free-1'..N: customer lines with no parent (the freeze+unfreeze
--     baseline);
--   * 'be-fz-1'..N: customer lines with no parent for the freeze-only runs,
--     which leave their holds open: apart, so that the baseline's lines
--     come to the pair runs as fresh as the hot and chain groups' lines;
--   * 'be-hot-parent' (hot, default slices) and its children 'be-hot-1'..N;
--   * 'be-product' (hot) > 'be-group' (hot) > 'be-chain-1'..N: the
--     three-level chain customer -> hot group -> hot product;
--   * 'be-race-hot-parent' (hot, limit race_limit) and 'be-race-hot-1'..N;
--   * 'be-race-plain-parent' (plain, limit race_limit) and 'be-race-plain-1'..N;
--   * public.bench_credit_try_freeze (false and a logged refusal on LD002).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT count(creditledger.create_credit_line('be-free-' || i, 'CNY', :line_limit)) AS free_lines
  FROM generate_series(1, :nlines) AS i;
SELECT count(creditledger.create_credit_line('be-fz-' || i, 'CNY', :line_limit)) AS freeze_lines
  FROM generate_series(1, :nlines) AS i;

SELECT creditledger.create_credit_line('be-hot-parent', 'CNY', :parent_limit) AS hot_parent,
       creditledger.create_credit_line('be-product', 'CNY', :parent_limit) AS product,
       creditledger.create_credit_line('be-race-hot-parent', 'CNY', :race_limit) AS race_hot,
       creditledger.create_credit_line('be-race-plain-parent', 'CNY', :race_limit) AS race_plain
\gset
SELECT creditledger.create_credit_line('be-group', 'CNY', :parent_limit, ARRAY[:product]::bigint[]) AS grp
\gset
SELECT creditledger.set_credit_line_hot(:hot_parent), creditledger.set_credit_line_hot(:product),
       creditledger.set_credit_line_hot(:grp), creditledger.set_credit_line_hot(:race_hot);

SELECT count(creditledger.create_credit_line('be-hot-' || i, 'CNY', :line_limit,
                                             ARRAY[:hot_parent]::bigint[])) FROM generate_series(1, :nlines) AS i;
SELECT count(creditledger.create_credit_line('be-chain-' || i, 'CNY', :line_limit,
                                             ARRAY[:grp]::bigint[])) FROM generate_series(1, :nlines) AS i;
SELECT count(creditledger.create_credit_line('be-race-hot-' || i, 'CNY', :line_limit,
                                             ARRAY[:race_hot]::bigint[])) FROM generate_series(1, :nlines) AS i;
SELECT count(creditledger.create_credit_line('be-race-plain-' || i, 'CNY', :line_limit,
                                             ARRAY[:race_plain]::bigint[])) FROM generate_series(1, :nlines) AS i;

CREATE TABLE IF NOT EXISTS public.bench_credit_refusals (
    amount     bigint NOT NULL,
    refused_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE OR REPLACE FUNCTION public.bench_credit_try_freeze(line bigint, amount bigint, ref text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    PERFORM creditledger.credit_freeze(line, amount, ref);
    RETURN true;
EXCEPTION WHEN SQLSTATE 'LD002' THEN
    INSERT INTO public.bench_credit_refusals (amount) VALUES (amount);
    RETURN false;
END
$$;

VACUUM ANALYZE;
CHECKPOINT;
