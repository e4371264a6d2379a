-- holds: pending transfers (authorise, partial and final capture, void,
-- expiry), funds holds, account blocks; every function and error path with
-- its SQLSTATE, replays, and holds on every hot mode.  Self-contained: its
-- own database (the ledger of the other files is tampered on purpose), so
-- the whole ledger must verify, pass every rule and yield a digest.
CREATE DATABASE cl_holds;
\c cl_holds
CREATE EXTENSION creditledger;
SET search_path = creditledger, public;
\set VERBOSITY sqlstate
SET client_min_messages = warning;

SELECT open_account('ho:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('ho:a', 'CNY') AS a \gset
SELECT open_account('ho:b', 'CNY') AS b \gset
SELECT open_account('ho:usd', 'USD') AS usd \gset
SELECT transfer('ho-fund', :bank, :a, 1000);

CREATE FUNCTION pg_temp.st(acc bigint) RETURNS TABLE(balance bigint, held bigint, available bigint, block text)
LANGUAGE sql AS $$ SELECT balance, held, available, block FROM creditledger.account_state(acc) $$;

-- authorise: reserves on the account it decreases, changes no balance
SELECT transfer_pending('ho-p1', :a, :b, 600, memo => 'card auth', metadata => '{"mcc": 5411}') AS p1 \gset
SELECT * FROM pg_temp.st(:a);
SELECT * FROM pg_temp.st(:b);
-- replay: the same id; another payload: LD004 (memo and metadata included)
SELECT transfer_pending('ho-p1', :a, :b, 600, memo => 'card auth', metadata => '{"mcc": 5411}') = :p1 AS same_id;
SELECT transfer_pending('ho-p1', :a, :b, 600, memo => 'card auth');
SELECT transfer_pending('ho-p1', :a, :b, 601, memo => 'card auth', metadata => '{"mcc": 5411}');
-- the reference is checked before the accounts
SELECT transfer_pending('ho-p1', :a, 999999, 600);
-- a second authorisation over what is available: LD001
SELECT transfer_pending('ho-p2', :a, :b, 401);
-- a plain transfer obeys available too
SELECT transfer('ho-t1', :a, :b, 401);
SELECT transfer('ho-t1', :a, :b, 400) > 0 AS ok;
SELECT * FROM pg_temp.st(:a);
-- post_entry and reverse obey available too
SELECT transfer('ho-back', :b, :a, 400) > 0 AS ok;
SELECT post_entry('ho-e1', jsonb_build_array(jsonb_build_object('account', :a, 'debit', 401),
                                             jsonb_build_object('account', :b, 'credit', 401)));
SELECT reverse('ho-back');

-- malformed arguments: 22004, 22023
SELECT transfer_pending(NULL, :a, :b, 1);
SELECT transfer_pending('x', NULL, :b, 1);
SELECT transfer_pending('x', :a, :b, NULL);
SELECT transfer_pending('x', :a, :b, 0);
SELECT transfer_pending('x', :a, :a, 1);
SELECT transfer_pending('', :a, :b, 1);
SELECT transfer_pending('creditledger:x', :a, :b, 1);
SELECT transfer_pending(repeat('x', 129), :a, :b, 1);
SELECT transfer_pending('x', :a, :b, 1, now() - interval '1 second');
SELECT transfer_pending('x', :a, :b, 1, metadata => '[1]');
-- state: LD003 (unknown), LD009 (currency)
SELECT transfer_pending('ho-x1', :a, 999999, 1);
SELECT transfer_pending('ho-x2', :a, :usd, 1);

-- partial capture, final => false keeps the rest pending
SELECT transfer_post('ho-c1', 'ho-p1', 200, false) AS c1 \gset
SELECT transfer_post('ho-c1', 'ho-p1', 200, false) = :c1 AS same_id;
SELECT transfer_post('ho-c1', 'ho-p1', 201, false);
SELECT transfer_post('ho-c1', 'ho-p1', 200, true);
-- a post voucher is a transfer voucher (shared namespace)
SELECT transfer('ho-c1', :a, :b, 200);
SELECT transfer_post('ho-fund', 'ho-p1', 1);
SELECT voucher, kind, memo, metadata FROM transfers WHERE transfer_id = :c1;
SELECT amount, posted, remaining, status FROM pending_transfers WHERE pending_id = :p1;
SELECT * FROM pg_temp.st(:a);
-- more than remains: LD013
SELECT transfer_post('ho-c2', 'ho-p1', 401);
-- final capture of less than remains releases the rest
SELECT transfer_post('ho-c2', 'ho-p1', 100) > 0 AS ok;
SELECT amount, posted, remaining, status FROM pending_transfers WHERE pending_id = :p1;
SELECT * FROM pg_temp.st(:a);
SELECT * FROM pg_temp.st(:b);
-- posted: no further post, no void (LD013)
SELECT transfer_post('ho-c3', 'ho-p1', 1);
SELECT transfer_void('ho-v1', 'ho-p1');
-- unknown pending voucher: LD013; malformed: 22004/22023
SELECT transfer_post('ho-c4', 'nope');
SELECT transfer_void('ho-v2', 'nope');
SELECT transfer_post(NULL, 'ho-p1');
SELECT transfer_post('ho-c4', NULL);
SELECT transfer_post('ho-c4', 'ho-p1', 0);
SELECT transfer_post('ho-c4', 'ho-p1', 1, NULL);
SELECT transfer_void(NULL, 'ho-p1');
SELECT transfer_void('creditledger:v', 'ho-p1');

-- void releases what remains; replays return the pending id
SELECT transfer_pending('ho-p3', :a, :b, 300) AS p3 \gset
SELECT transfer_void('ho-v3', 'ho-p3') = :p3 AS voided;
SELECT transfer_void('ho-v3', 'ho-p3') = :p3 AS replay;
SELECT transfer_void('ho-v3', 'ho-p1');
SELECT transfer_void('ho-v4', 'ho-p3');
SELECT transfer_post('ho-c5', 'ho-p3');
SELECT status, remaining FROM pending_transfers WHERE pending_id = :p3;
SELECT * FROM pg_temp.st(:a);

-- a partially posted pending transfer can be voided (the rest is released)
SELECT transfer_pending('ho-p4', :a, :b, 100) AS p4 \gset
SELECT transfer_post('ho-c6', 'ho-p4', 30, false) > 0 AS ok;
SELECT transfer_void('ho-v5', 'ho-p4') = :p4 AS ok;
SELECT amount, posted, remaining, status FROM pending_transfers WHERE pending_id = :p4;

-- a pending transfer that decreases no account (bank is debit-normal: a
-- debit raises it) reserves nothing and is still recorded
SELECT transfer_pending('ho-p5', :bank, :a, 50) AS p5 \gset
SELECT * FROM pg_temp.st(:bank);
SELECT transfer_post('ho-c7', 'ho-p5') > 0 AS ok;
-- one that decreases both (a pays out to the bank: a credit lowers bank)
SELECT transfer_pending('ho-p6', :a, :bank, 10) AS p6 \gset
SELECT held FROM accounts WHERE account_id IN (:a, :bank) ORDER BY account_id;
SELECT transfer_post('ho-c8', 'ho-p6', 4) > 0 AS ok;
SELECT held FROM accounts WHERE account_id IN (:a, :bank) ORDER BY account_id;

-- expiry: a due pending transfer counts as released (LD013), expire_pending releases it
SELECT transfer_pending('ho-p7', :a, :b, 70, now() + interval '100 milliseconds') AS p7 \gset
SELECT hold_funds('ho-h0', :a, 30, 'soon', now() + interval '100 milliseconds') AS h0 \gset
SELECT held FROM accounts WHERE account_id = :a;
SELECT pg_sleep(0.2);
SELECT transfer_post('ho-c9', 'ho-p7');
SELECT transfer_void('ho-v6', 'ho-p7');
SELECT release_funds('ho-r0', 'ho-h0');
SELECT expire_pending() AS expired;
SELECT status, remaining FROM pending_transfers WHERE pending_id = :p7;
SELECT status, remaining FROM funds_holds WHERE hold_id = :h0;
SELECT transfer_post('ho-c9', 'ho-p7');
SELECT expire_pending() AS expired_again;
-- a decrease that meets a due reservation on its chain releases it first
SELECT open_account('ho:c', 'CNY') AS c \gset
SELECT transfer('ho-fund-c', :bank, :c, 100);
SELECT hold_funds('ho-h1', :c, 100, NULL, now() + interval '100 milliseconds') AS h1 \gset
SELECT pg_sleep(0.2);
SELECT transfer('ho-t2', :c, :b, 100) > 0 AS spent;
SELECT status FROM funds_holds WHERE hold_id = :h1;
SELECT op, amount, held_delta, held_after FROM hold_journal WHERE account_id = :c ORDER BY version;

-- funds holds: court freeze (司法冻结)
SELECT transfer('ho-fund-2', :bank, :a, 500);
SELECT * FROM pg_temp.st(:a);
SELECT hold_funds('ho-h2', :a, 300, 'court order 2024-17') AS h2 \gset
SELECT hold_funds('ho-h2', :a, 300, 'court order 2024-17') = :h2 AS same_id;
SELECT hold_funds('ho-h2', :a, 300);
SELECT hold_funds('ho-h2', :a, 300, 'court order 2024-17', now() + interval '1 day');
SELECT hold_funds('ho-h3', :a, 1000000);
SELECT hold_funds(NULL, :a, 1);
SELECT hold_funds('ho-h3', :a, -1);
SELECT hold_funds('ho-h3', 999999, 1);
SELECT hold_funds('creditledger:h', :a, 1);
SELECT * FROM pg_temp.st(:a);
SELECT release_funds('ho-r1', 'ho-h2', 100) = :h2 AS released;
SELECT release_funds('ho-r1', 'ho-h2', 100) = :h2 AS replay;
SELECT release_funds('ho-r1', 'ho-h2', 99);
SELECT release_funds('ho-r2', 'ho-h2', 201);
SELECT release_funds('ho-r2', 'nope');
SELECT release_funds('ho-r2', 'ho-h2', 0);
SELECT release_funds(NULL, 'ho-h2');
SELECT amount, released, remaining, status, reason FROM funds_holds WHERE hold_id = :h2;
SELECT release_funds('ho-r2', 'ho-h2') = :h2 AS released_rest;
SELECT release_funds('ho-r3', 'ho-h2');
SELECT amount, released, remaining, status FROM funds_holds WHERE hold_id = :h2;

-- blocks: 止付 (debits), 止收 (credits), all; unblock
SELECT set_account_block(:a, 'debits', 'fraud review');
SELECT * FROM pg_temp.st(:a);
SELECT transfer('ho-bl1', :a, :b, 1);
SELECT transfer_pending('ho-bl2', :a, :b, 1);
SELECT transfer('ho-bl3', :b, :a, 1) > 0 AS credit_ok;
SELECT hold_funds('ho-bl4', :a, 1) > 0 AS hold_ok;
SELECT release_funds('ho-bl5', 'ho-bl4') > 0 AS release_ok;
SELECT set_account_block(:a, 'credits');
SELECT transfer('ho-bl6', :b, :a, 1);
SELECT transfer('ho-bl7', :a, :b, 1) > 0 AS debit_ok;
SELECT set_account_block(:a, 'all');
SELECT transfer('ho-bl8', :a, :b, 1);
SELECT transfer('ho-bl8', :b, :a, 1);
-- a block stops the post of a pending transfer authorised before it; a void still works
SELECT set_account_block(:a, 'none');
SELECT transfer_pending('ho-bl9', :a, :b, 10) AS bl9 \gset
SELECT transfer_pending('ho-bl10', :a, :b, 10) AS bl10 \gset
SELECT set_account_block(:b, 'credits', '止收');
SELECT transfer_post('ho-bl11', 'ho-bl9');
SELECT transfer_void('ho-bl12', 'ho-bl10') = :bl10 AS voided;
SELECT set_account_block(:b, 'none');
SELECT transfer_post('ho-bl11', 'ho-bl9') > 0 AS posted;
SELECT set_account_block(:a, 'none');
SELECT set_account_block(:a, 'sideways');
SELECT set_account_block(NULL, 'all');
SELECT set_account_block(:a, NULL);
SELECT set_account_block(999999, 'all');
SELECT op, ref, block, reason, actor = session_user AS by_me
  FROM hold_journal WHERE account_id = :a AND op = 'block' ORDER BY version;

-- hot modes: split (the reservation sits in one sub-account)
SELECT open_account('ho:split', 'CNY', hot_mode => 'split', shards => 4) AS sp \gset
SELECT transfer('ho-sp-f' || g, :bank, :sp, 100) > 0 FROM generate_series(1, 4) g;
SELECT transfer_pending('ho-sp1', :sp, :b, 250) AS sp1 \gset
SELECT count(*) AS subs_holding FROM sub_accounts WHERE account_id = :sp AND held > 0;
SELECT sum(held) AS held, sum(balance) AS balance FROM sub_accounts WHERE account_id = :sp;
SELECT hold_funds('ho-sp-h', :sp, 150) > 0 AS ok;
SELECT transfer('ho-sp-t1', :sp, :b, 1);
SELECT transfer_post('ho-sp-c1', 'ho-sp1', 250) > 0 AS ok;
SELECT * FROM pg_temp.st(:sp);
SELECT set_hot_mode(:sp, 'none');
SELECT release_funds('ho-sp-r', 'ho-sp-h') > 0 AS ok;
SELECT transfer('ho-sp-t2', :sp, :b, 150) > 0 AS ok;
SELECT * FROM pg_temp.st(:sp);

-- the claim's guess of the chain comes from what this session last read of
-- the account: split (4 shards) read last, 'none' now, then split again:
-- the row names the chain the reservation actually sits on either way
SELECT transfer('ho-sp-f5', :bank, :sp, 20) > 0 AS ok;
SELECT set_hot_mode(:sp, 'none');
SELECT transfer_pending('ho-sp-g1', :sp, :b, 5) > 0 AS ok;
SELECT p.debit_sub, a.held FROM ledger_pending_transfers p
  JOIN ledger_accounts a ON a.account_id = p.debit_account WHERE p.voucher = 'ho-sp-g1';
SELECT transfer_void('ho-sp-gv1', 'ho-sp-g1') > 0 AS ok;
SELECT set_hot_mode(:sp, 'split', 4);
SELECT transfer_pending('ho-sp-g2', :sp, :b, 5) > 0 AS ok;
SELECT p.debit_sub > 0 AS on_a_sub, s.held FROM ledger_pending_transfers p
  JOIN sub_accounts s ON s.account_id = p.debit_account AND s.sub_account = p.debit_sub
 WHERE p.voucher = 'ho-sp-g2';
SELECT transfer_void('ho-sp-gv2', 'ho-sp-g2') > 0 AS ok;
-- a pending transfer's history: on its debit account's hold chain (the
-- primary key's prefix)
SELECT op, amount, held_delta FROM hold_journal
 WHERE account_id = :sp AND target = 'P'
   AND target_id = (SELECT pending_id FROM pending_transfers WHERE voucher = 'ho-sp-g2')
 ORDER BY version;

-- buffered: the increase from a posted pending transfer goes through the buffer
SELECT open_account('ho:buf', 'CNY', hot_mode => 'buffered') AS bu \gset
SELECT transfer_pending('ho-bu1', :a, :bu, 40) AS bu1 \gset
SELECT transfer_post('ho-bu-c1', 'ho-bu1') > 0 AS ok;
SELECT balance, posted_balance, buffered_amount FROM accounts WHERE account_id = :bu;
-- a pending debit from a buffered account applies the buffer first
SELECT transfer_pending('ho-bu2', :bu, :b, 40) > 0 AS ok;
SELECT balance, posted_balance, buffered_amount, held, available FROM accounts WHERE account_id = :bu;
SELECT transfer_void('ho-bu-v2', 'ho-bu2') > 0 AS ok;

-- buffered_split: both
SELECT open_account('ho:bs', 'CNY', hot_mode => 'buffered_split', shards => 2) AS bs \gset
SELECT transfer('ho-bs-f', :bank, :bs, 100) > 0 AS ok;
SELECT hold_funds('ho-bs-h', :bs, 100) > 0 AS held_all;
SELECT hold_funds('ho-bs-h2', :bs, 1);
SELECT transfer('ho-bs-t', :bs, :b, 1);
SELECT balance, held, available FROM accounts WHERE account_id = :bs;

-- close_account refuses open reservations (55000)
SELECT open_account('ho:close', 'CNY', 'credit', NULL) AS cl \gset
SELECT hold_funds('ho-cl-h', :cl, 5) > 0 AS ok;
SELECT close_account(:cl);
SELECT release_funds('ho-cl-r', 'ho-cl-h') > 0 AS ok;
SELECT close_account(:cl);

-- overflow at the call: 22003
SELECT open_account('ho:big', 'CNY', 'credit', NULL) AS big \gset
SELECT hold_funds('ho-big1', :big, 9223372036854775807) > 0 AS ok;
SELECT hold_funds('ho-big2', :big, 1);
SELECT release_funds('ho-big-r', 'ho-big1') > 0 AS ok;

-- every chain verifies, every built-in rule passes, a digest verifies
SELECT * FROM verify_chain();
SELECT rule, status, mismatches FROM bcp_run(record => false) WHERE status <> 'pass';
SELECT digest_id AS d, digest AS g FROM ledger_digest() \gset
SELECT verify_digest(:d, :'g') AS digest_ok;

-- tampering behind the guard is found (verify_chain, rules, digest)
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE hold_entries SET amount = amount + 1 WHERE account_id = :a AND version = 1;
SELECT account_id = :a AS acc, problem FROM verify_chain(:a);
SELECT verify_digest(:d, :'g') AS digest_ok;
ROLLBACK;
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE ledger_accounts SET held = held - 1 WHERE account_id = :bs;
UPDATE ledger_pending_transfers SET posted = 0 WHERE pending_id = :p4;
UPDATE ledger_pending_transfers SET status = 'posted' WHERE pending_id = :p3;
SELECT rule, status, mismatches FROM bcp_run(ARRAY['held_equals_open_reservations',
    'pending_posted_within_amount', 'pending_single_outcome'], false);
ROLLBACK;

-- the history is append-only
UPDATE hold_entries SET amount = 0;
DELETE FROM hold_operations;
TRUNCATE hold_entries;

-- monitoring
SELECT currency, pending_count, pending_amount, funds_holds_count, funds_holds_amount, blocked_accounts
  FROM stat_holds ORDER BY currency;
SELECT m FROM regexp_split_to_table(metrics(), E'\n') m
 WHERE m ~ '^creditledger_(pending_transfers|pending_amount|funds_holds|funds_held_amount|blocked_accounts)\{'
 ORDER BY m;

-- CLH1 in C and in SQL: holds.c hashes each entry in C; every entry's hash
-- is byte for byte what creditledger._hold_entry_hash (the SQL encoding
-- auditors and verification use) gives, non-ASCII ref and reason, posts
-- (transfer_id set) and blocks included
SELECT open_account('ho:utf8', 'CNY') AS u \gset
SELECT transfer('ho-fund-u', :bank, :u, 10) > 0 AS ok;
SELECT hold_funds('ho-冻结-1', :u, 3, '司法冻结 (2024) 沪01执 17号') > 0 AS ok;
SELECT release_funds('ho-解冻-1', 'ho-冻结-1') > 0 AS ok;
SELECT count(*) > 0 AS entries,
       count(*) FILTER (WHERE transfer_id IS NOT NULL) > 0 AS with_transfer,
       count(*) FILTER (WHERE octet_length(ref) > length(ref)) > 0 AS non_ascii_ref,
       count(*) FILTER (WHERE octet_length(reason) > length(reason)) > 0 AS non_ascii_reason,
       count(*) FILTER (WHERE op = 'block') > 0 AS blocks,
       count(*) FILTER (WHERE hash IS DISTINCT FROM
                        _hold_entry_hash(prev_hash, account_id, sub_account, version, op, target,
                                         target_id, ref, transfer_id, amount, held_delta,
                                         held_after, block, actor, reason, created_at)) AS differ
  FROM hold_entries;

\c contrib_regression
DROP DATABASE cl_holds;
