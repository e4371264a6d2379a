-- credit_batched: batched hot lines (the default of set_credit_line_hot):
-- a change under the line adds to its slice's pending columns, no slice
-- entry; credit_settle_hot_lines() (the worker's task) appends one chained
-- batch entry per slice; rules and verify_chain hold before and after; a
-- slice-count change or turning hot off settles before it folds; the
-- per_slice option; bad arguments.
-- A database of its own: the regression database's worker settles on its
-- own schedule, here every settle is made by hand.
CREATE DATABASE credit_batched_regression;
\c credit_batched_regression
SET client_min_messages = warning;
CREATE EXTENSION creditledger;
-- (bcp_run's notices stay quiet)
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

-- The rules that do not pass, with their mismatch counts.
CREATE FUNCTION pg_temp.failing() RETURNS TABLE(rule text, status text, mismatches bigint)
LANGUAGE sql AS $$
    SELECT rule, status, mismatches FROM creditledger.bcp_run(record => false)
     WHERE status <> 'pass' ORDER BY rule $$;
-- A line's slices' amounts and pending amounts, summed, and whether any
-- slice has changes pending.
CREATE FUNCTION pg_temp.slices(line bigint) RETURNS TABLE(frozen bigint, used bigint, returned bigint,
        pending_frozen bigint, pending_used bigint, pending_returned bigint, any_pending boolean)
LANGUAGE sql AS $$
    SELECT sum(frozen)::bigint, sum(used)::bigint, sum(returned)::bigint,
           sum(pending_frozen)::bigint, sum(pending_used)::bigint, sum(pending_returned)::bigint,
           bool_or(pending_since IS NOT NULL)
      FROM creditledger.credit_line_slices WHERE line_id = line $$;

SELECT create_credit_line('G', 'CNY', 1000) AS g \gset
SELECT create_credit_line('A', 'CNY', 600, ARRAY[:g]) AS a \gset
SELECT create_credit_line('B', 'CNY', 600, ARRAY[:g]) AS b \gset
SELECT set_credit_line_hot(:g, 4);
SELECT hot_slices, journal_chains FROM credit_lines WHERE line_id = :g;

-- changes under the line: entries for the children, none for G's slices
SELECT credit_freeze(:a, 300, 'h1') > 0 AS ok;
SELECT credit_freeze(:b, 200, 'h2') > 0 AS ok;
SELECT credit_use('h1', 'd1', 100) > 0 AS ok;
SELECT credit_return('d1', 'r1', 40) > 0 AS ok;
SELECT credit_unfreeze('h2', 'u2', 50) > 0 AS ok;
SELECT frozen, used, returned, available FROM credit_line_state(:g);
SELECT * FROM pg_temp.slices(:g);
SELECT l.code, j.slice, j.op, j.ref FROM credit_journal j JOIN credit_lines l USING (line_id)
 ORDER BY j.entry_id;
-- the rules hold with changes pending: totals count them, chain heads do not
SELECT * FROM pg_temp.failing();
SELECT count(*) AS problems FROM verify_chain();
SELECT sum(headroom) = (SELECT available FROM credit_lines WHERE line_id = :g) AS headroom_is_available
  FROM credit_line_slices WHERE line_id = :g;

-- settle: one batch entry per slice with pending changes, chained
SELECT count(*) FILTER (WHERE pending_since IS NOT NULL) AS pending_slices FROM credit_line_slices \gset
SELECT credit_settle_hot_lines() = :pending_slices AS settled_every_pending_slice;
SELECT * FROM pg_temp.slices(:g);
SELECT op, count(*) = :pending_slices AS one_per_slice, sum(frozen_delta) AS frozen,
       sum(used_delta) AS used, sum(returned_delta) AS returned,
       bool_and(ref = format('batch:%s:%s:%s', line_id, slice, version)) AS refs
  FROM credit_journal WHERE line_id = :g AND slice > 0 GROUP BY op;
SELECT * FROM pg_temp.failing();
SELECT count(*) AS problems FROM verify_chain();
SELECT credit_settle_hot_lines() AS nothing_left;
SELECT credit_settle_hot_lines(:a) AS not_hot, credit_settle_hot_lines(-1) AS no_such_line;

-- a second batch continues the chains
SELECT credit_freeze(:a, 10, 'h3') > 0 AS ok;
SELECT credit_unfreeze('h1', 'u1', 20) > 0 AS ok;
SELECT credit_settle_hot_lines(:g) >= 1 AS settled;
SELECT * FROM pg_temp.slices(:g);
SELECT count(*) AS problems FROM verify_chain();
SELECT * FROM pg_temp.failing();

-- changes that add up to nothing in a slice clear it without an entry
-- (a line of one slice, so both changes take the same one)
SELECT create_credit_line('Z', 'CNY', 100) AS z \gset
SELECT create_credit_line('Zc', 'CNY', 100, ARRAY[:z]) AS zc \gset
SELECT set_credit_line_hot(:z, 1);
SELECT credit_freeze(:zc, 5, 'z1') > 0 AS ok;
SELECT credit_unfreeze('z1', 'zu1') > 0 AS ok;
SELECT * FROM pg_temp.slices(:z);
SELECT credit_settle_hot_lines(:z) AS settled;
SELECT count(*) AS slice_entries FROM credit_journal WHERE line_id = :z AND slice > 0;
SELECT * FROM pg_temp.slices(:z);
SELECT * FROM pg_temp.failing();

-- a stale pending change is a warning (is the worker settling?)
SELECT credit_freeze(:a, 7, 'h5') > 0 AS ok;
UPDATE credit_line_slices SET pending_since = now() - interval '2 minutes'
 WHERE line_id = :g AND pending_since IS NOT NULL;
SELECT * FROM pg_temp.failing();
SET creditledger.bcp_slice_journal_max_age = '1h';
SELECT * FROM pg_temp.failing();
RESET creditledger.bcp_slice_journal_max_age;

-- a slice-count change with changes pending: settled, then folded
SELECT set_credit_line_hot(:g, 2);
SELECT * FROM pg_temp.slices(:g);
SELECT j.slice > 0 AS on_slice, j.op, count(*) > 0 AS entries FROM credit_journal j
 WHERE j.line_id = :g GROUP BY 1, 2 ORDER BY 1, 2;
SELECT frozen, used, returned FROM ledger_credit_lines WHERE line_id = :g;
SELECT frozen, used, returned, available FROM credit_line_state(:g);
SELECT * FROM pg_temp.failing();
SELECT count(*) AS problems FROM verify_chain();

-- the per_slice option: one slice entry per change, nothing pending
SELECT set_credit_line_hot(:g, 2, 'per_slice');
SELECT hot_slices, journal_chains FROM credit_lines WHERE line_id = :g;
SELECT count(*) AS entries_before FROM credit_journal WHERE line_id = :g AND slice > 0 \gset
SELECT credit_freeze(:b, 3, 'h6') > 0 AS ok;
SELECT count(*) - :entries_before AS new_slice_entries FROM credit_journal WHERE line_id = :g AND slice > 0;
SELECT * FROM pg_temp.slices(:g);

-- back to batched, then off: what is pending folds into the line's own chain
SELECT set_credit_line_hot(:g, 3, 'batched');
SELECT credit_freeze(:b, 4, 'h7') > 0 AS ok;
SELECT set_credit_line_hot(:g, 0);
SELECT hot_slices, journal_chains FROM credit_lines WHERE line_id = :g;
SELECT * FROM pg_temp.slices(:g);
SELECT frozen, used, returned FROM ledger_credit_lines WHERE line_id = :g;
SELECT * FROM pg_temp.failing();
SELECT count(*) AS problems FROM verify_chain();

-- bad arguments change nothing
SELECT set_credit_line_hot(:g, 2, 'sometimes');
SELECT set_credit_line_hot(:g, 2, NULL);
SELECT hot_slices, journal_chains FROM credit_lines WHERE line_id = :g;

\c contrib_regression
DROP DATABASE credit_batched_regression;
