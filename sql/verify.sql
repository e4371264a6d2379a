-- verify: verify_chain() on a clean journal and on journals tampered with
-- behind the guard (as superuser with the triggers disabled).
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

SELECT open_account('vf:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('vf:a', 'CNY') AS a \gset
SELECT open_account('vf:b', 'CNY') AS b \gset
SELECT open_account('vf:c', 'CNY') AS c \gset
SELECT open_account('vf:d', 'CNY') AS d \gset
SELECT count(*) FROM (
    SELECT transfer('vf-' || g, :bank, CASE g % 4 WHEN 0 THEN :a WHEN 1 THEN :b
                                               WHEN 2 THEN :c ELSE :d END, g)
      FROM generate_series(1, 40) g) s;

-- clean
SELECT * FROM verify_chain();
SELECT * FROM verify_chain(:a);
SELECT * FROM verify_chain(999999);
-- verify_chain(NULL) is every chain, not an error
SELECT count(*) FROM verify_chain(NULL);

ALTER TABLE journal_entries DISABLE TRIGGER ALL;
ALTER TABLE ledger_transfers DISABLE TRIGGER ALL;

-- 1. an amount edited in the middle of a chain (balance_after left alone)
UPDATE journal_entries SET amount = amount + 1 WHERE account_id = :a AND version = 3;
SELECT account_id = :a AS is_a, sub_account, version, problem FROM verify_chain(:a);

-- 2. amount and balances edited consistently: the hash still tells
UPDATE journal_entries SET amount = amount - 1 WHERE account_id = :a AND version = 3;
SELECT count(*) AS problems FROM verify_chain(:a);
UPDATE journal_entries SET amount = amount + 100, balance_after = balance_after + 100
 WHERE account_id = :b AND version = 10;
SELECT account_id = :b AS is_b, version, problem FROM verify_chain(:b);

-- 3. the newest entry of a chain deleted: the account row still says so
DELETE FROM journal_entries WHERE account_id = :c AND version = 10;
SELECT account_id = :c AS is_c, version, problem FROM verify_chain(:c);

-- 4. an entry in the middle deleted: a gap
DELETE FROM journal_entries WHERE account_id = :d AND version = 4;
SELECT account_id = :d AS is_d, version, problem FROM verify_chain(:d);

-- 5. history rewritten behind the guard with every later balance and hash
--    recomputed: the chain itself is consistent again, but the account row
--    keeps the true head, so the rewrite shows at the head.  (A rewrite that
--    also forges the account row is what ledger digests are for.)
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
UPDATE journal_entries SET amount = amount + 1000, balance_after = balance_after + 1000
 WHERE account_id = :bank AND version = 38;
UPDATE journal_entries SET balance_before = balance_before + 1000, balance_after = balance_after + 1000
 WHERE account_id = :bank AND version > 38;
UPDATE journal_entries j SET hash = pg_temp.entry_hash(j) WHERE account_id = :bank AND version = 38;
UPDATE journal_entries j SET prev_hash = p.hash FROM journal_entries p
 WHERE j.account_id = :bank AND j.version = 39 AND p.account_id = :bank AND p.version = 38;
UPDATE journal_entries j SET hash = pg_temp.entry_hash(j) WHERE account_id = :bank AND version = 39;
UPDATE journal_entries j SET prev_hash = p.hash FROM journal_entries p
 WHERE j.account_id = :bank AND j.version = 40 AND p.account_id = :bank AND p.version = 39;
UPDATE journal_entries j SET hash = pg_temp.entry_hash(j) WHERE account_id = :bank AND version = 40;
SELECT account_id = :bank AS is_bank, version, problem FROM verify_chain(:bank);

-- 6. the account row's balance edited (on a clean account)
SELECT open_account('vf:e', 'CNY') AS e \gset
SELECT transfer('vf-e', :a, :e, 7) > 0 AS ok;
UPDATE ledger_accounts SET balance = balance + 1 WHERE account_id = :e;
SELECT account_id = :e AS is_e, version, problem FROM verify_chain(:e);

-- 7. an entry for an account that does not exist
INSERT INTO journal_entries (transfer_id, voucher, account_id, version, side, amount,
        balance_before, balance_after, is_reversal, prev_hash, hash, accepted_at, posted_at)
VALUES (1, 'forged', 999999, 1, 'C', 5, 0, 5, false, '\x00'::bytea, '\x00'::bytea, now(), now());

-- all of it at once, in key order
SELECT CASE account_id WHEN :a THEN 'a' WHEN :b THEN 'b' WHEN :c THEN 'c'
                       WHEN :d THEN 'd' WHEN :e THEN 'e'
                       WHEN :bank THEN 'bank' ELSE account_id::text END AS account,
       sub_account, version, problem, line_id
  FROM verify_chain();

ALTER TABLE journal_entries ENABLE TRIGGER ALL;
ALTER TABLE ledger_transfers ENABLE TRIGGER ALL;
