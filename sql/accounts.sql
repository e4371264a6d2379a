-- accounts: open_account, account_id, close_account, balance, account_state,
-- set_hot_mode, flush, and every error path with its SQLSTATE.
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

SELECT open_account('acc:alice', 'CNY') AS alice \gset
SELECT open_account('acc:bob', 'CNY', 'credit', -500, metadata => '{"kyc": 2}') AS bob \gset
SELECT open_account('acc:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('acc:usd', 'USD', 'debit', 0) AS usd \gset

-- re-opening with identical attributes returns the same id
SELECT open_account('acc:alice', 'CNY') = :alice AS same_id;
SELECT open_account('acc:bob', 'CNY', 'credit', -500, 'none', 8, '{"kyc": 2}') = :bob AS same_id;
SELECT open_account('acc:bank', 'CNY', 'debit', NULL) = :bank AS same_id;
-- different attributes: LD004
SELECT open_account('acc:alice', 'USD');
SELECT open_account('acc:alice', 'CNY', 'debit');
SELECT open_account('acc:alice', 'CNY', 'credit', 10);
SELECT open_account('acc:alice', 'CNY', 'credit', NULL);
SELECT open_account('acc:bob', 'CNY', 'credit', -500, metadata => '{"kyc": 3}');

-- NULL arguments: 22004
SELECT open_account(NULL, 'CNY');
SELECT open_account('x', NULL);
SELECT open_account('x', 'CNY', NULL);
SELECT open_account('x', 'CNY', 'credit', 0, NULL);
SELECT open_account('x', 'CNY', 'credit', 0, 'none', NULL);
SELECT open_account('x', 'CNY', 'credit', 0, 'none', 8, NULL);
-- malformed arguments: 22023
SELECT open_account('', 'CNY');
SELECT open_account(repeat('x', 129), 'CNY');
SELECT open_account('x', 'cny');
SELECT open_account('x', 'CN');
SELECT open_account('x', 'CNYY');
SELECT open_account('x', 'C1Y');
SELECT open_account('x', 'CNY', 'left');
SELECT open_account('x', 'CNY', 'credit', 0, 'turbo');
SELECT open_account('x', 'CNY', 'credit', 0, 'none', 0);
SELECT open_account('x', 'CNY', 'credit', 0, 'none', 1025);
-- 128 characters (not bytes) is the limit
SELECT open_account(repeat('é', 128), 'CNY') > 0 AS ok;
-- nothing was created by the failed calls
SELECT count(*) FROM accounts WHERE code = 'x';

-- account_id
SELECT account_id('acc:bob') = :bob AS ok;
SELECT account_id('acc:nobody');
SELECT account_id(NULL);

-- balance and account_state
SELECT balance(:alice);
SELECT balance(999999);
SELECT balance(NULL);
SELECT code, currency, normal_side, balance, posted_balance, buffered_amount,
       buffered_count, version, min_balance, hot_mode, shards, status
  FROM account_state(:bob);
SELECT * FROM account_state(999999);
SELECT * FROM account_state(NULL);
SELECT left(code, 12) AS code, currency, normal_side, balance, min_balance, hot_mode, shards, status
  FROM accounts ORDER BY account_id;

-- set_hot_mode: argument checks (conversions are in the hot test)
SELECT set_hot_mode(:alice, 'none');
SELECT set_hot_mode(:alice, 'bogus');
SELECT set_hot_mode(:alice, 'none', 0);
SELECT set_hot_mode(999999, 'none');
SELECT set_hot_mode(NULL, 'none');
SELECT set_hot_mode(:alice, NULL);

-- flush: nothing is buffered here
SELECT flush();
SELECT flush(:alice);
SELECT flush(999999);

-- close_account: only at balance 0
SELECT transfer('acc-t1', :bank, :alice, 100);
SELECT close_account(:alice);
SELECT transfer('acc-t2', :alice, :bank, 100);
SELECT close_account(:alice);
SELECT status, balance FROM account_state(:alice);
SELECT close_account(:alice);
SELECT close_account(999999);
SELECT close_account(NULL);
-- a closed account takes no postings, in either direction: LD003
SELECT transfer('acc-t3', :bank, :alice, 100);
SELECT transfer('acc-t4', :alice, :bank, 100);
-- but re-opening it with its attributes returns its id
SELECT open_account('acc:alice', 'CNY') = :alice AS same_id;
SELECT balance(:alice);
