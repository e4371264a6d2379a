-- journal: the chain's shape, hashes recomputed in SQL from the documented
-- canonical encoding, and the append-only guard.
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

-- versions run 1..n without gaps per chain; balances continue
SELECT count(*) AS chains_with_gaps FROM (
    SELECT account_id, sub_account, max(version) <> count(*) AS gap
      FROM journal GROUP BY 1, 2) s WHERE gap;
SELECT count(*) AS broken_links
  FROM journal j
  JOIN journal p ON p.account_id = j.account_id AND p.sub_account = j.sub_account
                AND p.version = j.version - 1
 WHERE p.balance_after <> j.balance_before OR p.hash <> j.prev_hash;
SELECT count(*) AS bad_first_entries
  FROM journal WHERE version = 1
   AND (balance_before <> 0 OR prev_hash <> '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea);
-- the account row carries the chain head
SELECT count(*) AS heads_differ
  FROM accounts a
  JOIN ledger_accounts l USING (account_id)
  JOIN journal j ON j.account_id = a.account_id AND j.sub_account = 0 AND j.version = a.version
 WHERE j.balance_after <> a.balance OR j.hash <> l.last_hash;
-- every leg of every transfer is one journal entry; every transfer balances
SELECT count(*) AS unbalanced FROM (
    SELECT j.transfer_id, a.currency,
           sum(CASE j.side WHEN 'D' THEN j.amount ELSE -j.amount END) AS net
      FROM journal j JOIN accounts a USING (account_id)
     GROUP BY 1, 2) s WHERE net <> 0;
SELECT count(*) AS transfers_without_entries
  FROM transfers t WHERE NOT EXISTS (SELECT 1 FROM journal j WHERE j.transfer_id = t.transfer_id);

-- every hash equals SHA-256(prev_hash || canonical encoding), computed in SQL
CREATE FUNCTION pg_temp.entry_hash(j creditledger.journal) RETURNS bytea LANGUAGE sql AS $$
    SELECT sha256(j.prev_hash || 'CLJ1'::bytea
        || int8send(j.account_id) || int4send(j.sub_account) || int8send(j.version)
        || int8send(j.transfer_id) || convert_to(j.side, 'UTF8') || int8send(j.amount)
        || int8send(j.balance_before) || int8send(j.balance_after)
        || CASE WHEN j.is_reversal THEN '\x01'::bytea ELSE '\x00'::bytea END
        || int8send((extract(epoch FROM j.accepted_at) * 1000000)::bigint)
        || int8send((extract(epoch FROM j.posted_at) * 1000000)::bigint)
        || int4send(octet_length(j.voucher)) || convert_to(j.voucher, 'UTF8'))
$$;
SELECT count(*) AS entries, count(*) FILTER (WHERE hash = pg_temp.entry_hash(j)) AS hashes_match
  FROM journal j;

-- the guard: UPDATE, DELETE, TRUNCATE refused, even for the superuser owner
UPDATE journal_entries SET amount = amount + 1 WHERE entry_id = 1;
DELETE FROM journal_entries WHERE entry_id = 1;
TRUNCATE journal_entries;
UPDATE ledger_transfers SET memo = 'edited' WHERE transfer_id = 1;
DELETE FROM ledger_transfers WHERE transfer_id = 1;
TRUNCATE ledger_transfers;
\set VERBOSITY default
DELETE FROM journal_entries WHERE entry_id = 1;
\set VERBOSITY sqlstate
SELECT count(*) > 0 AS still_there FROM journal WHERE entry_id = 1;
-- inserting is how the functions write; the views are read-only
UPDATE journal SET amount = 1;
