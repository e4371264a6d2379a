-- transfers: transfer(), replays, idempotency conflicts, floors, currencies,
-- overflow, and every error path with its SQLSTATE.
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

SELECT open_account('tr:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('tr:a', 'CNY') AS a \gset
SELECT open_account('tr:b', 'CNY') AS b \gset
SELECT open_account('tr:od', 'CNY', 'credit', -300) AS od \gset
SELECT open_account('tr:usd', 'USD') AS usd \gset
SELECT open_account('tr:usdbank', 'USD', 'debit', NULL) AS usdbank \gset

SELECT transfer('tr-1', :bank, :a, 1000) AS t1 \gset
SELECT balance(:bank) AS bank, balance(:a) AS a;

-- a replay returns the same id and changes nothing
SELECT transfer('tr-1', :bank, :a, 1000) = :t1 AS same_id;
SELECT balance(:bank) AS bank, balance(:a) AS a;
SELECT count(*) FROM journal WHERE voucher = 'tr-1';

-- memo and metadata are part of the payload
SELECT transfer('tr-2', :a, :b, 100, 'rent', '{"month": 11, "flat": "4B"}') AS t2 \gset
SELECT transfer('tr-2', :a, :b, 100, 'rent', '{"flat": "4B", "month": 11}') = :t2 AS same_id;
SELECT transfer('tr-2', :a, :b, 100, 'rent');
SELECT transfer('tr-2', :a, :b, 100, 'Rent', '{"month": 11, "flat": "4B"}');
SELECT transfer('tr-2', :a, :b, 100, NULL, '{"month": 11, "flat": "4B"}');
-- the same voucher with another amount or account: LD004
SELECT transfer('tr-2', :a, :b, 101, 'rent', '{"month": 11, "flat": "4B"}');
SELECT transfer('tr-2', :b, :a, 100, 'rent', '{"month": 11, "flat": "4B"}');
-- the reference is checked before the accounts: LD004 even for a bad account
SELECT transfer('tr-2', :a, 999999, 100);
SELECT memo, metadata, kind FROM transfers WHERE transfer_id = :t2;
SELECT balance(:a) AS a, balance(:b) AS b;

-- NULL arguments: 22004 (memo and metadata may be NULL)
SELECT transfer(NULL, :a, :b, 1);
SELECT transfer('tr-n', NULL, :b, 1);
SELECT transfer('tr-n', :a, NULL, 1);
SELECT transfer('tr-n', :a, :b, NULL);
-- malformed: 22023
SELECT transfer('', :a, :b, 1);
SELECT transfer(repeat('v', 129), :a, :b, 1);
SELECT transfer('tr-n', :a, :b, 0);
SELECT transfer('tr-n', :a, :b, -5);
SELECT transfer('tr-n', :a, :a, 5);
-- unknown account: LD003
SELECT transfer('tr-n', :a, 999999, 1);
SELECT transfer('tr-n', 999999, :a, 1);
-- currencies differ: LD009
SELECT transfer('tr-n', :a, :usd, 1);
-- insufficient funds: LD001, at the floor exactly is fine
SELECT transfer('tr-n', :a, :b, 901);
SELECT transfer('tr-3', :a, :b, 900) > 0 AS ok;
SELECT balance(:a) AS a, balance(:b) AS b;
-- an overdraft allowance: min_balance -300
SELECT transfer('tr-4', :od, :b, 300) > 0 AS ok;
SELECT transfer('tr-n', :od, :b, 1);
SELECT balance(:od);
-- none of the failed calls left a transfer or a journal entry
SELECT count(*) FROM transfers WHERE voucher = 'tr-n';
SELECT count(*) FROM journal WHERE voucher = 'tr-n';

-- a debit-normal account: debits increase, credits decrease
SELECT transfer('tr-5', :usdbank, :usd, 50) > 0 AS ok;
SELECT balance(:usdbank) AS usdbank, balance(:usd) AS usd;

-- overflow is an error, never a wrap: 22003
SELECT open_account('tr:src', 'CNY', 'credit', NULL) AS src \gset
SELECT open_account('tr:big', 'CNY') AS big \gset
SELECT transfer('tr-big1', :src, :big, 9223372036854775000) > 0 AS ok;
SELECT transfer('tr-big2', :src, :big, 1000);
SELECT transfer('tr-big3', :src, :big, 807) > 0 AS ok;
SELECT balance(:big) AS big, balance(:src) AS src;
SELECT transfer('tr-big4', :src, :b, 9223372036854775807);
SELECT balance(:big) AS big, balance(:src) AS src, balance(:b) AS b;

-- the error messages (default verbosity)
\set VERBOSITY default
SELECT transfer('tr-n', :a, :b, 1000000);
SELECT transfer('tr-1', :bank, :a, 999);
SELECT transfer('tr-n', :a, :usd, 1);
SELECT transfer('tr-n', :a, :a, 5);
SELECT transfer(NULL, :a, :b, 1);
\set VERBOSITY sqlstate

-- a failed call inside a caller's transaction leaves nothing behind, and so
-- does a rolled-back successful one
BEGIN;
SELECT transfer('tr-rb', :b, :a, 10) > 0 AS ok;
ROLLBACK;
SELECT count(*) FROM transfers WHERE voucher = 'tr-rb';
SELECT balance(:a) AS a, balance(:b) AS b;
-- the voucher is free again after the rollback
SELECT transfer('tr-rb', :b, :a, 10) > 0 AS ok;

-- lock_accounts: ordered locks for composed transactions
BEGIN;
SELECT lock_accounts(ARRAY[:b, :a, :b]::bigint[]);
SELECT transfer('tr-6', :a, :b, 5) > 0 AS ok;
COMMIT;
SELECT lock_accounts('{}');
SELECT lock_accounts(NULL);
SELECT lock_accounts(ARRAY[:a, NULL]::bigint[]);
SELECT lock_accounts(ARRAY[:a, 999999]::bigint[]);
SELECT lock_accounts(ARRAY[[1, 2], [3, 4]]::bigint[]);

SELECT code, balance, version FROM accounts WHERE code LIKE 'tr:%' ORDER BY account_id;
