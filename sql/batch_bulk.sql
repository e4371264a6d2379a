-- batch_bulk: what post_batch's bulk path (transfer and entry items on
-- accounts in mode 'none', evaluated in memory and written together) does
-- that a loop over single calls did not need to: a later item sees the
-- balances earlier items left in memory; a failed item or linked group is
-- simply not written; a voucher repeated in a batch behaves as sequential
-- calls (also after the first one failed); reservations (held) count, and
-- a refusal on a chain with reservations goes through the single call
-- (which releases due reservations first); items of other kinds in the
-- middle of a batch see, and are seen by, the bulk items around them; each
-- account row is written once per batch; the journal chains and the
-- transfer rows' row hashes verify.  Self-contained: its own database.
CREATE DATABASE cl_batch_bulk;
\c cl_batch_bulk
CREATE EXTENSION creditledger;
SET search_path = creditledger, public;
\set VERBOSITY sqlstate
SET client_min_messages = warning;

SELECT open_account('bb:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('bb:a', 'CNY') AS a \gset
SELECT open_account('bb:b', 'CNY') AS b \gset
SELECT open_account('bb:c', 'CNY') AS c \gset
SELECT open_account('bb:d', 'CNY', min_balance => -50) AS d \gset
CREATE FUNCTION pg_temp.bal(acc bigint) RETURNS bigint LANGUAGE sql AS
$$ SELECT balance FROM creditledger.account_state(acc) $$;
CREATE FUNCTION pg_temp.t(v text, dr bigint, cr bigint, amt bigint, linked boolean DEFAULT false)
RETURNS jsonb LANGUAGE sql AS
$$ SELECT jsonb_build_object('op', 'transfer', 'voucher', v, 'debit', dr, 'credit', cr, 'amount', amt)
          || CASE WHEN linked THEN '{"linked": true}'::jsonb ELSE '{}'::jsonb END $$;

-- later items spend what earlier items of the same batch brought: a is
-- empty before the batch; item 3 leaves a at exactly 0, item 4 needs 1 more
SELECT item, id IS NOT NULL AS ok, sqlstate, message FROM post_batch(jsonb_build_array(
    pg_temp.t('bb-1', :bank, :a, 100),
    pg_temp.t('bb-2', :a, :b, 60),
    pg_temp.t('bb-3', :a, :c, 40),
    pg_temp.t('bb-4', :a, :c, 1),
    pg_temp.t('bb-5', :c, :a, 41),
    pg_temp.t('bb-6', :a, :b, 41),
    pg_temp.t('bb-7', :d, :a, 50),
    pg_temp.t('bb-8', :d, :a, 1)));
SELECT pg_temp.bal(:a) AS a, pg_temp.bal(:b) AS b, pg_temp.bal(:c) AS c, pg_temp.bal(:d) AS d;
-- every entry chained in item order: versions 1.., balances before/after
SELECT voucher, account_id = :a AS on_a, version, side, amount, balance_before, balance_after
  FROM journal WHERE account_id IN (:a, :b) ORDER BY account_id, version;

-- each account row written once per batch, whatever the number of items
-- (the backend's counters, read before and after inside one transaction)
BEGIN;
SELECT (SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'ledger_accounts') AS upd0,
       (SELECT n_tup_ins FROM pg_stat_xact_user_tables WHERE relname = 'journal_entries') AS jins0,
       (SELECT n_tup_ins FROM pg_stat_xact_user_tables WHERE relname = 'ledger_transfers') AS tins0 \gset
SELECT count(*) AS items_ok FROM post_batch((
    SELECT jsonb_agg(pg_temp.t('bb-once-' || i, CASE WHEN i % 2 = 0 THEN :b ELSE :bank END,
                                CASE WHEN i % 2 = 0 THEN :c ELSE :b END, 1))
      FROM generate_series(1, 40) i)) WHERE sqlstate IS NULL;
SELECT (SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'ledger_accounts') - :upd0
           AS account_row_updates,
       (SELECT n_tup_ins FROM pg_stat_xact_user_tables WHERE relname = 'journal_entries') - :jins0
           AS journal_rows,
       (SELECT n_tup_ins FROM pg_stat_xact_user_tables WHERE relname = 'ledger_transfers') - :tins0
           AS transfer_rows;
COMMIT;
SELECT code, balance, version, version = (SELECT count(*) FROM journal j WHERE j.account_id = a.account_id) AS version_is_entries
  FROM accounts a WHERE code LIKE 'bb:%' ORDER BY code;

-- a linked group that fails after its first items were evaluated leaves
-- nothing: the next items see the balances as they were before the group
SELECT pg_temp.bal(:a) AS a0, pg_temp.bal(:b) AS b0, pg_temp.bal(:c) AS c0 \gset
SELECT item, id IS NOT NULL AS ok, sqlstate, message FROM post_batch(jsonb_build_array(
    pg_temp.t('bb-g1', :b, :a, 30, true),
    pg_temp.t('bb-g2', :a, :c, 70, true),
    pg_temp.t('bb-g3', :c, :b, 1000000),
    pg_temp.t('bb-g4', :a, :c, 41),
    pg_temp.t('bb-g5', :a, :c, 30)));
SELECT pg_temp.bal(:a) - :a0 AS da, pg_temp.bal(:b) - :b0 AS db, pg_temp.bal(:c) - :c0 AS dc;
SELECT voucher FROM transfers WHERE voucher LIKE 'bb-g_' ORDER BY 1;

-- a voucher repeated in one batch, as sequential calls: refused the first
-- time (nothing claimed), the second use posts; the third is its replay;
-- the fourth, another payload, is LD004
SELECT item, id IS NOT NULL AS ok, sqlstate, message FROM post_batch(jsonb_build_array(
    pg_temp.t('bb-r', :a, :b, 1000000),
    pg_temp.t('bb-r', :b, :a, 5),
    pg_temp.t('bb-r', :b, :a, 5),
    pg_temp.t('bb-r', :b, :a, 6),
    jsonb_build_object('op', 'entry', 'voucher', 'bb-r', 'legs', jsonb_build_array(
        jsonb_build_object('account', :b, 'debit', 5), jsonb_build_object('account', :a, 'credit', 5)))));
SELECT count(*) AS transfers, min(transfer_id) = max(transfer_id) AS one_id
  FROM journal WHERE voucher = 'bb-r';
SELECT (SELECT array_agg(DISTINCT id) FROM post_batch(jsonb_build_array(
            pg_temp.t('bb-r', :b, :a, 5), pg_temp.t('bb-r', :b, :a, 5)))) =
       ARRAY[(SELECT transfer_id FROM transfers WHERE voucher = 'bb-r')] AS replays_same_id;
-- a voucher first used by an item of another kind earlier in the batch
SELECT item, id IS NOT NULL AS ok, sqlstate FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'reverse', 'voucher', 'bb-g4', 'reversal_voucher', 'bb-rv'),
    pg_temp.t('bb-rv', :a, :c, 1)));

