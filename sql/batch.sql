-- batch: post_batch(items, atomic): every item kind and error (each result
-- carries the single call's SQLSTATE and message), linked groups failing in
-- the middle, atomic mode, replays of a whole batch and of single items,
-- duplicate vouchers inside one batch, the item count limits, and items on
-- hot accounts of every mode.  Self-contained: its own database, which must
-- verify and pass every rule at the end.
CREATE DATABASE cl_batch;
\c cl_batch
CREATE EXTENSION creditledger;
SET search_path = creditledger, public;
\set VERBOSITY sqlstate
SET client_min_messages = warning;

SELECT open_account('ba:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('ba:a', 'CNY') AS a \gset
SELECT open_account('ba:b', 'CNY') AS b \gset
SELECT open_account('ba:c', 'CNY') AS c \gset
SELECT open_account('ba:usd', 'USD') AS usd \gset
SELECT open_account('ba:split', 'CNY', hot_mode => 'split', shards => 4) AS s \gset
SELECT open_account('ba:buf', 'CNY', hot_mode => 'buffered') AS f \gset
SELECT open_account('ba:both', 'CNY', hot_mode => 'buffered_split', shards => 3) AS bs \gset

-- what a single call raises, as (sqlstate, message)
CREATE FUNCTION pg_temp.single(q text, OUT state text, OUT msg text) LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    state := NULL; msg := NULL;
EXCEPTION WHEN OTHERS THEN
    state := SQLSTATE; msg := SQLERRM;
END $$;
CREATE FUNCTION pg_temp.bal(acc bigint) RETURNS bigint LANGUAGE sql AS
$$ SELECT balance FROM creditledger.account_state(acc) $$;

-- transfer items, one of each outcome kind
SELECT item, id IS NOT NULL AS ok, sqlstate, message FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-1', 'debit', :bank, 'credit', :a, 'amount', 1000),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-2', 'debit', :a, 'credit', :b, 'amount', 300,
                       'memo', 'rent', 'metadata', jsonb_build_object('k', 1)),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-3', 'debit', :b, 'credit', :c, 'amount', 301),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-4', 'debit_account', :b, 'credit_account', :c,
                       'amount', 300.0)));
SELECT pg_temp.bal(:a) AS a, pg_temp.bal(:b) AS b, pg_temp.bal(:c) AS c;

-- the whole batch again: the same ids, nothing changes; ba-3 fails again
CREATE TEMP TABLE first_ids AS
SELECT t.transfer_id, t.voucher FROM transfers t WHERE t.voucher LIKE 'ba-%';
SELECT item, id = (SELECT transfer_id FROM first_ids WHERE voucher = 'ba-' || item) AS same_id, sqlstate
  FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-1', 'debit', :bank, 'credit', :a, 'amount', 1000),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-2', 'debit', :a, 'credit', :b, 'amount', 300,
                       'memo', 'rent', 'metadata', jsonb_build_object('k', 1)),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-3', 'debit', :b, 'credit', :c, 'amount', 301),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-4', 'debit_account', :b, 'credit_account', :c,
                       'amount', 300)));
SELECT pg_temp.bal(:a) AS a, pg_temp.bal(:b) AS b, pg_temp.bal(:c) AS c;
-- a single call replays a batch item, and a batch item replays a single call
SELECT transfer('ba-2', :a, :b, 300, 'rent', '{"k": 1}') = (SELECT transfer_id FROM first_ids WHERE voucher = 'ba-2') AS same_id;
SELECT transfer('ba-single', :a, :b, 10) AS single_id \gset
SELECT id = :single_id AS same_id, sqlstate FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-single', 'debit', :a, 'credit', :b, 'amount', 10)));

