-- lending: credit and money in one transaction: set_credit_line_account,
-- credit_disburse (immediate and pending = 放款在途), credit_disburse_direct,
-- credit_repay; pending disbursements posted (partial, final), voided and
-- expired, through single calls and post_batch; replays and LD004; every
-- error path with its SQLSTATE (nothing changed); hot accounts; the two
-- rules credit_used_equals_receivable and
-- credit_frozen_covers_disbursements_in_transit, clean and broken.
-- A database of its own: it breaks links on purpose (inside a rollback).
CREATE DATABASE cl_lending;
\c cl_lending
SET client_min_messages = warning;
CREATE EXTENSION creditledger;
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

SELECT open_account('ld:recv', 'CNY', 'debit', 0) AS recv \gset
SELECT open_account('ld:recv2', 'CNY', 'debit', 0) AS recv2 \gset
SELECT open_account('ld:recv-usd', 'USD', 'debit', 0) AS recv_usd \gset
SELECT open_account('ld:deposits', 'CNY') AS dep \gset
SELECT open_account('ld:alice', 'CNY') AS alice \gset
SELECT open_account('ld:bob', 'CNY') AS bob \gset
SELECT open_account('ld:usd', 'USD') AS usd \gset
SELECT open_account('ld:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT create_credit_line('ld:group', 'CNY', 100000) AS grp \gset
SELECT create_credit_line('ld:c1', 'CNY', 10000, ARRAY[:grp]) AS c1 \gset
SELECT create_credit_line('ld:c2', 'CNY', 10000, ARRAY[:grp]) AS c2 \gset
SELECT create_credit_line('ld:nr', 'CNY', 1000, ARRAY[:grp], false) AS nr \gset

CREATE FUNCTION pg_temp.line(l bigint) RETURNS TABLE(frozen bigint, used bigint, returned bigint, available bigint)
LANGUAGE sql AS $$ SELECT frozen, used, returned, available FROM creditledger.credit_line_state(l) $$;
CREATE FUNCTION pg_temp.bal(a bigint) RETURNS bigint
LANGUAGE sql AS $$ SELECT balance FROM creditledger.account_state(a) $$;
CREATE FUNCTION pg_temp.rules() RETURNS TABLE(rule text, status text, mismatches bigint)
LANGUAGE sql AS $$ SELECT rule, status, mismatches FROM creditledger.bcp_run(
    ARRAY['credit_used_equals_receivable', 'credit_frozen_covers_disbursements_in_transit',
          'credit_totals', 'credit_records_consistent', 'held_equals_open_reservations',
          'pending_posted_within_amount', 'transfers_consistent'], false) ORDER BY rule $$;

-- the two rules are built-in and critical
SELECT name, severity, builtin, enabled FROM bcp_rules
 WHERE name IN ('credit_used_equals_receivable', 'credit_frozen_covers_disbursements_in_transit')
 ORDER BY name;

------------------------------------------------------------------------
-- set_credit_line_account
------------------------------------------------------------------------
-- a line without a receivable account cannot lend (LD006), nothing changes
SELECT credit_freeze(:c1, 500, 'ld-h0') > 0 AS frozen;
SELECT credit_disburse('ld-h0', 'ld-d0', :alice);
SELECT credit_disburse_direct(:c1, 'ld-d0', :alice, 100);
SELECT * FROM pg_temp.line(:c1);
SELECT count(*) AS no_transfer FROM ledger_transfers WHERE voucher = 'ld-d0';
-- bad arguments
SELECT set_credit_line_account(NULL, :recv);
SELECT set_credit_line_account(:c1, NULL);
SELECT set_credit_line_account(999999, :recv);
SELECT set_credit_line_account(:c1, 999999);
SELECT set_credit_line_account(:c1, :dep);            -- credit-normal: 22023
SELECT set_credit_line_account(:c1, :recv_usd);       -- another currency: LD009
SELECT set_credit_line_account(:c1, :recv);
SELECT set_credit_line_account(:c1, :recv);           -- again: nothing changes
SELECT set_credit_line_account(:c2, :recv);           -- another line's: 22023
SELECT set_credit_line_account(:c2, :recv2);
SELECT line_id = :c1 AS c1, receivable_account = :recv AS recv FROM credit_line_accounts WHERE line_id = :c1;
-- the change is on the line's credit chain (a zero-delta entry)
SELECT op, ref, frozen_delta, used_delta FROM credit_journal WHERE line_id = :c1 AND op = 'receivable';
-- a closed account cannot become a receivable
SELECT open_account('ld:closed', 'CNY', 'debit', 0) AS closed \gset
SELECT close_account(:closed);
SELECT set_credit_line_account(:nr, :closed);

------------------------------------------------------------------------
-- credit_disburse, immediate
------------------------------------------------------------------------
SELECT credit_disburse('ld-h0', 'ld-d1', :alice, 300) AS d1 \gset
SELECT * FROM pg_temp.line(:c1);
SELECT pg_temp.bal(:recv) AS recv, pg_temp.bal(:alice) AS alice;
-- one reference: the drawdown's ref is the transfer's voucher
SELECT w.ref, w.amount, w.outstanding, t.voucher, t.kind, t.memo, t.metadata ->> 'drawdown' = w.drawdown_id::text AS md
  FROM ledger_credit_drawdowns w JOIN ledger_transfers t ON t.voucher = w.ref WHERE w.drawdown_id = :d1;
SELECT ref, status, posted, in_transit, outstanding FROM credit_disbursements WHERE drawdown_id = :d1;
-- an immediate disbursement has no row of its own: the view reads the
-- borrower from its drawdown, the transfer and the receivable from its
-- transfer (voucher = ref, metadata)
SELECT line_id = :c1 AS line, receivable_account = :recv AS recv, to_account = :alice AS borrower,
       transfer_id = (SELECT transfer_id FROM ledger_transfers WHERE voucher = 'ld-d1') AS transfer,
       pending_id IS NULL AS no_pending, amount
  FROM credit_disbursements WHERE drawdown_id = :d1;
SELECT count(*) FROM ledger_credit_pending_disbursements WHERE drawdown_id = :d1;
-- replay: the same id, nothing more; another payload: LD004
SELECT credit_disburse('ld-h0', 'ld-d1', :alice, 300) = :d1 AS replay;
SELECT credit_disburse('ld-h0', 'ld-d1', :alice, 301);
SELECT credit_disburse('ld-h0', 'ld-d1', :bob, 300);
SELECT credit_disburse('ld-h0', 'ld-d1', :alice, 300, pending => true);
SELECT credit_disburse('ld-h0', 'ld-d1', :alice, 300, release_rest => true);
SELECT pg_temp.bal(:recv) AS recv, pg_temp.bal(:alice) AS alice;
-- credit_use and credit_disburse share the drawdowns' namespace
SELECT credit_use('ld-h0', 'ld-d1', 300);
-- a voucher already used by a transfer: LD004, and nothing of the credit half stays
SELECT transfer('ld-taken', :bank, :bob, 1) > 0 AS ok;
SELECT credit_disburse('ld-h0', 'ld-taken', :alice, 10);
SELECT * FROM pg_temp.line(:c1);
-- bad arguments (22004, 22023), in the contract's order
SELECT credit_disburse(NULL, 'ld-x', :alice);
SELECT credit_disburse('ld-h0', NULL, :alice);
SELECT credit_disburse('ld-h0', 'ld-x', NULL);
SELECT credit_disburse('ld-h0', 'ld-x', :alice, 0);
SELECT credit_disburse('ld-h0', 'ld-x', :alice, release_rest => NULL);
SELECT credit_disburse('ld-h0', 'ld-x', :alice, pending => NULL);
SELECT credit_disburse('ld-h0', '', :alice);
SELECT credit_disburse('ld-h0', 'creditledger:x', :alice);
SELECT credit_disburse('creditledger:disbursement:ld-d1', 'ld-x', :alice);
-- state errors: unknown hold (LD007), more than the hold has (LD007),
-- unknown or other-currency borrower account (LD003, LD009), the
-- receivable itself (22023), a blocked borrower (LD012)
SELECT credit_disburse('ld-nohold', 'ld-x', :alice);
SELECT credit_disburse('ld-h0', 'ld-x', :alice, 201);
SELECT credit_disburse('ld-h0', 'ld-x', 999999, 10);
SELECT credit_disburse('ld-h0', 'ld-x', :usd, 10);
SELECT credit_disburse('ld-h0', 'ld-x', :recv, 10);
SELECT set_account_block(:bob, 'credits', 'court order');
SELECT credit_disburse('ld-h0', 'ld-x', :bob, 10);
SELECT set_account_block(:bob, 'none');
SELECT * FROM pg_temp.line(:c1);
SELECT pg_temp.bal(:recv) AS recv;
-- release_rest: draws 150, releases the other 50
SELECT credit_disburse('ld-h0', 'ld-d2', :bob, 150, release_rest => true) AS d2 \gset
SELECT status, used_amount, released_amount, remaining FROM credit_holds WHERE ref = 'ld-h0';
SELECT * FROM pg_temp.line(:c1);
-- a suspended line (or ancestor) refuses disbursements (LD006)
SELECT credit_freeze(:c1, 1000, 'ld-h1') > 0 AS frozen;
SELECT suspend_credit_line(:grp, 'review');
SELECT credit_disburse('ld-h1', 'ld-x', :alice, 10);
SELECT credit_disburse_direct(:c1, 'ld-x', :alice, 10);
SELECT resume_credit_line(:grp);

------------------------------------------------------------------------
-- credit_disburse_direct, immediate
------------------------------------------------------------------------
SELECT credit_disburse_direct(:c2, 'ld-dd1', :alice, 2000) AS dd1 \gset
SELECT credit_disburse_direct(:c2, 'ld-dd1', :alice, 2000) = :dd1 AS replay;
SELECT credit_disburse_direct(:c2, 'ld-dd1', :alice, 2001);
SELECT credit_disburse_direct(:c2, 'ld-dd1', :alice, 2000, pending => true);
SELECT credit_disburse_direct(:c2, 'ld-dd2', :alice, 8001);   -- over the limit: LD002
SELECT credit_disburse_direct(NULL, 'ld-x', :alice, 1);
SELECT credit_disburse_direct(:c2, 'ld-x', :alice, NULL);
SELECT credit_disburse_direct(:c2, 'ld-x', :alice, -1);
SELECT credit_disburse_direct(:c2, 'ld-x', :alice, 1, NULL);
SELECT credit_disburse_direct(999999, 'ld-x', :alice, 1);
SELECT credit_disburse_direct(999999, 'ld-x', :alice, 1, pending => true);
-- the reference is looked at first: a used one with another line is LD004,
-- and the refused calls above left no drawdown behind
SELECT credit_disburse_direct(999999, 'ld-dd1', :alice, 2000);
SELECT count(*) AS left_behind FROM ledger_credit_drawdowns WHERE ref = 'ld-x';
SELECT * FROM pg_temp.line(:c2);
SELECT pg_temp.bal(:recv2) AS recv2;

------------------------------------------------------------------------
-- credit-only operations on a lending line are refused
------------------------------------------------------------------------
SELECT credit_use('ld-h1', 'ld-u1', 10);
SELECT credit_use_direct(:c1, 10, 'ld-u2');
SELECT credit_return('ld-d1', 'ld-r0', 10);
-- freezes and unfreezes still work
SELECT credit_unfreeze('ld-h1', 'ld-uf1', 100) > 0 AS ok;

------------------------------------------------------------------------
-- credit_repay
------------------------------------------------------------------------
SELECT transfer('ld-salary', :bank, :alice, 5000) > 0 AS ok;
SELECT credit_repay('ld-d1', 'ld-r1', :alice, 100) AS r1 \gset
SELECT * FROM pg_temp.line(:c1);
SELECT pg_temp.bal(:recv) AS recv, pg_temp.bal(:alice) AS alice;
SELECT outstanding, returned FROM ledger_credit_drawdowns WHERE ref = 'ld-d1';
SELECT t.kind, t.memo,
       t.metadata ->> 'drawdown' = (SELECT drawdown_id::text FROM ledger_credit_drawdowns WHERE ref = 'ld-d1') AS names_drawdown,
       t.metadata ->> 'receivable_account' = :'recv' AS names_receivable
  FROM ledger_transfers t WHERE t.voucher = 'ld-r1';
-- replay; another payload: LD004
SELECT credit_repay('ld-d1', 'ld-r1', :alice, 100) = :r1 AS replay;
SELECT credit_repay('ld-d1', 'ld-r1', :alice, 101);
SELECT credit_repay('ld-d1', 'ld-r1', :bob, 100);
-- repaying more than outstanding: LD008, nothing changes
SELECT credit_repay('ld-d1', 'ld-r2', :alice, 201);
SELECT credit_repay('ld-nodraw', 'ld-r2', :alice, 1);
SELECT credit_repay(NULL, 'ld-r2', :alice, 1);
SELECT credit_repay('ld-d1', NULL, :alice, 1);
SELECT credit_repay('ld-d1', 'ld-r2', NULL, 1);
SELECT credit_repay('ld-d1', 'ld-r2', :alice, 0);
SELECT credit_repay('ld-d1', 'ld-r2', :recv, 1);
SELECT credit_repay('ld-d1', 'ld-r2', :usd, 1);
-- a payer without the money: LD001
SELECT open_account('ld:poor', 'CNY', 'credit', 0) AS poor \gset
SELECT credit_repay('ld-d1', 'ld-r2', :poor, 50);
-- a voucher used by a transfer: LD004
SELECT credit_repay('ld-d1', 'ld-taken', :alice, 50);
SELECT outstanding, returned FROM ledger_credit_drawdowns WHERE ref = 'ld-d1';
SELECT pg_temp.bal(:recv) AS recv, pg_temp.bal(:alice) AS alice;
-- the rest: the drawdown is repaid in full
SELECT credit_repay('ld-d1', 'ld-r3', :alice, 200) > 0 AS ok;
SELECT outstanding, returned FROM ledger_credit_drawdowns WHERE ref = 'ld-d1';
-- a non-revolving line does not regain availability
SELECT open_account('ld:recv-nr', 'CNY', 'debit', 0) AS recv_nr \gset
SELECT set_credit_line_account(:nr, :recv_nr);
SELECT credit_disburse_direct(:nr, 'ld-nr1', :alice, 600) > 0 AS ok;
SELECT credit_repay('ld-nr1', 'ld-nr-r1', :alice, 600) > 0 AS ok;
SELECT * FROM pg_temp.line(:nr);
SELECT credit_disburse_direct(:nr, 'ld-nr2', :alice, 401);
SELECT * FROM pg_temp.rules();

------------------------------------------------------------------------
-- pending disbursements (放款在途)
------------------------------------------------------------------------
SELECT * FROM pg_temp.line(:c1);
SELECT credit_freeze(:c1, 1000, 'ld-h2') > 0 AS frozen;
SELECT credit_disburse('ld-h2', 'ld-p1', :alice, 600, pending => true) AS p1 \gset
-- the credit stays frozen (moved to the transit hold), the money is pending
SELECT * FROM pg_temp.line(:c1);
SELECT ref, status, amount, remaining, released_amount FROM credit_holds WHERE ref IN ('ld-h2', 'creditledger:disbursement:ld-p1') ORDER BY hold_id;
SELECT voucher, amount, posted, status, debit_account = :recv AS from_recv, credit_account = :alice AS to_alice
  FROM pending_transfers WHERE voucher = 'ld-p1';
SELECT amount, outstanding FROM ledger_credit_drawdowns WHERE drawdown_id = :p1;
SELECT ref, status, posted, in_transit, outstanding FROM credit_disbursements WHERE drawdown_id = :p1;
SELECT pg_temp.bal(:recv) AS recv;
-- replays
SELECT credit_disburse('ld-h2', 'ld-p1', :alice, 600, pending => true) = :p1 AS replay;
SELECT credit_disburse('ld-h2', 'ld-p1', :alice, 600);
-- the transit hold belongs to the extension
SELECT credit_unfreeze('creditledger:disbursement:ld-p1', 'ld-x');
-- nothing is outstanding yet: repaying is LD008
SELECT credit_repay('ld-p1', 'ld-x', :alice, 1);
SELECT * FROM pg_temp.rules();
-- the bank confirms part of it: 200 becomes used, 400 stays frozen
SELECT transfer_post('ld-p1-post1', 'ld-p1', 200, final => false) > 0 AS posted;
SELECT * FROM pg_temp.line(:c1);
SELECT amount, outstanding FROM ledger_credit_drawdowns WHERE drawdown_id = :p1;
SELECT pg_temp.bal(:recv) AS recv;
SELECT * FROM pg_temp.rules();
-- a final partial post: 300 more used, the other 100 unfrozen
SELECT transfer_post('ld-p1-post2', 'ld-p1', 300, final => true) > 0 AS posted;
SELECT * FROM pg_temp.line(:c1);
SELECT ref, status, used_amount, released_amount, remaining FROM credit_holds WHERE ref = 'creditledger:disbursement:ld-p1';
SELECT ref, status, posted, in_transit, outstanding FROM credit_disbursements WHERE drawdown_id = :p1;
-- replay of the post; a post after the final one: LD013
SELECT transfer_post('ld-p1-post2', 'ld-p1', 300, final => true) > 0 AS replay;
SELECT transfer_post('ld-p1-post3', 'ld-p1', 1);
SELECT * FROM pg_temp.rules();
-- now it can be repaid
SELECT credit_repay('ld-p1', 'ld-p1-r1', :alice, 500) > 0 AS ok;
SELECT * FROM pg_temp.line(:c1);

-- void: the credit is unfrozen with the money's reservation
SELECT credit_disburse('ld-h2', 'ld-p2', :bob, 300, pending => true) AS p2 \gset
SELECT status, remaining FROM credit_holds WHERE ref = 'ld-h2';
SELECT * FROM pg_temp.line(:c1);
SELECT transfer_void('ld-p2-void', 'ld-p2') > 0 AS voided;
SELECT * FROM pg_temp.line(:c1);
SELECT ref, status, posted, in_transit, outstanding FROM credit_disbursements WHERE drawdown_id = :p2;
SELECT status, released_amount FROM credit_holds WHERE ref = 'creditledger:disbursement:ld-p2';
SELECT transfer_void('ld-p2-void', 'ld-p2') > 0 AS replay;
SELECT transfer_post('ld-p2-post', 'ld-p2');
SELECT op, frozen_delta, used_delta FROM credit_journal
 WHERE line_id = :c1 AND ref = 'ld-p2-void' ORDER BY entry_id;
SELECT * FROM pg_temp.rules();

-- a failing money half (a blocked receivable) leaves the credit as it was
SELECT set_account_block(:recv, 'debits');
SELECT credit_disburse('ld-h1', 'ld-p3', :alice, 100, pending => true);
SELECT credit_disburse('ld-h1', 'ld-p3', :alice, 100);
SELECT set_account_block(:recv, 'none');
SELECT status, remaining FROM credit_holds WHERE ref = 'ld-h1';
SELECT count(*) AS no_drawdown FROM ledger_credit_drawdowns WHERE ref = 'ld-p3';

-- direct and pending: frozen on the line until posted
SELECT credit_disburse_direct(:c2, 'ld-pd1', :bob, 1000, pending => true) AS pd1 \gset
SELECT * FROM pg_temp.line(:c2);
SELECT credit_disburse_direct(:c2, 'ld-pd1', :bob, 1000, pending => true) = :pd1 AS replay;
SELECT transfer_post('ld-pd1-post', 'ld-pd1') > 0 AS posted;
SELECT * FROM pg_temp.line(:c2);
SELECT pg_temp.bal(:recv2) AS recv2;
-- over the limit: LD002 before anything is written
SELECT credit_disburse_direct(:c2, 'ld-pd2', :bob, 7001, pending => true);

-- post_batch: post and void items of pending disbursements do the same
SELECT credit_disburse_direct(:c2, 'ld-pb1', :bob, 100, pending => true) > 0 AS ok;
SELECT credit_disburse_direct(:c2, 'ld-pb2', :bob, 200, pending => true) > 0 AS ok;
SELECT credit_disburse_direct(:c2, 'ld-pb3', :bob, 300, pending => true) > 0 AS ok;
SELECT * FROM pg_temp.line(:c2);
SELECT item, id > 0 AS ok, sqlstate FROM post_batch(jsonb_build_array(
    jsonb_build_object('op', 'post', 'voucher', 'ld-pb1-post', 'pending_voucher', 'ld-pb1'),
    jsonb_build_object('op', 'post', 'voucher', 'ld-pb2-post', 'pending_voucher', 'ld-pb2', 'amount', 50, 'final', true),
    jsonb_build_object('op', 'void', 'voucher', 'ld-pb3-void', 'pending_voucher', 'ld-pb3'),
    jsonb_build_object('op', 'post', 'voucher', 'ld-pb3-post', 'pending_voucher', 'ld-pb3')));
SELECT * FROM pg_temp.line(:c2);
SELECT ref, status, posted, in_transit, outstanding FROM credit_disbursements
 WHERE ref LIKE 'ld-pb%' ORDER BY ref;
SELECT * FROM pg_temp.rules();

-- expiry: a pending disbursement expires with its hold; the worker's
-- task (expire_pending) unfreezes the credit with the money's reservation
SELECT credit_freeze(:c1, 700, 'ld-h3', now() + interval '1 second') > 0 AS frozen;
SELECT credit_disburse('ld-h3', 'ld-p4', :alice, 700, pending => true) AS p4 \gset
SELECT expires_at IS NOT NULL AS expires FROM pending_transfers WHERE voucher = 'ld-p4';
SELECT * FROM pg_temp.line(:c1);
SELECT pg_sleep(1.2);
-- met by a call: LD013, nothing changes
SELECT transfer_post('ld-p4-post', 'ld-p4');
SELECT transfer_void('ld-p4-void', 'ld-p4');
SELECT expire_pending() >= 1 AS expired;
SELECT * FROM pg_temp.line(:c1);
SELECT ref, status, posted, in_transit, outstanding FROM credit_disbursements WHERE drawdown_id = :p4;
SELECT status FROM credit_holds WHERE ref = 'creditledger:disbursement:ld-p4';
SELECT op, frozen_delta FROM credit_journal WHERE line_id = :c1 AND ref = 'ld-p4' ORDER BY entry_id;
SELECT * FROM pg_temp.rules();

-- a receivable cannot change while disbursements are in transit, nor to an
-- account whose balance is not the outstanding principal
SELECT credit_freeze(:c1, 100, 'ld-h4') > 0 AS frozen;
SELECT credit_disburse('ld-h4', 'ld-p5', :alice, pending => true) > 0 AS ok;
SELECT open_account('ld:recv3', 'CNY', 'debit', 0) AS recv3 \gset
SELECT set_credit_line_account(:c1, :recv3);
SELECT transfer_void('ld-p5-void', 'ld-p5') > 0 AS voided;
SELECT set_credit_line_account(:c1, :recv3);    -- 150 outstanding, a balance of 0
-- nr has nothing outstanding: its receivable can move to a new account
SELECT set_credit_line_account(:nr, :recv3);
SELECT receivable_account = :recv3 AS moved FROM credit_line_accounts WHERE line_id = :nr;

------------------------------------------------------------------------
-- hot accounts: a split borrower account, a buffered receivable
------------------------------------------------------------------------
SELECT open_account('ld:payout', 'CNY') AS payout \gset
SELECT set_hot_mode(:payout, 'split', 4);
SELECT open_account('ld:recv-hot', 'CNY', 'debit', 0) AS recv_hot \gset
SELECT set_hot_mode(:recv_hot, 'buffered');
SELECT create_credit_line('ld:hot', 'CNY', 10000, ARRAY[:grp]) AS hl \gset
SELECT set_credit_line_account(:hl, :recv_hot);
SELECT credit_disburse_direct(:hl, 'ld-hot1', :payout, 400) > 0 AS ok;
SELECT credit_disburse_direct(:hl, 'ld-hot2', :payout, 100, pending => true) > 0 AS ok;
SELECT transfer_post('ld-hot2-post', 'ld-hot2') > 0 AS ok;
SELECT balance FROM accounts WHERE account_id IN (:payout, :recv_hot) ORDER BY account_id;
SELECT credit_repay('ld-hot1', 'ld-hot1-r', :payout, 150) > 0 AS ok;
SELECT flush(:recv_hot) >= 0 AS flushed;
SELECT balance FROM accounts WHERE account_id IN (:payout, :recv_hot) ORDER BY account_id;
SELECT * FROM pg_temp.line(:hl);
SELECT * FROM pg_temp.rules();

------------------------------------------------------------------------
-- the rules catch a broken link (each inside a rollback)
------------------------------------------------------------------------
-- money without credit: a plain transfer on a receivable is refused
-- (22023, security audit 0.3); a balance changed behind the guard is found
SELECT transfer('ld-bug', :recv2, :bank, 1) > 0 AS ok;
BEGIN;
UPDATE ledger_accounts SET balance = balance + 1 WHERE account_id = :recv2;
SELECT rule, status, mismatches FROM bcp_run(ARRAY['credit_used_equals_receivable'], false);
ROLLBACK;
-- credit without money: a drawdown's outstanding changed behind the guard
BEGIN;
UPDATE ledger_credit_drawdowns SET outstanding = outstanding + 1, amount = amount + 1 WHERE ref = 'ld-dd1';
SELECT rule, status, mismatches FROM bcp_run(ARRAY['credit_used_equals_receivable'], false);
ROLLBACK;
-- a pending disbursement whose credit is no longer frozen
SELECT credit_freeze(:c1, 100, 'ld-h5') > 0 AS frozen;
SELECT credit_disburse('ld-h5', 'ld-p6', :alice, pending => true) > 0 AS ok;
BEGIN;
UPDATE ledger_credit_holds SET remaining = 0, released_amount = amount, status = 'released'
 WHERE ref = 'creditledger:disbursement:ld-p6';
SELECT rule, status, mismatches, sample -> 0 ->> 'ref' AS ref
  FROM bcp_run(ARRAY['credit_frozen_covers_disbursements_in_transit'], false);
ROLLBACK;
-- an immediate disbursement (no row of its own) whose transfer no longer
-- names its drawdown, or whose transfer is gone: credit_records_consistent
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_transfers SET metadata = jsonb_set(metadata, '{drawdown}', '0') WHERE voucher = 'ld-dd1';
SELECT rule, status, mismatches, sample -> 0 ->> 'record' AS record, sample -> 0 ->> 'ref' AS ref,
       sample -> 0 ->> 'detail' LIKE 'transfer % names line %, drawdown 0' AS detail
  FROM bcp_run(ARRAY['credit_records_consistent'], false);
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
DELETE FROM ledger_transfers WHERE voucher = 'ld-dd1';
SELECT rule, status, mismatches, sample -> 0 ->> 'record' AS record, sample -> 0 ->> 'ref' AS ref,
       sample -> 0 ->> 'detail' AS detail
  FROM bcp_run(ARRAY['credit_records_consistent'], false);
ROLLBACK;
SELECT * FROM pg_temp.rules();

-- this backend's receivable cache: an account it looked up and found to
-- be no line's receivable (the disbursement into it then refused by the
-- account's floor, LD001) is refused as another line's receivable (22023)
-- once a line takes it (the designation moves the credit graph's
-- generation)
SELECT open_account('ld:later', 'CNY', 'debit', 0) AS later \gset
SELECT create_credit_line('ld:c3', 'CNY', 1000) AS c3 \gset
SELECT credit_disburse_direct(:c1, 'ld-later1', :later, 5);
SELECT set_credit_line_account(:c3, :later);
SELECT credit_disburse_direct(:c1, 'ld-later2', :later, 5);
SELECT credit_repay('ld-dd1', 'ld-later3', :later, 1);
SELECT count(*) AS refused_left_nothing FROM ledger_transfers WHERE voucher LIKE 'ld-later%';

-- a pending disbursement posted with its own ref as the transfer's voucher
-- (another namespace) is still one disbursement, posted
SELECT credit_disburse_direct(:c1, 'ld-same', :alice, 3, pending => true) AS same \gset
SELECT transfer_post('ld-same', 'ld-same') > 0 AS posted;
SELECT ref, status, posted, transfer_id IS NULL AS no_transfer, pending_id IS NOT NULL AS pending
  FROM credit_disbursements WHERE ref = 'ld-same';

-- the view: one row for each drawdown of a disbursement, none for a
-- credit-only one (on a line without a receivable account)
SELECT create_credit_line('ld:only', 'CNY', 100) AS only \gset
SELECT credit_use_direct(:only, 1, 'ld-credit-only') > 0 AS used;
SELECT w.payload ->> 'kind' AS kind, count(*) AS drawdowns, count(d.drawdown_id) AS in_view,
       count(DISTINCT d.drawdown_id) AS distinct_in_view
  FROM ledger_credit_drawdowns w LEFT JOIN credit_disbursements d USING (drawdown_id)
 GROUP BY 1 ORDER BY 1;
SELECT count(*) AS immediate_rows_elsewhere FROM ledger_credit_pending_disbursements p
  JOIN credit_disbursements d USING (drawdown_id) WHERE d.status = 'disbursed';

-- everything verifies
SELECT count(*) AS chain_problems FROM verify_chain();
SELECT rule, status FROM bcp_run(record => false) WHERE status <> 'pass' AND severity = 'critical';

-- this backend's caches (a line's receivable account and nodes) do not
-- outlive the extension: dropped and created again, its new lines reuse
-- the ids, and line :c1's id names a line without a receivable account
-- or a parent
SELECT credit_disburse_direct(:c1, 'ld-cache1', :alice, 1) > 0 AS ok;
DROP EXTENSION creditledger CASCADE;
CREATE EXTENSION creditledger;
SELECT count(create_credit_line('ld2:' || i, 'CNY', 100)) AS lines FROM generate_series(1, :c1) AS i;
SELECT credit_use_direct(:c1, 7, 'ld2-u1') > 0 AS ok;
SELECT line_id = :c1 AS is_c1, used FROM credit_lines WHERE used <> 0;
\c contrib_regression
DROP DATABASE cl_lending;
