-- bulk: many postings in one transaction touching the same accounts, with
-- savepoints rolled back in the middle (failing calls among them) and
-- exception blocks; balance(), account_state, the accounts view and the
-- journal chains are checked right after, and again after commit.
-- (A transaction keeps each account row's newest version in a cache,
-- rowcache.c: these are the cases where that cache must not lie.)
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

SELECT open_account('bk:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('bk:a', 'CNY') AS a \gset
SELECT open_account('bk:b', 'CNY') AS b \gset
SELECT open_account('bk:c', 'CNY') AS c \gset
SELECT open_account('bk:split', 'CNY', hot_mode => 'split', shards => 4) AS s \gset
SELECT open_account('bk:buf', 'CNY', hot_mode => 'buffered') AS f \gset

-- what every check below compares: the balance as balance(), account_state
-- and the accounts view each see it, the chain head's version and the
-- journal's last entry, and whether all three accounts' chains verify
CREATE FUNCTION pg_temp.bk_state(acct bigint) RETURNS TABLE(
    balance bigint, state_balance bigint, view_balance bigint, version bigint,
    last_entry_version bigint, last_entry_balance bigint, entries bigint)
LANGUAGE sql AS $$
    SELECT creditledger.balance(acct),
           (SELECT s.balance FROM creditledger.account_state(acct) s),
           (SELECT v.balance FROM creditledger.accounts v WHERE v.account_id = acct),
           (SELECT s.version FROM creditledger.account_state(acct) s),
           (SELECT max(j.version) FROM creditledger.journal j
             WHERE j.account_id = acct AND j.sub_account = 0),
           (SELECT j.balance_after FROM creditledger.journal j
             WHERE j.account_id = acct AND j.sub_account = 0
             ORDER BY j.version DESC LIMIT 1),
           (SELECT count(*) FROM creditledger.journal j WHERE j.account_id = acct)
$$;

BEGIN;
SELECT transfer('bk-fund-a', :bank, :a, 100000) > 0 AS funded_a,
       transfer('bk-fund-b', :bank, :b, 100000) > 0 AS funded_b,
       transfer('bk-fund-c', :bank, :c, 100000) > 0 AS funded_c,
       transfer('bk-fund-s', :bank, :s, 100000) > 0 AS funded_s;

-- 3000 transfers round a -> b -> c -> a in one statement, amounts 1..7
SELECT count(transfer('bk-1-' || g,
                      (ARRAY[:a, :b, :c])[g % 3 + 1], (ARRAY[:a, :b, :c])[(g + 1) % 3 + 1],
                      g % 7 + 1))
  FROM generate_series(1, 3000) g;
-- right after the statement, every reader sees the new balances
SELECT * FROM pg_temp.bk_state(:a);
SELECT * FROM pg_temp.bk_state(:b);
SELECT * FROM pg_temp.bk_state(:c);
SELECT count(*) AS chain_problems
  FROM unnest(ARRAY[:a, :b, :c]) AS acct, LATERAL verify_chain(acct);

-- a replay inside the transaction returns the first id and changes nothing
SELECT transfer('bk-1-10', :b, :c, 4) = (SELECT transfer_id FROM transfers WHERE voucher = 'bk-1-10')
       AS same_id;
SELECT balance(:a) AS a, balance(:b) AS b, balance(:c) AS c;

-- a savepoint: 500 more, then a call that fails (LD001) inside it
SAVEPOINT s1;
SELECT count(transfer('bk-rolled-' || g, :a, :b, 10)) FROM generate_series(1, 500) g;
SELECT balance(:a) AS a, balance(:b) AS b;
SELECT transfer('bk-too-much', :c, :a, 1000000);
ROLLBACK TO SAVEPOINT s1;
-- everything since s1 is gone, and the next postings start from the state
-- before it (their versions and balances follow on from there)
SELECT * FROM pg_temp.bk_state(:a);
SELECT * FROM pg_temp.bk_state(:b);
SELECT count(*) AS rolled_back_entries FROM journal WHERE voucher LIKE 'bk-rolled-%';
SELECT count(transfer('bk-2-' || g, :a, :b, 10)) FROM generate_series(1, 500) g;
SELECT * FROM pg_temp.bk_state(:a);
SELECT * FROM pg_temp.bk_state(:b);
-- a voucher rolled back is free again
SELECT transfer('bk-rolled-1', :a, :c, 1) > 0 AS posted_anew;

-- a failing call as the first statement of a savepoint, after postings in
-- the savepoint's parent only
SAVEPOINT s2;
SELECT transfer('bk-too-much-2', :b, :c, 10000000);
ROLLBACK TO SAVEPOINT s2;
SELECT count(transfer('bk-3-' || g, :b, :c, 1)) FROM generate_series(1, 100) g;

-- nested savepoints: the inner one released, the outer rolled back; then
-- one released that is kept
SAVEPOINT s3;
SELECT count(transfer('bk-rolled-in-' || g, :c, :a, 2)) FROM generate_series(1, 100) g;
SAVEPOINT s4;
SELECT count(transfer('bk-rolled-in4-' || g, :c, :a, 2)) FROM generate_series(1, 100) g;
RELEASE SAVEPOINT s4;
ROLLBACK TO SAVEPOINT s3;
SAVEPOINT s5;
SELECT count(transfer('bk-4-' || g, :c, :a, 3)) FROM generate_series(1, 100) g;
RELEASE SAVEPOINT s5;
SELECT * FROM pg_temp.bk_state(:a);
SELECT * FROM pg_temp.bk_state(:c);

-- exception blocks (a subtransaction each): every 50th iteration also
-- overdraws c, so that iteration's good transfer is undone with it
DO $$
DECLARE
    a bigint := creditledger.account_id('bk:a');
    b bigint := creditledger.account_id('bk:b');
    c bigint := creditledger.account_id('bk:c');
BEGIN
    FOR i IN 1..300 LOOP
        BEGIN
            PERFORM creditledger.transfer('bk-5-' || i, a, c, 5);
            PERFORM creditledger.transfer('bk-5b-' || i, b, a, 5);
            IF i % 50 = 0 THEN
                PERFORM creditledger.transfer('bk-5x-' || i, c, b, 100000000);
            END IF;
        EXCEPTION WHEN SQLSTATE 'LD001' THEN
            NULL;
        END;
    END LOOP;
END
$$;
SELECT count(*) FILTER (WHERE voucher LIKE 'bk-5-%') AS kept_a_c,
       count(*) FILTER (WHERE voucher LIKE 'bk-5b-%') AS kept_b_a,
       count(*) FILTER (WHERE voucher LIKE 'bk-5x-%') AS overdraws
  FROM transfers;
SELECT * FROM pg_temp.bk_state(:a);
SELECT * FROM pg_temp.bk_state(:b);
SELECT * FROM pg_temp.bk_state(:c);

-- split and buffered accounts in the same transaction, and a savepoint
-- rolled back over them
SELECT count(transfer('bk-6-' || g, :s, (ARRAY[:a, :b])[g % 2 + 1], 7)) FROM generate_series(1, 400) g;
SELECT count(transfer('bk-7-' || g, :a, :f, 3)) FROM generate_series(1, 200) g;
SAVEPOINT s6;
SELECT count(transfer('bk-rolled-6-' || g, :s, :c, 7)) FROM generate_series(1, 100) g;
SELECT count(transfer('bk-rolled-7-' || g, :b, :f, 3)) FROM generate_series(1, 100) g;
SELECT transfer('bk-too-much-3', :s, :c, 1000000000);
ROLLBACK TO SAVEPOINT s6;
SELECT count(transfer('bk-8-' || g, :s, :c, 7)) FROM generate_series(1, 100) g;
SELECT balance(:s) AS split, balance(:f) AS buffered, balance(:a) AS a;
SELECT (SELECT sum(balance) FROM sub_accounts WHERE account_id = :s)
       + (SELECT balance FROM ledger_accounts WHERE account_id = :s) = balance(:s) AS split_adds_up,
       (SELECT posted_balance FROM account_state(:s)) = balance(:s) AS nothing_buffered;
SELECT count(*) AS chain_problems
  FROM unnest(ARRAY[:a, :b, :c, :s, :f]) AS acct, LATERAL verify_chain(acct);

-- lock_accounts on rows this transaction already holds
SELECT lock_accounts(ARRAY[:c, :a, :b]);
COMMIT;

-- after commit: the same, as another transaction sees it
SELECT * FROM pg_temp.bk_state(:a);
SELECT * FROM pg_temp.bk_state(:b);
SELECT * FROM pg_temp.bk_state(:c);
SELECT flush(:f) AS flushed;
SELECT balance(:s) AS split, balance(:f) AS buffered;
SELECT count(*) AS chain_problems
  FROM unnest(ARRAY[:a, :b, :c, :s, :f]) AS acct, LATERAL verify_chain(acct);
-- money is conserved: the bank paid out exactly what the others hold
SELECT balance(:bank) - (balance(:a) + balance(:b) + balance(:c) + balance(:s) + balance(:f))
       AS bank_minus_holdings;
SELECT count(*) AS rolled_back_entries FROM journal
 WHERE voucher LIKE 'bk-rolled-%' AND voucher <> 'bk-rolled-1';
-- every transfer of this file has exactly two legs
SELECT count(*) AS transfers_without_two_legs
  FROM transfers t
 WHERE t.voucher LIKE 'bk-%'
   AND (SELECT count(*) FROM journal j WHERE j.transfer_id = t.transfer_id) <> 2;