-- reservations: a pending transfer in the middle of a batch holds 50 of
-- d's; the bulk items after it see the hold (and the balance it left)
SELECT pg_temp.bal(:d) AS d0 \gset
SELECT item, id IS NOT NULL AS ok, sqlstate, message FROM post_batch(jsonb_build_array(
    pg_temp.t('bb-h1', :bank, :d, 100),
    jsonb_build_object('op', 'pending', 'voucher', 'bb-h2', 'debit', :d, 'credit', :c, 'amount', 80),
    pg_temp.t('bb-h3', :d, :c, 21),
    pg_temp.t('bb-h4', :d, :c, 20),
    jsonb_build_object('op', 'post', 'voucher', 'bb-h5', 'pending_voucher', 'bb-h2', 'amount', 30),
    pg_temp.t('bb-h6', :d, :c, 51),
    pg_temp.t('bb-h7', :d, :c, 50)));
SELECT balance, held FROM account_state(:d);
\set VERBOSITY default
-- the refusal with a hold names what is held (d: balance -30, held 10)
SELECT * FROM post_batch(jsonb_build_array(
    pg_temp.t('bb-h8', :bank, :d, 20),
    jsonb_build_object('op', 'pending', 'voucher', 'bb-h9', 'debit', :d, 'credit', :c, 'amount', 10),
    pg_temp.t('bb-h10', :d, :c, 10),
    pg_temp.t('bb-h11', :d, :c, 11)), atomic => true);