-- every error of a transfer item is the single call's, SQLSTATE and message
CREATE TEMP TABLE cases(n serial, item jsonb, single text);
INSERT INTO cases(item, single) VALUES
 (jsonb_build_object('op', 'transfer', 'debit', :a, 'credit', :b, 'amount', 1),
  format('SELECT creditledger.transfer(NULL, %s, %s, 1)', :a, :b)),
 (jsonb_build_object('op', 'transfer', 'voucher', 'ba-e', 'credit', :b, 'amount', 1),
  format('SELECT creditledger.transfer(''ba-e'', NULL, %s, 1)', :b)),
 (jsonb_build_object('op', 'transfer', 'voucher', '', 'debit', :a, 'credit', :b, 'amount', 1),
  format('SELECT creditledger.transfer('''', %s, %s, 1)', :a, :b)),
 (jsonb_build_object('op', 'transfer', 'voucher', '  ', 'debit', :a, 'credit', :b, 'amount', 1),
  format('SELECT creditledger.transfer(''  '', %s, %s, 1)', :a, :b)),
 (jsonb_build_object('op', 'transfer', 'voucher', repeat('v', 129), 'debit', :a, 'credit', :b, 'amount', 1),
  format('SELECT creditledger.transfer(%L, %s, %s, 1)', repeat('v', 129), :a, :b)),
 (jsonb_build_object('op', 'transfer', 'voucher', 'creditledger:x', 'debit', :a, 'credit', :b, 'amount', 1),
  format('SELECT creditledger.transfer(''creditledger:x'', %s, %s, 1)', :a, :b)),
 (jsonb_build_object('op', 'transfer', 'voucher', 'ba-e', 'debit', :a, 'credit', :b, 'amount', 0),
  format('SELECT creditledger.transfer(''ba-e'', %s, %s, 0)', :a, :b)),
 (jsonb_build_object('op', 'transfer', 'voucher', 'ba-e', 'debit', :a, 'credit', :a, 'amount', 1),
  format('SELECT creditledger.transfer(''ba-e'', %s, %s, 1)', :a, :a)),
 (jsonb_build_object('op', 'transfer', 'voucher', 'ba-e', 'debit', :a, 'credit', :b, 'amount', 1, 'metadata', '[1]'::jsonb),
  format('SELECT creditledger.transfer(''ba-e'', %s, %s, 1, NULL, ''[1]'')', :a, :b)),
 (jsonb_build_object('op', 'transfer', 'voucher', 'ba-e', 'debit', :a, 'credit', 999999, 'amount', 1),
  format('SELECT creditledger.transfer(''ba-e'', %s, 999999, 1)', :a)),
 (jsonb_build_object('op', 'transfer', 'voucher', 'ba-e', 'debit', :a, 'credit', :usd, 'amount', 1),
  format('SELECT creditledger.transfer(''ba-e'', %s, %s, 1)', :a, :usd)),
 (jsonb_build_object('op', 'transfer', 'voucher', 'ba-e', 'debit', :a, 'credit', :b, 'amount', 100000),
  format('SELECT creditledger.transfer(''ba-e'', %s, %s, 100000)', :a, :b)),
 (jsonb_build_object('op', 'transfer', 'voucher', 'ba-1', 'debit', :bank, 'credit', :a, 'amount', 999),
  format('SELECT creditledger.transfer(''ba-1'', %s, %s, 999)', :bank, :a)),
 (jsonb_build_object('op', 'entry', 'voucher', 'ba-e', 'legs', jsonb_build_array(
      jsonb_build_object('account', :a, 'debit', 5), jsonb_build_object('account', :b, 'credit', 4))),
  format('SELECT creditledger.post_entry(''ba-e'', %L)', jsonb_build_array(
      jsonb_build_object('account', :a, 'debit', 5), jsonb_build_object('account', :b, 'credit', 4)))),
 (jsonb_build_object('op', 'entry', 'voucher', 'ba-e', 'legs', jsonb_build_array(
      jsonb_build_object('account', :a, 'debit', 5, 'x', 1), jsonb_build_object('account', :b, 'credit', 5))),
  format('SELECT creditledger.post_entry(''ba-e'', %L)', jsonb_build_array(
      jsonb_build_object('account', :a, 'debit', 5, 'x', 1), jsonb_build_object('account', :b, 'credit', 5)))),
 (jsonb_build_object('op', 'entry', 'voucher', 'ba-e', 'legs', '"x"'::jsonb),
  'SELECT creditledger.post_entry(''ba-e'', ''"x"'')'),
 (jsonb_build_object('op', 'reverse', 'voucher', 'ba-nope'),
  'SELECT creditledger.reverse(''ba-nope'')'),
 (jsonb_build_object('op', 'post', 'voucher', 'ba-e', 'pending_voucher', 'ba-nope'),
  'SELECT creditledger.transfer_post(''ba-e'', ''ba-nope'')'),
 (jsonb_build_object('op', 'void', 'voucher', 'ba-e', 'pending_voucher', 'ba-nope'),
  'SELECT creditledger.transfer_void(''ba-e'', ''ba-nope'')'),
 (jsonb_build_object('op', 'pending', 'voucher', 'ba-e', 'debit', :a, 'credit', :b, 'amount', 1,
                     'expires_at', '2000-01-01 00:00:00+00'),
  format('SELECT creditledger.transfer_pending(''ba-e'', %s, %s, 1, ''2000-01-01 00:00:00+00'')', :a, :b)),
 (jsonb_build_object('op', 'pending', 'voucher', 'ba-e', 'debit', :a, 'credit', :b, 'amount', 1,
                     'expires_at', 'soon'),
  format('SELECT creditledger.transfer_pending(''ba-e'', %s, %s, 1, ''soon'')', :a, :b)),
 (jsonb_build_object('op', 'post', 'voucher', 'ba-e', 'pending_voucher', 'ba-nope', 'final', NULL::text),
  'SELECT creditledger.transfer_post(''ba-e'', ''ba-nope'', NULL, NULL)');
SELECT c.n, r.sqlstate, r.sqlstate IS NOT DISTINCT FROM s.state AND r.message IS NOT DISTINCT FROM s.msg AS same,
       r.message
  FROM cases c
  CROSS JOIN LATERAL post_batch(jsonb_build_array(c.item)) r
  CROSS JOIN LATERAL pg_temp.single(c.single) s
 ORDER BY c.n;
SELECT count(*) AS posted FROM transfers WHERE voucher = 'ba-e';

-- shape errors (22023), found before anything runs
SELECT item, sqlstate, message FROM post_batch(jsonb_build_array(
    '5'::jsonb, '[]'::jsonb, '{}'::jsonb,
    jsonb_build_object('op', 'fly'),
    jsonb_build_object('op', 1),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-s', 'debit', :a, 'credit', :b, 'amount', '5'),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-s', 'debit', :a, 'credit', :b, 'amount', 5.5),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-s', 'debit', :a, 'credit', :b, 'amount', 1e30),
    jsonb_build_object('op', 'transfer', 'voucher', 7, 'debit', :a, 'credit', :b, 'amount', 5),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-s', 'debit', :a, 'credit', :b, 'amount', 5, 'extra', 1),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-s', 'debit', :a, 'debit_account', :a, 'credit', :b, 'amount', 5),
    jsonb_build_object('op', 'post', 'voucher', 'ba-s', 'pending_voucher', 'x', 'final', 'yes'),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-s', 'debit', :a, 'credit', :b, 'amount', 5, 'linked', 1),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-s', 'debit', :a, 'credit', :b, 'amount', 5, 'linked', true)));
SELECT count(*) AS posted FROM transfers WHERE voucher = 'ba-s';

-- the item count: 0 and 10,001 items, NULLs, not an array
SELECT * FROM post_batch('[]');
SELECT * FROM post_batch((SELECT jsonb_agg(jsonb_build_object('op', 'void', 'voucher', 'v' || g, 'pending_voucher', 'p'))
                            FROM generate_series(1, 10001) g));
SELECT * FROM post_batch(NULL);
SELECT * FROM post_batch('[{}]', NULL);
SELECT * FROM post_batch('{"op": "transfer"}');
-- 10,000 items are fine (all refused here: unknown pending transfers)
SELECT count(*) FILTER (WHERE sqlstate = 'LD013') AS refused FROM post_batch(
    (SELECT jsonb_agg(jsonb_build_object('op', 'void', 'voucher', 'ba-v' || g, 'pending_voucher', 'ba-none'))
       FROM generate_series(1, 10000) g));

-- entry, reverse, pending, post, void items
SELECT item, id IS NOT NULL AS ok, sqlstate, message FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'entry', 'voucher', 'ba-en', 'memo', 'split bill', 'legs', jsonb_build_array(
        jsonb_build_object('account', :a, 'debit', 30), jsonb_build_object('account', :b, 'credit', 20),
        jsonb_build_object('account', :c, 'credit', 10))),
    jsonb_build_object('op', 'reverse', 'voucher', 'ba-en', 'reason', 'mistake'),
    jsonb_build_object('op', 'reverse', 'voucher', 'ba-en', 'reversal_voucher', 'ba-en-r2'),
    jsonb_build_object('op', 'reverse', 'voucher', 'ba-en:reversal'),
    jsonb_build_object('op', 'pending', 'voucher', 'ba-p1', 'debit', :a, 'credit', :c, 'amount', 100,
                       'expires_at', '2999-01-01 00:00:00+00'),
    jsonb_build_object('op', 'pending', 'voucher', 'ba-p2', 'debit', :a, 'credit', :c, 'amount', 50),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-over', 'debit', :a, 'credit', :b, 'amount', 600),
    jsonb_build_object('op', 'post', 'voucher', 'ba-p1-post', 'pending_voucher', 'ba-p1', 'amount', 40, 'final', false),
    jsonb_build_object('op', 'post', 'voucher', 'ba-p1-post2', 'pending_voucher', 'ba-p1', 'amount', 70),
    jsonb_build_object('op', 'post', 'voucher', 'ba-p1-post3', 'pending_voucher', 'ba-p1'),
    jsonb_build_object('op', 'void', 'voucher', 'ba-p2-void', 'pending_voucher', 'ba-p2'),
    jsonb_build_object('op', 'void', 'voucher', 'ba-p2-void2', 'pending_voucher', 'ba-p2'),
    jsonb_build_object('op', 'void', 'voucher', 'ba-p2-void', 'pending_voucher', 'ba-p2')));
SELECT voucher, status, posted, remaining FROM pending_transfers WHERE voucher LIKE 'ba-p%' ORDER BY voucher;
SELECT pg_temp.bal(:a) AS a, pg_temp.bal(:b) AS b, pg_temp.bal(:c) AS c,
       (SELECT held FROM account_state(:a)) AS held_a;

-- duplicate vouchers in one batch behave as sequential calls: the same
-- payload is a replay (the first id), another payload LD004
SELECT item, id, sqlstate, message FROM (
  SELECT item, id = first_value(id) OVER (ORDER BY item) AS id, sqlstate, message FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-dup', 'debit', :b, 'credit', :a, 'amount', 7),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-dup', 'debit', :b, 'credit', :a, 'amount', 7),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-dup', 'debit', :b, 'credit', :a, 'amount', 8),
    jsonb_build_object('op', 'entry', 'voucher', 'ba-dup', 'legs', jsonb_build_array(
        jsonb_build_object('account', :b, 'debit', 7), jsonb_build_object('account', :a, 'credit', 7)))))) r;
SELECT count(*) AS journal_legs FROM journal WHERE voucher = 'ba-dup';

-- a linked group failing in the middle leaves nothing; the others proceed
SELECT pg_temp.bal(:a) AS a0, pg_temp.bal(:b) AS b0, pg_temp.bal(:c) AS c0 \gset
SELECT item, id IS NOT NULL AS ok, sqlstate, message FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-l0', 'debit', :a, 'credit', :b, 'amount', 1),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-l1', 'debit', :a, 'credit', :b, 'amount', 2, 'linked', true),
    jsonb_build_object('op', 'pending', 'voucher', 'ba-l2', 'debit', :a, 'credit', :c, 'amount', 3, 'linked', true),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-l3', 'debit', :c, 'credit', :b, 'amount', 999999, 'linked', true),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-l4', 'debit', :b, 'credit', :c, 'amount', 4),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-l5', 'debit', :b, 'credit', :a, 'amount', 2, 'linked', true),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-l6', 'debit', :a, 'credit', :c, 'amount', 6)));
SELECT pg_temp.bal(:a) - :a0 AS da, pg_temp.bal(:b) - :b0 AS db, pg_temp.bal(:c) - :c0 AS dc;
SELECT voucher FROM transfers WHERE voucher LIKE 'ba-l_' ORDER BY 1;
SELECT count(*) AS pending_l2 FROM pending_transfers WHERE voucher = 'ba-l2';
-- a linked group with a malformed item fails as one without running
SELECT item, sqlstate, message FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-m1', 'debit', :a, 'credit', :b, 'amount', 1, 'linked', true),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-m2', 'debit', :a, 'credit', :b, 'amount', -1)));
SELECT count(*) AS posted FROM transfers WHERE voucher LIKE 'ba-m_';

-- atomic: all or nothing, the first failure raises with the item number
SELECT item, id IS NOT NULL AS ok FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-at1', 'debit', :a, 'credit', :b, 'amount', 1),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-at2', 'debit', :b, 'credit', :c, 'amount', 1)), atomic => true);
\set VERBOSITY default
SELECT * FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-at3', 'debit', :a, 'credit', :b, 'amount', 1),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-at4', 'debit', :b, 'credit', :c, 'amount', 999999)), true);
SELECT * FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-at5', 'debit', :a, 'credit', :b, 'amount', 1),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-at6', 'debit', :b, 'credit', :c, 'amount', 'x')), true);
\set VERBOSITY sqlstate
SELECT count(*) AS posted FROM transfers WHERE voucher IN ('ba-at3', 'ba-at4', 'ba-at5', 'ba-at6');
-- inside the caller's transaction: a later rollback takes the batch back
BEGIN;
SELECT count(*) FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-tx', 'debit', :a, 'credit', :b, 'amount', 1)));
ROLLBACK;
SELECT count(*) AS posted FROM transfers WHERE voucher = 'ba-tx';

-- hot accounts of every mode: buffered increases, split decreases (one
-- sub-account, gathering when none has enough), buffered_split both ways,
-- a short buffered account flushing itself before refusing
SELECT transfer('ba-hfund', :bank, :s, 400) > 0 AS ok;
SELECT transfer('ba-hfund2', :bank, :bs, 300) > 0 AS ok;
SELECT item, id IS NOT NULL AS ok, sqlstate FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h1', 'debit', :bank, 'credit', :f, 'amount', 50),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h2', 'debit', :bank, 'credit', :f, 'amount', 60),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h3', 'debit', :f, 'credit', :a, 'amount', 100),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h4', 'debit', :f, 'credit', :a, 'amount', 11),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h5', 'debit', :s, 'credit', :a, 'amount', 90),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h6', 'debit', :s, 'credit', :a, 'amount', 250),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h7', 'debit', :s, 'credit', :a, 'amount', 61),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h8', 'debit', :a, 'credit', :s, 'amount', 5),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h9', 'debit', :bank, 'credit', :bs, 'amount', 70),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h10', 'debit', :bs, 'credit', :a, 'amount', 350),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h11', 'debit', :bs, 'credit', :a, 'amount', 21),
    jsonb_build_object('op', 'pending', 'voucher', 'ba-h12', 'debit', :s, 'credit', :a, 'amount', 5),
    jsonb_build_object('op', 'post', 'voucher', 'ba-h13', 'pending_voucher', 'ba-h12'),
    jsonb_build_object('op', 'entry', 'voucher', 'ba-h14', 'legs', jsonb_build_array(
        jsonb_build_object('account', :bank, 'debit', 9), jsonb_build_object('account', :f, 'credit', 4),
        jsonb_build_object('account', :bs, 'credit', 5)))));
SELECT pg_temp.bal(:f) AS f, pg_temp.bal(:s) AS s, pg_temp.bal(:bs) AS bs;
SELECT flush() >= 0 AS flushed;
SELECT pg_temp.bal(:f) AS f, pg_temp.bal(:s) AS s, pg_temp.bal(:bs) AS bs;
-- a reversal in a batch of a transfer whose credit is still buffered
SELECT item, id IS NOT NULL AS ok, sqlstate FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-h20', 'debit', :bank, 'credit', :f, 'amount', 3),
    jsonb_build_object('op', 'reverse', 'voucher', 'ba-h20')));
SELECT flush() >= 0 AS flushed;
SELECT pg_temp.bal(:f) AS f;

-- blocks: a blocked account refuses its items, the others proceed
SELECT set_account_block(:c, 'credits');
SELECT item, id IS NOT NULL AS ok, sqlstate, message FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-k1', 'debit', :a, 'credit', :c, 'amount', 1),
    jsonb_build_object('op', 'transfer', 'voucher', 'ba-k2', 'debit', :c, 'credit', :a, 'amount', 1)));
SELECT set_account_block(:c, 'none');

-- statistics: one post_batch call per batch
SELECT calls > 0 AS counted FROM stat_operations WHERE operation = 'post_batch';
-- refused items count in stat_errors under post_batch (the alert thresholds see them)
SELECT sqlstate, count > 0 AS counted FROM stat_errors
 WHERE operation = 'post_batch' AND sqlstate IN ('LD001', 'LD014', '22023') ORDER BY 1;

-- the ledger is whole
SELECT count(*) AS problems FROM verify_chain();
SELECT rule, status, mismatches FROM bcp_run(record => false) WHERE status <> 'pass';

\c contrib_regression
DROP DATABASE cl_batch;
