-- credit_limits: the seeds' limit system: temporary limits (临额) with
-- validity windows (started and ended on time, ended early, replayed,
-- refused), the worker's task entry point, hot lines, and link control
-- usage / grant / both (Σ granted within the parent's limit on link and
-- set_credit_limit, of the child and of the parent), journal entries,
-- BCP rules, verify_chain and digests.
-- A database of its own: earlier tests leave deliberately broken chains behind.
CREATE DATABASE credit_limits_regression;
\c credit_limits_regression
SET client_min_messages = warning;
CREATE EXTENSION creditledger;
RESET client_min_messages;
SET search_path = creditledger, public;
\set VERBOSITY sqlstate
-- the worker serves contrib_regression only; here every start and end is
-- made by hand with credit_apply_temporary_limits()

-- The rules that do not pass, with their mismatch counts.
CREATE FUNCTION pg_temp.failing() RETURNS TABLE(rule text, status text, mismatches bigint)
LANGUAGE sql AS $$
    SELECT rule, status, mismatches FROM creditledger.bcp_run(record => false)
     WHERE status <> 'pass' ORDER BY rule
$$;

--------------------------------------------------------------------------
-- Temporary limits
--------------------------------------------------------------------------
SELECT create_credit_line('tl:a', 'CNY', 1000) AS a \gset
SELECT credit_freeze(:a, 900, 'tl-f1') > 0 AS frozen;
SELECT credit_freeze(:a, 200, 'tl-f2');                      -- LD002: 100 available
-- a temporary limit starting now raises the available amount at once
SELECT set_temporary_limit(:a, 'tl-t1', 500, now() + interval '1 day') AS t1 \gset
SELECT limit_amount, temporary_limit, frozen, available, granted FROM credit_line_state(:a);
SELECT credit_freeze(:a, 200, 'tl-f2') > 0 AS frozen_now;
SELECT status, amount, started_at IS NOT NULL AS started, ended_at IS NULL AS not_ended
  FROM credit_temporary_limits WHERE temporary_limit_id = :t1;
-- replay: same payload (valid_from omitted again) returns the same id;
-- any other payload is LD004
SELECT set_temporary_limit(:a, 'tl-t1', 500,
       (SELECT valid_until FROM credit_temporary_limits WHERE ref = 'tl-t1')) = :t1 AS replay;
SELECT set_temporary_limit(:a, 'tl-t1', 501,
       (SELECT valid_until FROM credit_temporary_limits WHERE ref = 'tl-t1'));
SELECT set_temporary_limit(:a, 'tl-t1', 500, now() + interval '2 days');
SELECT set_temporary_limit(:a, 'tl-t1', 500,
       (SELECT valid_until FROM credit_temporary_limits WHERE ref = 'tl-t1'), now() - interval '1 hour');
-- bad arguments: 22004, 22023, then the reference, then the line
SELECT set_temporary_limit(NULL, 'tl-x', 1, now() + interval '1 day');
SELECT set_temporary_limit(:a, NULL, 1, now() + interval '1 day');
SELECT set_temporary_limit(:a, 'tl-x', NULL, now() + interval '1 day');
SELECT set_temporary_limit(:a, 'tl-x', 1, NULL);
SELECT set_temporary_limit(:a, 'tl-x', 1, now() + interval '1 day', NULL);
SELECT set_temporary_limit(:a, '', 1, now() + interval '1 day');
SELECT set_temporary_limit(:a, '   ', 1, now() + interval '1 day');
SELECT set_temporary_limit(:a, repeat('x', 129), 1, now() + interval '1 day');
SELECT set_temporary_limit(:a, 'creditledger:tl', 1, now() + interval '1 day');
SELECT set_temporary_limit(:a, 'tl-x', 0, now() + interval '1 day');
SELECT set_temporary_limit(:a, 'tl-x', -5, now() + interval '1 day');
SELECT set_temporary_limit(:a, 'tl-x', 1, now() + interval '1 day', now() + interval '2 days');
SELECT set_temporary_limit(:a, 'tl-x', 1, now() - interval '1 second', now() - interval '1 day');
SELECT set_temporary_limit(999999, 'tl-x', 1, now() + interval '1 day');
SELECT set_temporary_limit(:a, 'tl-x', 9223372036854775000, now() + interval '1 day');
SELECT count(*) AS nothing_left_behind FROM credit_temporary_limits WHERE ref = 'tl-x';

