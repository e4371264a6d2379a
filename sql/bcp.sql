-- bcp: BCP reconciliation.  Every built-in rule passes on a clean ledger and
-- fails, with the right mismatch count, when its invariant is broken behind
-- the guard (as superuser, session_replication_role = replica, rolled back);
-- user rules (a broken one too), history, metrics, digests.
-- A database of its own: earlier tests leave deliberately broken chains behind.
CREATE DATABASE bcp_regression;
\c bcp_regression
SET client_min_messages = warning;
CREATE EXTENSION creditledger;
-- user rules run by a superuser execute as creditledger_bcp_runner, which
-- needs its grants in this database
SELECT creditledger.setup_roles();
RESET client_min_messages;
SET search_path = creditledger, public;
\set VERBOSITY sqlstate
SET client_min_messages = warning;

-- The CLJ1 hash of a journal row (as the README and journal.sql compute it).
CREATE FUNCTION pg_temp.entry_hash(j creditledger.journal_entries) RETURNS bytea LANGUAGE sql AS $$
    SELECT sha256(j.prev_hash || 'CLJ1'::bytea
        || int8send(j.account_id) || int4send(j.sub_account) || int8send(j.version)
        || int8send(j.transfer_id) || convert_to(j.side::text, 'UTF8') || int8send(j.amount)
        || int8send(j.balance_before) || int8send(j.balance_after)
        || CASE WHEN j.is_reversal THEN '\x01'::bytea ELSE '\x00'::bytea END
        || int8send((extract(epoch FROM j.accepted_at) * 1000000)::bigint)
        || int8send((extract(epoch FROM j.posted_at) * 1000000)::bigint)
        || int4send(octet_length(j.voucher)) || convert_to(j.voucher, 'UTF8'))