\set VERBOSITY sqlstate

-- atomic: an item that fails in memory raises with its number; nothing
-- of the batch stays, not even the items written before the failure
\set VERBOSITY default
SELECT * FROM post_batch(jsonb_build_array(
    pg_temp.t('bb-at1', :bank, :a, 5),
    jsonb_build_object('op', 'pending', 'voucher', 'bb-at2', 'debit', :a, 'credit', :c, 'amount', 1),
    pg_temp.t('bb-at3', :a, :c, 1000000)), atomic => true);
-- atomic, a repeated voucher with another payload: LD004 naming the first item's id
SELECT * FROM post_batch(jsonb_build_array(
    pg_temp.t('bb-at4', :bank, :a, 5),
    pg_temp.t('bb-at4', :bank, :a, 6)), atomic => true);
\set VERBOSITY sqlstate
SELECT count(*) AS posted FROM transfers WHERE voucher LIKE 'bb-at%';
SELECT count(*) AS pending FROM pending_transfers WHERE voucher LIKE 'bb-at%';
SELECT item, id IS NOT NULL AS ok FROM post_batch(jsonb_build_array(
    pg_temp.t('bb-at5', :bank, :a, 5),
    pg_temp.t('bb-at5', :bank, :a, 5),
    pg_temp.t('bb-at6', :a, :b, 5)), atomic => true);

-- entries in the bulk path, balanced per currency, refused with LD010
SELECT open_account('bb:usd', 'USD', 'debit', NULL) AS usd \gset
SELECT item, id IS NOT NULL AS ok, sqlstate, message FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'entry', 'voucher', 'bb-e1', 'legs', jsonb_build_array(
        jsonb_build_object('account', :bank, 'debit', 30), jsonb_build_object('account', :a, 'credit', 10),
        jsonb_build_object('account', :b, 'credit', 20))),
    jsonb_build_object('op', 'entry', 'voucher', 'bb-e2', 'legs', jsonb_build_array(
        jsonb_build_object('account', :a, 'debit', 10), jsonb_build_object('account', :usd, 'credit', 10))),
    jsonb_build_object('op', 'entry', 'voucher', 'bb-e3', 'legs', jsonb_build_array(
        jsonb_build_object('account', :a, 'debit', 15), jsonb_build_object('account', :a, 'credit', 5),
        jsonb_build_object('account', :b, 'credit', 10))),
    pg_temp.t('bb-e4', :usd, :a, 1),
    pg_temp.t('bb-e5', :a, 999999, 1)));

-- closed accounts and blocks, found in memory
SELECT open_account('bb:closed', 'CNY') AS closed \gset
SELECT close_account(:closed);
SELECT set_account_block(:b, 'debits');
SELECT item, sqlstate, message FROM post_batch(jsonb_build_array(
    pg_temp.t('bb-k1', :closed, :a, 1),
    pg_temp.t('bb-k2', :b, :a, 1),
    pg_temp.t('bb-k3', :a, :b, 1)));
SELECT set_account_block(:b, 'none');

-- the ledger is whole: chains, transfer row hashes, every rule
SELECT count(*) AS problems FROM verify_chain();
SELECT rule, status, mismatches FROM bcp_run(record => false) WHERE status <> 'pass';

\c contrib_regression
DROP DATABASE cl_batch_bulk;
