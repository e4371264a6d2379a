-- reversal: creditledger.reverse() posts the mirror image once; replays; LD004/LD005;
-- reversals obey floors; transfers.reversed_by is derived.
-- Always schema-qualified: on a search_path that does not name pg_catalog,
-- pg_catalog.reverse(text) is found first.
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

SELECT open_account('rv:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('rv:a', 'CNY') AS a \gset
SELECT open_account('rv:b', 'CNY') AS b \gset
SELECT open_account('rv:c', 'CNY') AS c \gset

SELECT transfer('rv-fund', :bank, :a, 1000) > 0 AS ok;
SELECT transfer('rv-1', :a, :b, 300, 'order 1') AS t1 \gset
SELECT creditledger.reverse('rv-1') AS r1 \gset
SELECT balance(:a) AS a, balance(:b) AS b;
SELECT voucher, kind, reverses = :t1 AS reverses_t1, memo FROM transfers WHERE transfer_id = :r1;
SELECT reversed_by = :r1 AS reversed_by_r1 FROM transfers WHERE transfer_id = :t1;
SELECT account_id = :a AS is_a, side, amount, balance_before, balance_after, is_reversal
  FROM journal WHERE transfer_id = :r1 ORDER BY entry_id;

-- replay with the same (default) reversal voucher: same id, nothing changes
SELECT creditledger.reverse('rv-1') = :r1 AS same_id;
SELECT creditledger.reverse('rv-1', 'rv-1:reversal') = :r1 AS same_id;
SELECT balance(:a) AS a, balance(:b) AS b;
-- same reversal voucher with a different reason: LD004
SELECT creditledger.reverse('rv-1', NULL, 'typo');
-- a second reversal under another voucher: LD005
SELECT creditledger.reverse('rv-1', 'rv-1:again');
-- reversing a reversal: LD005
SELECT creditledger.reverse('rv-1:reversal');
-- unknown transfer: LD005
SELECT creditledger.reverse('rv-nothing');
-- the reversal voucher is taken by an ordinary transfer: LD004
SELECT transfer('rv-taken', :a, :b, 1) > 0 AS ok;
SELECT transfer('rv-2', :a, :b, 10) > 0 AS ok;
SELECT creditledger.reverse('rv-2', 'rv-taken');
-- arguments: 22004 / 22023
SELECT creditledger.reverse(NULL);
SELECT creditledger.reverse('');
SELECT creditledger.reverse('rv-2', '');
SELECT creditledger.reverse('rv-2', repeat('r', 129));
-- a derived voucher may exceed 128 characters
SELECT transfer(repeat('L', 128), :a, :b, 1) > 0 AS ok;
SELECT length(voucher) FROM transfers WHERE transfer_id = creditledger.reverse(repeat('L', 128));

-- a named reversal with a reason
SELECT creditledger.reverse('rv-2', 'rv-2:undo', 'customer complaint') AS r2 \gset
SELECT voucher, memo FROM transfers WHERE transfer_id = :r2;

-- a reversal obeys min_balance: b spent the money, so it cannot be taken back
SELECT transfer('rv-3', :a, :b, 100) > 0 AS ok;
SELECT transfer('rv-4', :b, :c, balance(:b)) > 0 AS ok;
SELECT creditledger.reverse('rv-3');
SELECT count(*) FROM transfers WHERE voucher = 'rv-3:reversal';

-- a multi-leg entry reverses leg by leg
SELECT post_entry('rv-e', jsonb_build_array(
    jsonb_build_object('account', :a, 'debit', 60),
    jsonb_build_object('account', :b, 'credit', 50),
    jsonb_build_object('account', :c, 'credit', 10))) AS e \gset
SELECT creditledger.reverse('rv-e') AS re \gset
SELECT o.side AS original, r.side AS reversal, o.amount = r.amount AS same_amount
  FROM journal o JOIN journal r ON r.transfer_id = :re AND r.account_id = o.account_id
 WHERE o.transfer_id = :e ORDER BY o.entry_id;

-- a rolled back reversal leaves the original reversible
BEGIN;
SELECT transfer('rv-5', :a, :b, 5) > 0 AS ok;
COMMIT;
BEGIN;
SELECT creditledger.reverse('rv-5') > 0 AS ok;
ROLLBACK;
SELECT reversed_by IS NULL AS not_reversed FROM transfers WHERE voucher = 'rv-5';
SELECT creditledger.reverse('rv-5', 'rv-5:second-try') > 0 AS ok;

\set VERBOSITY default
SELECT creditledger.reverse('rv-1', 'rv-1:again');
SELECT creditledger.reverse('rv-1:reversal');
SELECT creditledger.reverse('rv-nothing');
\set VERBOSITY sqlstate

SELECT code, balance FROM accounts WHERE code LIKE 'rv:%' ORDER BY account_id;
SELECT count(*) AS problems FROM verify_chain();
