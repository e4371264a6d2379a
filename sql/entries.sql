-- entries: post_entry() with multi-leg, multi-currency entries, leg
-- validation, balancing, replays and limits.
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

SELECT open_account('en:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('en:a', 'CNY') AS a \gset
SELECT open_account('en:b', 'CNY') AS b \gset
SELECT open_account('en:fee', 'CNY') AS fee \gset
SELECT open_account('en:usdbank', 'USD', 'debit', NULL) AS usdbank \gset
SELECT open_account('en:usd', 'USD') AS usd \gset

SELECT post_entry('en-1', jsonb_build_array(
    jsonb_build_object('account', :bank, 'debit', 1000),
    jsonb_build_object('account', :a, 'credit', 1000))) AS e1 \gset
-- a payment with a fee: one debit, two credits
SELECT post_entry('en-2', jsonb_build_array(
    jsonb_build_object('account', :a, 'debit', 100),
    jsonb_build_object('account', :b, 'credit', 97),
    jsonb_build_object('account', :fee, 'credit', 3)), 'payment', '{"order": 7}') AS e2 \gset
SELECT account_id = :a AS is_a, side, amount, balance_before, balance_after, version
  FROM journal WHERE transfer_id = :e2 ORDER BY entry_id;
SELECT kind, memo, metadata FROM transfers WHERE transfer_id = :e2;

-- replays: key order inside legs does not matter, leg order does
SELECT post_entry('en-2', format('[{"debit": 100, "account": %s}, {"credit": 97, "account": %s}, {"account": %s, "credit": 3}]',
    :a, :b, :fee)::jsonb, 'payment', '{"order": 7}') = :e2 AS same_id;
SELECT post_entry('en-2', jsonb_build_array(
    jsonb_build_object('account', :a, 'debit', 100),
    jsonb_build_object('account', :fee, 'credit', 3),
    jsonb_build_object('account', :b, 'credit', 97)), 'payment', '{"order": 7}');
SELECT post_entry('en-2', jsonb_build_array(
    jsonb_build_object('account', :a, 'debit', 100),
    jsonb_build_object('account', :b, 'credit', 97),
    jsonb_build_object('account', :fee, 'credit', 3)), 'payment');
-- a transfer's voucher is not an entry's
SELECT transfer('en-tr', :a, :b, 1) > 0 AS ok;
SELECT post_entry('en-tr', jsonb_build_array(
    jsonb_build_object('account', :a, 'debit', 1),
    jsonb_build_object('account', :b, 'credit', 1)));

-- two currencies, each balanced
SELECT post_entry('en-fx', jsonb_build_array(
    jsonb_build_object('account', :bank, 'debit', 700),
    jsonb_build_object('account', :a, 'credit', 700),
    jsonb_build_object('account', :usdbank, 'debit', 100),
    jsonb_build_object('account', :usd, 'credit', 100))) > 0 AS ok;
-- unbalanced: LD010 (also when each side is in a different currency)
SELECT post_entry('en-x', jsonb_build_array(
    jsonb_build_object('account', :a, 'debit', 100),
    jsonb_build_object('account', :b, 'credit', 99)));
SELECT post_entry('en-x', jsonb_build_array(
    jsonb_build_object('account', :a, 'debit', 100),
    jsonb_build_object('account', :usd, 'credit', 100)));
-- the same account twice is allowed; the floor applies to the final balance
SELECT post_entry('en-3', jsonb_build_array(
    jsonb_build_object('account', :a, 'debit', 50),
    jsonb_build_object('account', :a, 'credit', 20),
    jsonb_build_object('account', :b, 'credit', 30))) > 0 AS ok;
SELECT version, side, amount, balance_before, balance_after
  FROM journal WHERE voucher = 'en-3' AND account_id = :a ORDER BY version;
-- insufficient funds on one leg refuses the whole entry: LD001
SELECT post_entry('en-x', jsonb_build_array(
    jsonb_build_object('account', :b, 'debit', 100000),
    jsonb_build_object('account', :a, 'credit', 100000)));
-- unknown account: LD003
SELECT post_entry('en-x', jsonb_build_array(
    jsonb_build_object('account', :a, 'debit', 1),
    jsonb_build_object('account', 999999, 'credit', 1)));

-- malformed legs: 22023
SELECT post_entry('en-x', '{}');
SELECT post_entry('en-x', '5');
SELECT post_entry('en-x', '[]');
SELECT post_entry('en-x', jsonb_build_array(jsonb_build_object('account', :a, 'debit', 1)));
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, 7]', :a)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, [1]]', :a)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s}]', :a, :b)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"credit": 1}]', :a)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": 1, "debit": 1}]', :a, :b)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": 1, "memo": "x"}]', :a, :b)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": 0}]', :a, :b)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": -1}]', :a, :b)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": 1.5}]', :a, :b)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": "1"}]', :a, :b)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": "%s", "credit": 1}]', :a, :b)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": 99999999999999999999}]', :a, :b)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": {"v": 1}}]', :a, :b)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": 0, "credit": 1}]', :a)::jsonb);
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": null}]', :a, :b)::jsonb);
SELECT post_entry(NULL, '[]');
SELECT post_entry('en-x', NULL);
SELECT post_entry('', '[]');
-- the messages
\set VERBOSITY default
SELECT post_entry('en-x', format('[{"account": %s, "debit": 1}, {"account": %s, "credit": 1, "memo": "x"}]', :a, :b)::jsonb);
SELECT post_entry('en-x', jsonb_build_array(
    jsonb_build_object('account', :a, 'debit', 100),
    jsonb_build_object('account', :b, 'credit', 99)));
\set VERBOSITY sqlstate

-- 1000 legs are accepted, 1001 are not
SELECT post_entry('en-1000', (
    SELECT jsonb_agg(CASE WHEN g = 1 THEN jsonb_build_object('account', :bank, 'debit', 999)
                          ELSE jsonb_build_object('account', :fee, 'credit', 1) END ORDER BY g)
      FROM generate_series(1, 1000) g)) > 0 AS ok;
SELECT count(*), max(version) FROM journal WHERE voucher = 'en-1000' AND account_id = :fee;
SELECT post_entry('en-1001', (
    SELECT jsonb_agg(CASE WHEN g = 1 THEN jsonb_build_object('account', :bank, 'debit', 1000)
                          ELSE jsonb_build_object('account', :fee, 'credit', 1) END ORDER BY g)
      FROM generate_series(1, 1001) g));

-- nothing was left by the failed calls
SELECT count(*) FROM transfers WHERE voucher IN ('en-x', 'en-1001');
SELECT code, balance, version FROM accounts WHERE code LIKE 'en:%' ORDER BY account_id;
SELECT count(*) AS problems FROM verify_chain();