$$;
-- Rehash an account's main chain after a deliberate edit: balances from the
-- amounts, every hash recomputed (CLJ1), the head moved: the edit is then
-- invisible to chain checks, as a careful forger would make it.
CREATE FUNCTION pg_temp.rehash(acct bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    e creditledger.journal_entries;
    bal bigint := 0;
    prev bytea := '\x0000000000000000000000000000000000000000000000000000000000000000';
    credit boolean;
BEGIN
    SELECT normal_side = 'credit' INTO credit FROM creditledger.ledger_accounts WHERE account_id = acct;
    FOR e IN SELECT * FROM creditledger.journal_entries
              WHERE account_id = acct AND sub_account = 0 ORDER BY version LOOP
        e.balance_before := bal;
        e.balance_after := bal + CASE WHEN (e.side = 'C') = credit THEN e.amount ELSE -e.amount END;
        e.prev_hash := prev;
        e.hash := pg_temp.entry_hash(e);
        UPDATE creditledger.journal_entries
           SET balance_before = e.balance_before, balance_after = e.balance_after,
               prev_hash = e.prev_hash, hash = e.hash
         WHERE entry_id = e.entry_id;
        bal := e.balance_after;
        prev := e.hash;
    END LOOP;
    UPDATE creditledger.ledger_accounts SET balance = bal, last_hash = prev WHERE account_id = acct;
END
$$;
-- The rules that do not pass, with their mismatch counts.
CREATE FUNCTION pg_temp.failing() RETURNS TABLE(rule text, severity text, status text, mismatches bigint)
LANGUAGE sql AS $$
    SELECT rule, severity, status, mismatches FROM creditledger.bcp_run(record => false)
     WHERE status <> 'pass' ORDER BY rule
$$;

-- A small ledger of its own: funding, customers, a split and a buffered account,
-- a reversal, and credit lines with a hold and a drawdown.
SELECT flush() >= 0 AS drained;
SELECT credit_expire_holds() >= 0 AS expired;
SELECT open_account('bcp:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('bcp:a', 'CNY') AS a \gset
SELECT open_account('bcp:b', 'CNY') AS b \gset
SELECT open_account('bcp:split', 'CNY', 'credit', 0, 'split', 4) AS s \gset
SELECT open_account('bcp:buf', 'CNY', 'credit', 0, 'buffered') AS buf \gset
SELECT transfer('bcp-1', :bank, :a, 1000) AS t1 \gset
SELECT transfer('bcp-2', :a, :b, 300) AS t2 \gset
SELECT transfer('bcp-3', :bank, :s, 800) > 0 AS ok;
SELECT transfer('bcp-4', :s, :b, 100) > 0 AS ok;
SELECT transfer('bcp-5', :b, :a, 50) AS t5 \gset
SELECT creditledger.reverse('bcp-5') > 0 AS ok;
SELECT transfer('bcp-6', :a, :buf, 20) > 0 AS ok;
SELECT create_credit_line('bcp:g', 'CNY', 1000) AS g \gset
SELECT create_credit_line('bcp:c1', 'CNY', 500, ARRAY[:g]) AS c1 \gset
SELECT create_credit_line('bcp:c2', 'CNY', 500, ARRAY[:g]) AS c2 \gset
SELECT credit_freeze(:c1, 200, 'bcp-h1', now() + interval '1 hour') > 0 AS ok;
SELECT credit_use('bcp-h1', 'bcp-d1', 120) > 0 AS ok;
SELECT credit_freeze(:c2, 70, 'bcp-h2') > 0 AS ok;

-- the built-in rules, all passing on a clean ledger
SELECT name, severity, enabled, description IS NOT NULL AS described FROM bcp_rules
 WHERE builtin ORDER BY name;
SELECT rule, severity, status, mismatches, sample FROM bcp_run(record => false) ORDER BY rule;
SELECT count(*) AS recorded FROM bcp_results;

-- chains_intact: a journal entry's voucher edited (its hash no longer matches)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE journal_entries SET voucher = voucher || 'x' WHERE transfer_id = :t2 AND account_id = :b;
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- chains_intact: a credit journal entry's ref edited
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE credit_journal_entries SET ref = 'forged' WHERE line_id = :c2 AND version = 1;
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- balance_equals_chain_head: 1 moved from a split account's main row to a
-- sub-account row (totals unchanged, two heads off their chains)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_accounts SET balance = balance - 1 WHERE account_id = :s;
UPDATE sub_accounts SET balance = balance + 1 WHERE account_id = :s AND sub_account = 1;
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- balance_equals_journal: an amount edited with its hash recomputed but not the
-- balances; the chain check sees the same edit, and the transfer is unbalanced
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE journal_entries SET amount = amount + 5 WHERE transfer_id = :t2 AND account_id = :b;
UPDATE journal_entries j SET hash = pg_temp.entry_hash(j)
 WHERE transfer_id = :t2 AND account_id = :b;
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- transfers_balanced: 1 moved between two transfers' legs on one account,
-- the chain rehashed: every chain and balance agrees, two transfers do not
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE journal_entries SET amount = amount + 1 WHERE transfer_id = :t1 AND account_id = :a;
UPDATE journal_entries SET amount = amount + 1 WHERE transfer_id = :t2 AND account_id = :a;
SELECT pg_temp.rehash(:a);
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- trial_balance: one leg's amount changed and its chain rehashed: the
-- account agrees with its journal, but the books (and that transfer) do not
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE journal_entries SET amount = amount + 7 WHERE transfer_id = :t1 AND account_id = :a;
SELECT pg_temp.rehash(:a);
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- reversals_exact: a reversal row with no legs (its two mirror legs are missing)
BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO ledger_transfers (voucher, kind, reverses, payload_hash)
VALUES ('bcp-2:forged-reversal', 'reversal', :t2, '\x00');
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- split_equals_sub_accounts: a split account claiming a shard it does not have
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_accounts SET shards = shards + 1 WHERE account_id = :s;
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- buffer_not_stale (warning): a buffered posting older than creditledger.bcp_buffer_max_age
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE posting_buffer SET accepted_at = now() - interval '2 minutes' WHERE account_id = :buf;
SELECT * FROM pg_temp.failing();
SET LOCAL creditledger.bcp_buffer_max_age = '1h';
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- balance_floor: a floor raised above the balance
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_accounts SET min_balance = 100000 WHERE account_id = :a;
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- credit_totals: a hold moved to a sibling line (two lines off, the group unchanged)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_credit_holds SET line_id = :c1 WHERE ref = 'bcp-h2';
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- credit_within_limit: a limit cut behind the functions' back
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_credit_lines SET limit_amount = 100 WHERE line_id = :c1;
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- credit_over_limit_after_decrease (warning): the same cut through set_credit_limit
BEGIN;
SELECT set_credit_limit(:c1, 100);
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- credit_records_consistent: a hold whose parts no longer add up
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_credit_holds SET released_amount = released_amount + 1 WHERE ref = 'bcp-h1';
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- holds_not_overdue (warning): an open hold long past its expiry
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_credit_holds SET expires_at = now() - interval '2 minutes' WHERE ref = 'bcp-h1';
SELECT * FROM pg_temp.failing();
ROLLBACK;
SELECT count(*) AS still_clean FROM pg_temp.failing();

-- transfers_consistent and CLD2 digests: transfer rows edited behind the
-- guard (issue 10 item 5: a reversal's row deleted, the original's voucher
-- renamed, and the retry posted twice).  More of the ledger first: a
-- multi-leg entry with memo and metadata and a buffered leg, a reversal with
-- a reason, a split conversion (internal moves, vouchers
-- 'creditledger:<what>:<account>:<id>'): all pass, and a digest of it verifies.
SELECT post_entry('bcp-e1', jsonb_build_array(jsonb_build_object('account', :a, 'debit', 30),
                  jsonb_build_object('account', :buf, 'credit', 10),
                  jsonb_build_object('account', :b, 'credit', 20)),
                  'split bill', '{"order": 42, "note": "café"}') AS e1 \gset
SELECT transfer('bcp-9', :a, :b, 40, 'to be reversed', '{"k": "v"}') AS t9 \gset
SELECT creditledger.reverse('bcp-9', 'bcp-9:undo', 'customer cancelled') AS r9 \gset
SELECT open_account('bcp:conv', 'CNY') AS conv \gset
SELECT transfer('bcp-10', :bank, :conv, 90) > 0 AS ok;
SELECT set_hot_mode(:conv, 'split', 3);
SELECT count(*) > 0 AS internal_moves FROM ledger_transfers
 WHERE voucher LIKE 'creditledger:%' AND kind = 'entry';
SELECT count(*) > 0 AS buffered_legs FROM posting_buffer;
SELECT * FROM pg_temp.failing();
SELECT digest_id AS td, digest AS tdd FROM ledger_digest() \gset
SELECT format FROM bcp_digests WHERE digest_id = :td;
SELECT verify_digest(:td, :'tdd') AS clean_digest;
-- a careful forger recomputes row_hash (CLT1, as the README computes it)
CREATE FUNCTION pg_temp.row_hash(t creditledger.ledger_transfers) RETURNS bytea LANGUAGE sql AS $$
    SELECT sha256('CLT1'::bytea || int8send(t.transfer_id)
        || int4send(octet_length(t.voucher)) || convert_to(t.voucher, 'UTF8')
        || int4send(octet_length(t.kind)) || convert_to(t.kind, 'UTF8')
        || CASE WHEN t.reverses IS NULL THEN '\x00'::bytea ELSE '\x01'::bytea || int8send(t.reverses) END
        || CASE WHEN t.memo IS NULL THEN int4send(-1)
                ELSE int4send(octet_length(t.memo)) || convert_to(t.memo, 'UTF8') END
        || CASE WHEN t.metadata IS NULL THEN int4send(-1)
                ELSE int4send(octet_length(t.metadata::text)) || convert_to(t.metadata::text, 'UTF8') END
        || int4send(octet_length(t.payload_hash)) || t.payload_hash
        || int8send((extract(epoch FROM t.created_at) * 1000000)::bigint))
$$;
SELECT count(*) AS row_hash_mismatches FROM ledger_transfers t WHERE row_hash <> pg_temp.row_hash(t);
-- the reversal's transfer row deleted: its two legs have no transfer (and the
-- original looks unreversed to reverse())
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM ledger_transfers WHERE transfer_id = :r9;
SELECT * FROM pg_temp.failing();
SELECT reversed_by IS NULL AS looks_unreversed FROM transfers WHERE transfer_id = :t9;
SELECT verify_digest(:td, :'tdd') AS digest_after;
ROLLBACK;
-- the original's voucher renamed: its legs disagree, its row hash too, and
-- the reversal's payload names another voucher
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_transfers SET voucher = 'bcp-9-renamed' WHERE transfer_id = :t9;
SELECT * FROM pg_temp.failing();
SELECT source, id = :r9 AS is_reversal_row, problem FROM bcp_run(ARRAY['transfers_consistent'], false) r,
       jsonb_to_recordset(r.sample) AS x(source text, id bigint, problem text)
 WHERE x.problem LIKE 'payload_hash%';
SELECT verify_digest(:td, :'tdd') AS digest_after;
ROLLBACK;
-- kind changed: the row hash; recomputed by a careful forger: a kind transfer
-- with three legs
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_transfers SET kind = 'transfer' WHERE transfer_id = :e1;
SELECT * FROM pg_temp.failing();
UPDATE ledger_transfers t SET row_hash = pg_temp.row_hash(t) WHERE transfer_id = :e1;
SELECT * FROM pg_temp.failing();
SELECT verify_digest(:td, :'tdd') AS digest_after;
ROLLBACK;
-- kind changed to reversal: the legs' is_reversal disagree (and reversals_exact)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_transfers SET kind = 'reversal' WHERE transfer_id = :t9;
UPDATE ledger_transfers t SET row_hash = pg_temp.row_hash(t) WHERE transfer_id = :t9;
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- reverses redirected to another transfer: the row hash, and the reversal's
-- payload (reversals_exact sees legs that do not mirror); with the row hash
-- recomputed, the payload still gives it away
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_transfers SET reverses = :t2 WHERE transfer_id = :r9;
SELECT * FROM pg_temp.failing();
UPDATE ledger_transfers t SET row_hash = pg_temp.row_hash(t) WHERE transfer_id = :r9;
SELECT * FROM pg_temp.failing();
SELECT verify_digest(:td, :'tdd') AS digest_after;
ROLLBACK;
-- memo changed: the row hash; a forger who recomputes it passes every rule,
-- but not the digest
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_transfers SET memo = 'forged' WHERE transfer_id = :e1;
SELECT * FROM pg_temp.failing();
UPDATE ledger_transfers t SET row_hash = pg_temp.row_hash(t) WHERE transfer_id = :e1;
SELECT count(*) AS failing_rules FROM pg_temp.failing();
SELECT verify_digest(:td, :'tdd') AS digest_after;
ROLLBACK;
-- metadata changed (and a reversal's reason, its memo)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_transfers SET metadata = '{"order": 43, "note": "café"}' WHERE transfer_id = :e1;
UPDATE ledger_transfers SET memo = NULL WHERE transfer_id = :r9;
SELECT * FROM pg_temp.failing();
SELECT verify_digest(:td, :'tdd') AS digest_after;
ROLLBACK;
-- a transfer with legs deleted (one of them still buffered): three legs
-- without a transfer; no digest can be taken of that
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM ledger_transfers WHERE transfer_id = :e1;
SELECT * FROM pg_temp.failing();
SELECT verify_digest(:td, :'tdd') AS digest_after;
SELECT digest FROM ledger_digest();
ROLLBACK;
-- a transfer whose legs were deleted (the forged reversal above has none
-- either): the chains break too
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM journal_entries WHERE transfer_id = :t9;
SELECT * FROM pg_temp.failing();
ROLLBACK;
-- an internal move's voucher renamed into an ordinary one (legs and row hash)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_transfers SET voucher = 'bcp-forged-move'
 WHERE transfer_id = (SELECT min(transfer_id) FROM ledger_transfers WHERE voucher LIKE 'creditledger:%');
SELECT * FROM pg_temp.failing();
ROLLBACK;
SELECT count(*) AS still_clean FROM pg_temp.failing();
SELECT verify_digest(:td, :'tdd') AS still_verifies;

-- User rules: validated before they are stored; a rule that errors at run
-- time is reported as 'error' and the run goes on.
SELECT bcp_add_rule('no_big_transfers',
    $$SELECT transfer_id, amount FROM creditledger.journal_entries WHERE amount > 900$$,
    'No single leg above 900.', 'warning');
SELECT bcp_add_rule('divides_by_zero',
    $$SELECT x FROM generate_series(1, 1) x WHERE 1 / (x - 1) = 0$$);
SELECT bcp_add_rule('broken', 'SELEC 1');
SELECT bcp_add_rule('broken', 'SELECT * FROM no_such_table');
SELECT bcp_add_rule('broken', 'SELECT 1; SELECT 2');
SELECT bcp_add_rule('broken', $$DELETE FROM creditledger.bcp_rules RETURNING name$$);
SELECT bcp_add_rule('Bad Name', 'SELECT 1 WHERE false');
SELECT bcp_add_rule('x', 'SELECT 1 WHERE false', NULL, 'fatal');
SELECT bcp_add_rule('trial_balance', 'SELECT 1 WHERE false');
SELECT bcp_add_rule(NULL, 'SELECT 1');
SELECT name, severity, enabled, builtin FROM bcp_rules WHERE NOT builtin ORDER BY name;
SELECT rule, severity, status, mismatches, sample->>'sqlstate' AS sqlstate
  FROM bcp_run(ARRAY['no_big_transfers', 'divides_by_zero', 'balance_floor']) ORDER BY rule;
SELECT bcp_run(ARRAY['no_such_rule']);
-- disabled rules run only when named; user rules can be dropped, built-ins cannot
SELECT bcp_enable_rule('divides_by_zero', false);
SELECT count(*) AS enabled_rules_run FROM bcp_run(record => false);
SELECT status FROM bcp_run(ARRAY['divides_by_zero'], false);
SELECT bcp_enable_rule('nope', true);
SELECT bcp_drop_rule('divides_by_zero');
SELECT bcp_drop_rule('trial_balance');
SELECT bcp_run(NULL, NULL);

-- History: recorded runs, one row per rule, with their run id
SELECT count(DISTINCT run_id) AS runs, count(*) AS results FROM bcp_results;
SELECT rule, status, mismatches, sample->>'sqlstate' AS sqlstate FROM bcp_results
 WHERE run_id = (SELECT max(run_id) FROM bcp_results) ORDER BY rule;
SELECT count(*) AS results_before FROM bcp_results \gset
SELECT count(*) > 0 AS ran FROM bcp_run(record => false);
SELECT count(*) - :results_before AS written_by_read_only_run FROM bcp_results;
-- metrics(): the latest recorded run per rule
SELECT line FROM regexp_split_to_table(metrics(), E'\n') AS line
 WHERE line LIKE 'creditledger_bcp_rule_failing%' AND line NOT LIKE '%status="pass"%';
SELECT line FROM regexp_split_to_table(metrics(), E'\n') AS line
 WHERE line LIKE 'creditledger_bcp_failures_total%' OR line LIKE 'creditledger_bcp_runs_total%';
SELECT bcp_drop_rule('no_big_transfers');

-- Digests: a fresh digest verifies; a wrong one does not; a history rewritten
-- behind the guard with every later hash recomputed no longer yields it.
SELECT digest_id, digest AS d, chains > 0 AS has_chains, entries >= chains AS has_entries
  FROM ledger_digest() \gset
SELECT :'has_chains' AS has_chains, :'has_entries' AS has_entries;
SELECT chains = (SELECT count(*) FROM (SELECT DISTINCT account_id, sub_account FROM journal_entries) m)
              + (SELECT count(*) FROM (SELECT DISTINCT line_id, slice FROM credit_journal_entries) c) AS every_chain
  FROM bcp_digests WHERE digest_id = :digest_id;
SELECT verify_digest(:digest_id, :'d') AS fresh;
SELECT verify_digest(:digest_id, sha256(:'d'::bytea)) AS wrong_digest;
-- later postings do not disturb an earlier digest
SELECT transfer('bcp-7', :bank, :a, 5) > 0 AS ok;
SELECT credit_freeze(:c2, 5, 'bcp-h3') > 0 AS ok;
SELECT verify_digest(:digest_id, :'d') AS after_more_postings;
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE journal_entries SET amount = amount + 1 WHERE transfer_id = :t1 AND account_id = :a;
SELECT pg_temp.rehash(:a);
SELECT count(*) AS chain_problems FROM verify_chain() WHERE problem NOT LIKE '%chain head%';
SELECT verify_digest(:digest_id, :'d') AS after_rewrite;
ROLLBACK;
-- the credit journal is covered too
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE credit_journal_entries SET ref = 'forged' WHERE line_id = :c2 AND version = 1;
SELECT verify_digest(:digest_id, :'d') AS after_credit_edit;
ROLLBACK;
SELECT verify_digest(:digest_id, :'d') AS restored;
SELECT verify_digest(NULL, :'d');
SELECT verify_digest(999999, :'d');
-- digests are append-only
UPDATE bcp_digests SET digest = '\x00' WHERE digest_id = :digest_id;
DELETE FROM bcp_digest_heads;
-- a second digest covers the newer heads
SELECT entries > (SELECT entries FROM bcp_digests WHERE digest_id = :digest_id) AS grew FROM ledger_digest();

\c contrib_regression
DROP DATABASE bcp_regression;