-- ending early: the line behaves as after a limit decrease (below its
-- utilisation is allowed, new freezes are refused until it is back)
SELECT end_temporary_limit('tl-t1');
SELECT limit_amount, temporary_limit, frozen, available FROM credit_line_state(:a);
SELECT limit_decreased_at IS NOT NULL AS decrease_recorded FROM credit_lines WHERE line_id = :a;
SELECT status, ended_at IS NOT NULL AS ended FROM credit_temporary_limits WHERE temporary_limit_id = :t1;
SELECT credit_freeze(:a, 1, 'tl-f3');                         -- LD002
SELECT kind FROM credit_alerts WHERE line_id = :a ORDER BY kind;
-- ending again changes nothing; a replay of the grant still returns its id
SELECT end_temporary_limit('tl-t1');
SELECT set_temporary_limit(:a, 'tl-t1', 500,
       (SELECT valid_until FROM credit_temporary_limits WHERE ref = 'tl-t1')) = :t1 AS replay_after_end;
SELECT temporary_limit FROM credit_line_state(:a);
SELECT end_temporary_limit(NULL);
SELECT end_temporary_limit('');
SELECT end_temporary_limit('tl-unknown');                    -- LD006
SELECT credit_unfreeze('tl-f2', 'tl-u2') > 0 AS unfrozen;
SELECT credit_unfreeze('tl-f1', 'tl-u1', 100) > 0 AS unfrozen;
SELECT available FROM credit_line_state(:a);
SELECT credit_freeze(:a, 100, 'tl-f3') > 0 AS frozen_again;

