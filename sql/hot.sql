-- hot: buffered, split and buffered_split accounts; flush; gathering;
-- conversions between every pair of modes; errors.  The background worker
-- does not serve this database, so every flush here is explicit.
SET search_path = creditledger, public;
\set VERBOSITY sqlstate

SELECT open_account('hot:bank', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('hot:out', 'CNY') AS out \gset
SELECT open_account('hot:fee', 'CNY', hot_mode => 'buffered') AS fee \gset
SELECT open_account('hot:pay', 'CNY', hot_mode => 'split', shards => 4) AS pay \gset
SELECT open_account('hot:both', 'CNY', hot_mode => 'buffered_split', shards => 3) AS both \gset
SELECT open_account('hot:od', 'CNY', 'credit', -100, 'split', 2) AS od \gset
-- idempotent re-open compares the mode and the shards
SELECT open_account('hot:pay', 'CNY', hot_mode => 'split', shards => 4) = :pay AS same_id;
SELECT open_account('hot:pay', 'CNY', hot_mode => 'split', shards => 5);
SELECT open_account('hot:fee', 'CNY');
SELECT code, hot_mode, shards FROM accounts WHERE code LIKE 'hot:%' ORDER BY account_id;
-- split accounts have their sub-accounts from the start
SELECT account_id = :pay AS is_pay, count(*) FROM sub_accounts
 WHERE account_id IN (:pay, :both, :od) GROUP BY account_id ORDER BY count(*);

-- buffered: an increase is a buffer row, not a journal entry
SELECT transfer('hot-1', :bank, :fee, 100) > 0 AS ok;
SELECT transfer('hot-2', :bank, :fee, 50, 'second') > 0 AS ok;
SELECT balance, posted_balance, buffered_amount, buffered_count, version
  FROM account_state(:fee);
SELECT count(*) AS fee_entries FROM journal WHERE account_id = :fee;
-- the other leg is immediate
SELECT count(*) AS bank_entries FROM journal WHERE voucher IN ('hot-1', 'hot-2') AND account_id = :bank;
-- a rolled-back buffered posting leaves nothing
BEGIN;
SELECT transfer('hot-rb', :bank, :fee, 7) > 0 AS ok;
ROLLBACK;
SELECT buffered_count FROM account_state(:fee);
-- a replay of a buffered posting changes nothing
SELECT transfer('hot-1', :bank, :fee, 100) > 0 AS ok;
SELECT buffered_count FROM account_state(:fee);
-- flush applies them, chained, accepted_at kept, posted_at when applied
SELECT flush(:fee);
SELECT flush(:fee);
SELECT balance, posted_balance, buffered_amount, buffered_count, version
  FROM account_state(:fee);
SELECT voucher, version, side, amount, balance_before, balance_after,
       posted_at >= accepted_at AS posted_after_accepted
  FROM journal WHERE account_id = :fee ORDER BY version;

-- a decrease the posted balance cannot cover but the buffer can: the call
-- applies the buffer itself first
SELECT transfer('hot-3', :bank, :fee, 30) > 0 AS ok;
SELECT transfer('hot-4', :bank, :fee, 40) > 0 AS ok;
SELECT transfer('hot-5', :fee, :out, 200) > 0 AS ok;
SELECT balance, posted_balance, buffered_count FROM account_state(:fee);
-- a decrease that even the buffer cannot cover: LD001, the buffer is untouched
SELECT transfer('hot-6', :bank, :fee, 10) > 0 AS ok;
SELECT transfer('hot-7', :fee, :out, 100);
SELECT balance, posted_balance, buffered_count FROM account_state(:fee);

-- split: increases spread over the sub-accounts
SELECT count(*) FROM (SELECT transfer('hot-s' || g, :bank, :pay, 100) FROM generate_series(1, 4) g) s;
SELECT count(*) FILTER (WHERE balance > 0) AS funded_subs, sum(balance) AS total
  FROM sub_accounts WHERE account_id = :pay;
SELECT balance, posted_balance FROM account_state(:pay);
-- a decrease one sub-account covers
SELECT transfer('hot-s5', :pay, :out, 60) > 0 AS ok;
-- a decrease no single sub-account covers: funds are gathered
SELECT transfer('hot-s6', :pay, :out, 250) > 0 AS ok;
SELECT sum(balance) AS total, count(*) FILTER (WHERE balance < 0) AS negative_subs
  FROM sub_accounts WHERE account_id = :pay;
SELECT kind, memo, voucher LIKE 'creditledger:gather:%' AS internal FROM transfers
 WHERE voucher LIKE 'creditledger:gather:%';
SELECT sum(CASE side WHEN 'C' THEN amount ELSE -amount END) AS gather_net
  FROM journal WHERE voucher LIKE 'creditledger:gather:%';
-- only the whole account being short is LD001, and nothing changes
SELECT transfer('hot-s7', :pay, :out, 91);
SELECT balance FROM account_state(:pay);
SELECT transfer('hot-s8', :pay, :out, 90) > 0 AS ok;
SELECT balance FROM account_state(:pay);
-- an overdraft allowance applies to the whole split account
SELECT transfer('hot-o1', :od, :out, 100) > 0 AS ok;
SELECT transfer('hot-o2', :od, :out, 1);
SELECT balance FROM account_state(:od);

-- buffered_split: increases buffered, decreases from sub-accounts; a decrease
-- the sub-accounts cannot cover applies the buffer first
SELECT transfer('hot-b1', :bank, :both, 700) > 0 AS ok;
SELECT transfer('hot-b2', :bank, :both, 300) > 0 AS ok;
SELECT balance, posted_balance, buffered_amount, buffered_count FROM account_state(:both);
SELECT transfer('hot-b3', :both, :out, 900) > 0 AS ok;
SELECT balance, posted_balance, buffered_amount, buffered_count FROM account_state(:both);
SELECT transfer('hot-b4', :bank, :both, 5) > 0 AS ok;
SELECT flush();
SELECT balance, posted_balance, buffered_count FROM account_state(:both);

-- a reversal of a transfer whose buffered leg is not applied yet
SELECT transfer('hot-r1', :bank, :fee, 25) AS r1 \gset
SELECT creditledger.reverse('hot-r1') > 0 AS ok;
SELECT balance, posted_balance, buffered_count FROM account_state(:fee);
SELECT flush(:fee);
SELECT balance, posted_balance, buffered_count FROM account_state(:fee);

-- closing: not while money sits in sub-accounts or the buffer
SELECT transfer('hot-c1', :bank, :fee, 1) > 0 AS ok;
SELECT transfer('hot-c2', :bank, :pay, 40) > 0 AS ok;
SELECT close_account(:fee);
SELECT close_account(:pay);

-- conversions, in every direction, keep the balance and show the moves
SELECT code, balance FROM accounts WHERE account_id IN (:fee, :pay, :both) ORDER BY account_id;
SELECT set_hot_mode(:fee, 'split', 3);                 -- buffered -> split (applies the buffer)
SELECT set_hot_mode(:pay, 'buffered');                 -- split -> buffered
SELECT set_hot_mode(:both, 'none');                    -- buffered_split -> none
SELECT code, hot_mode, shards, balance, posted_balance, buffered_count
  FROM accounts WHERE account_id IN (:fee, :pay, :both) ORDER BY account_id;
SELECT set_hot_mode(:fee, 'buffered_split', 2);        -- split -> buffered_split, fewer shards
SELECT set_hot_mode(:pay, 'none');                     -- buffered -> none
SELECT set_hot_mode(:both, 'split', 2);                -- none -> split
SELECT code, hot_mode, shards, balance, posted_balance
  FROM accounts WHERE account_id IN (:fee, :pay, :both) ORDER BY account_id;
SELECT set_hot_mode(:fee, 'none');                     -- buffered_split -> none
SELECT set_hot_mode(:pay, 'buffered_split', 4);        -- none -> buffered_split
SELECT set_hot_mode(:both, 'buffered');                -- split -> buffered
SELECT set_hot_mode(:both, 'buffered');                -- same mode: nothing to do
SELECT code, hot_mode, shards, balance, posted_balance
  FROM accounts WHERE account_id IN (:fee, :pay, :both) ORDER BY account_id;
-- every move is an internal entry that nets to zero within its account
SELECT t.memo, sum(CASE j.side WHEN 'C' THEN j.amount ELSE -j.amount END) AS net
  FROM transfers t JOIN journal j USING (transfer_id)
 WHERE t.voucher LIKE 'creditledger:hot-mode:%'
 GROUP BY t.transfer_id, t.memo ORDER BY t.transfer_id;
-- main chain of a split account is empty, the money is in the sub-accounts
SELECT a.code, l.balance AS main, (SELECT sum(balance) FROM sub_accounts s
                                    WHERE s.account_id = a.account_id AND s.sub_account <= a.shards) AS subs
  FROM accounts a JOIN ledger_accounts l USING (account_id)
 WHERE a.account_id = :pay;

-- sweeps (_sweep_account: what the worker runs every sweep_interval).  A
-- drifted split account is evened out by one internal transfer; a second
-- sweep, and any sweep of an idle evened account, writes nothing: no
-- journal entry, no new row version of the account or its sub-accounts.
SELECT open_account('hot:sweep', 'CNY', hot_mode => 'split', shards => 4) AS sw \gset
SELECT transfer('hot-sw1', :bank, :sw, 1000) > 0 AS ok;
SELECT array_agg(balance ORDER BY balance) AS drifted FROM sub_accounts
 WHERE account_id = :sw AND sub_account <= 4;
SELECT _sweep_account(:sw) AS moved;
SELECT array_agg(balance ORDER BY sub_account) AS evened, sum(balance) AS total
  FROM sub_accounts WHERE account_id = :sw AND sub_account <= 4;
SELECT count(*) AS sweep_transfers FROM transfers
 WHERE voucher LIKE 'creditledger:sweep:%' AND memo = 'sub-account sweep';
CREATE TEMP TABLE sweep_before AS
SELECT sub_account, version, xmin::text AS row_xmin, ctid::text AS row_ctid FROM sub_accounts WHERE account_id = :sw
UNION ALL
SELECT 0, version, xmin::text, ctid::text FROM ledger_accounts WHERE account_id = :sw;
SELECT count(*) AS entries_before FROM journal WHERE account_id = :sw \gset
SELECT _sweep_account(:sw) AS moved, _sweep_account(:sw) AS moved_again;
SELECT count(*) - :entries_before AS new_entries FROM journal WHERE account_id = :sw;
SELECT count(*) AS rows_compared,
       count(*) FILTER (WHERE b.version <> n.version OR b.row_xmin <> n.row_xmin OR b.row_ctid <> n.row_ctid) AS rows_rewritten
  FROM sweep_before b
  JOIN (SELECT sub_account, version, xmin::text AS row_xmin, ctid::text AS row_ctid
          FROM sub_accounts WHERE account_id = :sw
        UNION ALL
        SELECT 0, version, xmin::text, ctid::text FROM ledger_accounts WHERE account_id = :sw) n
 USING (sub_account);
-- not even a row lock: the sweeping transaction gets no transaction id
BEGIN;
SELECT _sweep_account(:sw) AS moved;
SELECT txid_current_if_assigned() IS NULL AS no_xid_assigned;
COMMIT;
-- a sweep of something that is not a split account does nothing
SELECT _sweep_account(:fee) AS buffered, _sweep_account(999999) AS unknown;
SELECT _sweep_account(NULL);
DROP TABLE sweep_before;

-- errors
SELECT set_hot_mode(:fee, 'hot');
SELECT set_hot_mode(:fee, 'split', 0);
SELECT set_hot_mode(:fee, 'split', 1025);
SELECT set_hot_mode(NULL, 'split');
SELECT set_hot_mode(:fee, NULL);
SELECT set_hot_mode(:fee, 'split', NULL);
SELECT set_hot_mode(999999, 'split');
SELECT open_account('hot:closed', 'CNY') AS closed \gset
SELECT close_account(:closed);
SELECT set_hot_mode(:closed, 'split');
SELECT flush(999999);

-- every chain is intact, every balance is the sum of its journal
SELECT count(*) AS problems FROM verify_chain();
SELECT count(*) AS accounts_off FROM accounts a
 WHERE a.posted_balance <> (SELECT coalesce(sum(CASE WHEN (j.side = 'C') = (a.normal_side = 'credit')
                                                    THEN j.amount ELSE -j.amount END), 0)
                              FROM journal j WHERE j.account_id = a.account_id);
SELECT sum(balance) FILTER (WHERE normal_side = 'credit') -
       sum(balance) FILTER (WHERE normal_side = 'debit') AS books_balance
  FROM accounts WHERE code LIKE 'hot:%';
