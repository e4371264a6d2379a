-- Credit-line benchmark setup (run once by test/bench/bench.sh on its
-- throwaway cluster, after setup.sql, or alone with BENCH_ONLY=credit).
--
-- psql variables: nlines (lines per group), line_limit (limit of every
-- customer line), parent_limit (limit of the two throughput parents),
-- slices (hot slices of the hot parent).
--
-- Creates (CREATE EXTENSION if setup.sql did not run):
--   * 'bench-cl-free-1' .. N: customer lines with no parent;
--   * 'bench-cl-hot-parent', made hot with set_credit_line_hot(:slices),
--     and its children 'bench-cl-hot-1' .. N;
--   * 'bench-cl-plain-parent' (not hot) and its children 'bench-cl-plain-1' .. N;
--   * 'bench-cl-race-parent' and its children 'bench-cl-race-1' .. N: the
--     parent is created with limit 0 and not hot; bench.sh gives it the
--     race's limit and then makes it hot (set_credit_line_hot spreads the
--     headroom evenly over the slices) right before the race;
--   * public.bench_credit_try_freeze(line, amount, ref): credit_freeze that
--     returns false instead of raising LD002 (pgbench aborts a client on any
--     error but a serialization failure or deadlock), logging each refusal in
--     public.bench_credit_refusals (amount, time), which the race's checks read.
-- Each group's lines are created in one statement, in code order, so their
-- ids are contiguous (bench.sh checks it: pgbench's random(lo, hi) maps
-- straight onto them); parents are created before their children. The
-- parent limits and :line_limit are far above what the throughput runs can
-- hold at once (each pgbench transaction freezes at most 100, then releases
-- it), so those runs never see LD002; only the race parent's limit binds.
-- The race's refs are 'br-...', the throughput runs' 'bf-...' (holds) and
-- 'bu-...' (unfreezes).

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

CREATE EXTENSION IF NOT EXISTS creditledger;

SELECT count(creditledger.create_credit_line('bench-cl-free-' || i, 'CNY', :line_limit)) AS free_lines
  FROM generate_series(1, :nlines) AS i;

SELECT creditledger.create_credit_line('bench-cl-hot-parent', 'CNY', :parent_limit) AS hot_parent,
       creditledger.create_credit_line('bench-cl-plain-parent', 'CNY', :parent_limit) AS plain_parent,
       creditledger.create_credit_line('bench-cl-race-parent', 'CNY', 0) AS race_parent
\gset
SELECT creditledger.set_credit_line_hot(:hot_parent, :slices);

SELECT count(creditledger.create_credit_line('bench-cl-hot-' || i, 'CNY', :line_limit,
                                             ARRAY[:hot_parent]::bigint[])) AS hot_children
  FROM generate_series(1, :nlines) AS i;
SELECT count(creditledger.create_credit_line('bench-cl-plain-' || i, 'CNY', :line_limit,
                                             ARRAY[:plain_parent]::bigint[])) AS plain_children
  FROM generate_series(1, :nlines) AS i;
SELECT count(creditledger.create_credit_line('bench-cl-race-' || i, 'CNY', :line_limit,
                                             ARRAY[:race_parent]::bigint[])) AS race_children
  FROM generate_series(1, :nlines) AS i;

CREATE TABLE public.bench_credit_refusals (
    amount     bigint NOT NULL,
    refused_at timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE FUNCTION public.bench_credit_try_freeze(line bigint, amount bigint, ref text)
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