-- a future-dated temporary limit starts at valid_from; its window passes and
-- it expires; both by credit_apply_temporary_limits (the worker's task)
SELECT set_temporary_limit(:a, 'tl-t2', 300, now() + interval '1 day', now() + interval '1 hour') AS t2 \gset
SELECT status, (SELECT temporary_limit FROM credit_line_state(:a)) AS temporary_limit
  FROM credit_temporary_limits WHERE temporary_limit_id = :t2;
SELECT credit_apply_temporary_limits() AS nothing_due;
-- move the window back, as time passing would (behind the guard)
UPDATE ledger_credit_temporary_limits SET valid_from = valid_from - interval '2 hours'
 WHERE temporary_limit_id = :t2;
SELECT credit_apply_temporary_limits() AS started;
SELECT status, (SELECT temporary_limit FROM credit_line_state(:a)) AS temporary_limit,
       (SELECT available FROM credit_line_state(:a)) AS available
  FROM credit_temporary_limits WHERE temporary_limit_id = :t2;
SELECT credit_freeze(:a, 300, 'tl-f4') > 0 AS uses_it;
UPDATE ledger_credit_temporary_limits SET valid_from = valid_from - interval '2 days',
       valid_until = valid_until - interval '2 days', started_at = started_at - interval '2 days'
 WHERE temporary_limit_id = :t2;
SELECT credit_apply_temporary_limits() AS expired;
SELECT status, (SELECT temporary_limit FROM credit_line_state(:a)) AS temporary_limit,
       (SELECT available FROM credit_line_state(:a)) AS available
  FROM credit_temporary_limits WHERE temporary_limit_id = :t2;
SELECT credit_freeze(:a, 1, 'tl-f5');                         -- LD002: over its limit now
-- a scheduled one ended early never starts; one whose whole window passed
-- before the worker came expires without starting
SELECT set_temporary_limit(:a, 'tl-t3', 50, now() + interval '3 days', now() + interval '2 days') AS t3 \gset
SELECT end_temporary_limit('tl-t3');
SELECT set_temporary_limit(:a, 'tl-t4', 60, now() + interval '3 days', now() + interval '2 days') AS t4 \gset
UPDATE ledger_credit_temporary_limits SET valid_from = now() - interval '2 days',
       valid_until = now() - interval '1 day' WHERE temporary_limit_id = :t4;
SELECT credit_apply_temporary_limits() AS expired_unstarted;
SELECT ref, status, started_at IS NOT NULL AS started, ended_at IS NOT NULL AS ended
  FROM credit_temporary_limits WHERE line_id = :a ORDER BY temporary_limit_id;
-- every start and end is a credit journal entry with zero deltas on the
-- line's own chain
SELECT op, ref, frozen_delta, used_delta, returned_delta
  FROM credit_journal WHERE line_id = :a AND op LIKE 'temp_limit%' ORDER BY version;
SELECT bool_and(frozen_after = prev_frozen + frozen_delta) AS afters_chain
  FROM (SELECT frozen_after, frozen_delta,
               coalesce(lag(frozen_after) OVER (ORDER BY version), 0) AS prev_frozen
          FROM credit_journal WHERE line_id = :a AND slice = 0) j;
-- closed lines take no temporary limit
SELECT create_credit_line('tl:closed', 'CNY', 10) AS cl \gset
SELECT close_credit_line(:cl);
SELECT set_temporary_limit(:cl, 'tl-c', 1, now() + interval '1 day');   -- LD006

--------------------------------------------------------------------------
-- Hot lines: a start and an end spread the headroom again, as a limit
-- change does
--------------------------------------------------------------------------
SELECT create_credit_line('tl:hot', 'CNY', 400) AS h \gset
SELECT set_credit_line_hot(:h, 4);
SELECT sum(headroom) AS headroom FROM credit_line_slices WHERE line_id = :h;
SELECT set_temporary_limit(:h, 'tl-h1', 800, now() + interval '1 day') > 0 AS granted;
SELECT headroom FROM credit_line_slices WHERE line_id = :h ORDER BY slice;
SELECT count(credit_freeze(:h, 250, 'tl-hf' || g)) AS frozen FROM generate_series(1, 4) g;
SELECT available FROM credit_line_state(:h);
SELECT end_temporary_limit('tl-h1');
SELECT available, (SELECT sum(headroom) FROM credit_line_slices WHERE line_id = :h) AS headroom,
       (SELECT bool_or(headroom > 0) FROM credit_line_slices WHERE line_id = :h) AS any_slice_gives
  FROM credit_line_state(:h);
SELECT credit_freeze(:h, 1, 'tl-hf9');                        -- LD002
SELECT count(credit_unfreeze('tl-hf' || g, 'tl-hu' || g)) AS unfrozen FROM generate_series(1, 3) g;
SELECT available FROM credit_line_state(:h);
SELECT credit_freeze(:h, 150, 'tl-hf9') > 0 AS frozen_again;

--------------------------------------------------------------------------
-- Link control: usage (as before), grant (limits carved from the parent's,
-- usage not counted there), both
--------------------------------------------------------------------------
SELECT create_credit_line('gc:group', 'CNY', 1000) AS g \gset
SELECT create_credit_line('gc:k1', 'CNY', 600) AS k1 \gset
SELECT create_credit_line('gc:k2', 'CNY', 500) AS k2 \gset
SELECT create_credit_line('gc:k3', 'CNY', 300) AS k3 \gset
SELECT link_credit_line(:k1, :g, 'grant');
SELECT link_credit_line(:k2, :g, 'grant');                    -- LD002: 600 + 500 > 1000
SELECT link_credit_line(:k2, :g, 'both');                     -- LD002 too
SELECT link_credit_line(:k3, :g, 'both');
SELECT limit_amount, granted, frozen, available FROM credit_line_state(:g);
-- replays; another control for an existing link is LD004
SELECT link_credit_line(:k1, :g, 'grant');
SELECT link_credit_line(:k1, :g);
SELECT link_credit_line(:k1, :g, 'usage');
-- bad arguments
SELECT link_credit_line(:k2, :g, NULL);
SELECT link_credit_line(:k2, :g, 'carve');
SELECT link_credit_line(:k2, 999999, 'grant');
-- a cycle through a grant link is a cycle too
SELECT link_credit_line(:g, :k1, 'usage');
SELECT link_credit_line(:g, :k3, 'grant');
-- usage: grant only does not count the child's usage at the parent; both does
SELECT credit_freeze(:k1, 400, 'gc-f1') > 0 AS k1_frozen;
SELECT credit_freeze(:k3, 100, 'gc-f3') > 0 AS k3_frozen;
SELECT line_id = :g AS is_group, frozen, available FROM credit_lines WHERE line_id IN (:g, :k1, :k3) ORDER BY line_id;
SELECT array_length(parents, 1) AS parents FROM credit_lines WHERE line_id = :k1;
-- set_credit_limit of a granting child: a raise must fit in the parent
SELECT set_credit_limit(:k1, 701);                            -- LD002: 701 + 300 > 1000
SELECT set_credit_limit(:k1, 700);
SELECT set_credit_limit(:k1, 500);                             -- a decrease always fits
-- set_credit_limit of the parent: it must still cover what it granted
SELECT set_credit_limit(:g, 799);                              -- LD002: granted 800
SELECT set_credit_limit(:g, 800);
SELECT limit_amount, granted FROM credit_line_state(:g);
SELECT set_credit_limit(:g, 2000);
SELECT link_credit_line(:k2, :g, 'grant');
SELECT limit_amount, granted FROM credit_line_state(:g);
-- temporary limits are not carved: a child's 临额 is its own
SELECT set_temporary_limit(:k1, 'gc-t1', 5000, now() + interval '1 day') > 0 AS child_temp;
SELECT granted FROM credit_line_state(:g);
SELECT end_temporary_limit('gc-t1');
-- usage link of a child with amounts carries them (as before); create with
-- parents makes usage links
SELECT create_credit_line('gc:k4', 'CNY', 100, ARRAY[:g]) AS k4 \gset
SELECT control FROM credit_line_links WHERE child_id = :k4;
SELECT credit_freeze(:k4, 10, 'gc-f4') > 0 AS k4_frozen;
SELECT frozen FROM credit_line_state(:g);
SELECT child_id = :k1 AS k1, child_id = :k2 AS k2, child_id = :k3 AS k3, control
  FROM credit_line_links WHERE parent_id = :g AND child_id <> :k4 ORDER BY child_id;

--------------------------------------------------------------------------
-- Reconciliation: the new rules pass; tampering behind the guard fails them
--------------------------------------------------------------------------
-- :a back within its limit (no rule reports it over its limit any more)
SELECT credit_unfreeze('tl-f4', 'tl-u4') > 0 AS unfrozen;
SET client_min_messages = warning;
SELECT * FROM pg_temp.failing();
SELECT count(*) AS problems FROM verify_chain();
SELECT name, severity FROM bcp_rules
 WHERE name IN ('credit_granted_within_limit', 'credit_temporary_limits_consistent',
                'credit_temporary_limits_on_time', 'credit_totals') ORDER BY name;
SELECT digest_id AS d, digest FROM ledger_digest() \gset
SELECT verify_digest(:d, :'digest') AS digest_verifies;
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_credit_lines SET limit_amount = 100 WHERE line_id = :g;
UPDATE ledger_credit_lines SET temporary_limit = temporary_limit + 1 WHERE line_id = :a;
SELECT * FROM pg_temp.failing();
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_credit_temporary_limits SET status = 'active', ended_at = NULL WHERE ref = 'tl-t3';
UPDATE ledger_credit_temporary_limits SET valid_until = now() - interval '1 hour',
       valid_from = now() - interval '2 hours', started_at = now() - interval '2 hours'
 WHERE ref = 'tl-h1';
UPDATE ledger_credit_temporary_limits SET status = 'active', ended_at = NULL WHERE ref = 'tl-h1';
SELECT * FROM pg_temp.failing();
SELECT kind FROM credit_alerts WHERE kind = 'temporary_limit_overdue';
ROLLBACK;
SELECT * FROM pg_temp.failing();

-- statistics count the new operations
SELECT operation, calls > 0 AS called, errors > 0 AS had_errors FROM stat_operations
 WHERE operation IN ('set_temporary_limit', 'end_temporary_limit', 'credit_apply_temporary_limits',
                     'link_credit_line', 'set_credit_limit')
 ORDER BY operation;

\c contrib_regression
DROP DATABASE credit_limits_regression;
