-- creditledger demo: run by `make demo` on a throwaway cluster.
-- Shows accounts, transfers, a multi-leg entry, a replay, a reversal, a
-- refused overdraft with its SQLSTATE, the chained journal and verify_chain,
-- hot accounts, credit lines, a loan (disbursement in transit, confirmation,
-- repayment) checked by BCP, BCP reconciliation with a digest, monitoring.
\pset footer off
\set VERBOSITY verbose
-- deliberate errors below switch ON_ERROR_STOP off around themselves
\set SHOW_CONTEXT never
\echo
\echo '== install'
CREATE EXTENSION creditledger;
SET search_path = creditledger, public;

\echo
\echo '== accounts: a bank clearing account (debit-normal, no floor), two wallets, a fee account'
SELECT open_account('bank:clearing', 'CNY', 'debit', NULL) AS bank \gset
SELECT open_account('wallet:alice', 'CNY') AS alice \gset
SELECT open_account('wallet:bob', 'CNY', min_balance => -5000) AS bob \gset
SELECT open_account('income:fees', 'CNY') AS fees \gset
SELECT account_id, code, normal_side, min_balance, balance FROM accounts ORDER BY account_id;

\echo
\echo '== transfers: alice tops up 100.00 CNY, pays bob 30.00'
SELECT transfer('topup-0001', :bank, :alice, 10000, 'card top-up') AS topup;
SELECT transfer('pay-0001', :alice, :bob, 3000, 'dinner') AS pay;

\echo
\echo '== a replay of the same voucher returns the same id and posts nothing'
SELECT transfer('pay-0001', :alice, :bob, 3000, 'dinner') AS pay_again;
SELECT balance(:alice) AS alice, balance(:bob) AS bob;

\echo
\echo '== the same voucher with another payload is refused (LD004)'
\set ON_ERROR_STOP 0
SELECT transfer('pay-0001', :alice, :bob, 3100, 'dinner');
\set ON_ERROR_STOP 1

\echo
\echo '== a multi-leg entry: bob pays a merchant payout of 20.00 with a 0.60 fee'
SELECT post_entry('payout-0001', jsonb_build_array(
           jsonb_build_object('account', :bob, 'debit', 2000),
           jsonb_build_object('account', :bank, 'credit', 1940),
           jsonb_build_object('account', :fees, 'credit', 60)),
       'merchant payout', '{"merchant": "m-42"}') AS payout;

\echo
\echo '== a reversal: the dinner payment is cancelled (a new, mirrored entry; nothing is updated)'
SELECT creditledger.reverse('pay-0001', reason => 'duplicate charge') AS reversal;
SELECT creditledger.reverse('pay-0001', reason => 'duplicate charge') AS reversal_replayed;
SELECT transfer_id, voucher, kind, reverses, reversed_by, memo FROM transfers ORDER BY transfer_id;

\echo
\echo '== an overdraft is refused with SQLSTATE LD001 and changes nothing'
\set ON_ERROR_STOP 0
SELECT transfer('pay-0002', :alice, :bob, 1000000);
\set ON_ERROR_STOP 1
SELECT balance(:alice) AS alice;

\echo
\echo '== the journal: one chained entry per leg, version and balances per account'
SELECT entry_id, voucher, account_id AS acct, version AS v, side, amount,
       balance_before AS before, balance_after AS after, is_reversal AS rev,
       encode(substr(prev_hash, 1, 4), 'hex') AS prev, encode(substr(hash, 1, 4), 'hex') AS hash
  FROM journal ORDER BY account_id, version;

\echo
\echo '== verify_chain(): no rows means every chain is intact'
SELECT * FROM verify_chain();

\echo
\echo '== tampering behind the guard (as superuser, triggers disabled) is detected'
\set ON_ERROR_STOP 0
UPDATE journal_entries SET amount = 1 WHERE entry_id = 1;
\set ON_ERROR_STOP 1
BEGIN;
ALTER TABLE journal_entries DISABLE TRIGGER ALL;
UPDATE journal_entries SET amount = 1 WHERE account_id = :alice AND version = 1;
ALTER TABLE journal_entries ENABLE TRIGGER ALL;
SELECT * FROM verify_chain();
\echo '-- (rolled back: the rest of the demo works on the intact journal)'
ROLLBACK;

\echo
\echo '== hot accounts: a buffered fee account and a split payout account'
SELECT open_account('merchant:fees', 'CNY', hot_mode => 'buffered') AS mfees \gset
SELECT open_account('payouts', 'CNY', hot_mode => 'split', shards => 4) AS payouts \gset
SELECT count(transfer('fee-' || g, :bank, :mfees, 25)) AS fees_posted FROM generate_series(1, 20) g;
SELECT code, balance, posted_balance, buffered_amount, buffered_count FROM accounts WHERE account_id = :mfees;
\echo '-- flush() applies the buffer now (the background worker does it within milliseconds)'
SELECT flush(:mfees) AS applied;
SELECT code, balance, posted_balance, buffered_amount, buffered_count FROM accounts WHERE account_id = :mfees;
SELECT count(transfer('fund-' || g, :bank, :payouts, 1000)) AS funded FROM generate_series(1, 4) g;
\echo '-- a payout no single sub-account covers gathers funds from the others'
SELECT transfer('payout-big', :payouts, :alice, 2500) AS payout;
SELECT sub_account, balance, version FROM sub_accounts WHERE account_id = :payouts ORDER BY sub_account;

\echo
\echo '== credit lines: a product line and a group line over two customers (a DAG)'
SELECT create_credit_line('product:consumer', 'CNY', 1000000) AS product \gset
SELECT create_credit_line('group:acme', 'CNY', 50000) AS grp \gset
SELECT create_credit_line('cust:alice', 'CNY', 30000, ARRAY[:grp, :product]) AS c_alice \gset
SELECT create_credit_line('cust:bob', 'CNY', 30000, ARRAY[:grp], revolving => false) AS c_bob \gset
\echo '-- freeze a hold, draw part of it and release the rest, repay part of the loan'
SELECT credit_freeze(:c_alice, 20000, 'order-1', now() + interval '15 minutes') AS hold;
SELECT credit_use('order-1', 'loan-1', 12000, release_rest => true) AS drawdown;
SELECT credit_return('loan-1', 'repay-1', 2000) AS repayment;
SELECT credit_use_direct(:c_bob, 25000, 'loan-2') AS direct_drawdown;
SELECT code, limit_amount, frozen, used, returned, available, revolving, status FROM credit_lines ORDER BY line_id;
\echo '-- the group has 50000 - 10000 (alice) - 25000 (bob) = 15000 left: a freeze of 20000 is refused'
\set ON_ERROR_STOP 0
SELECT credit_freeze(:c_alice, 20000, 'order-2');
\set ON_ERROR_STOP 1
SELECT line_id, version, op, ref, frozen_delta, used_delta, returned_delta, frozen_after, used_after
  FROM credit_journal WHERE line_id = :grp ORDER BY version;
SELECT * FROM credit_alerts ORDER BY line_id, kind;
\echo '-- a temporary limit (临额) of 10000 on the group for a month: the freeze fits now'
SELECT set_temporary_limit(:grp, 'tl-acme-1', 10000, now() + interval '30 days') AS temporary_limit;
SELECT credit_freeze(:c_alice, 20000, 'order-2') AS hold;
SELECT limit_amount, temporary_limit, frozen, available FROM credit_line_state(:grp);
\echo '-- ended early: the group is over its limit (allowed, as after a limit decrease) and refuses freezes'
SELECT end_temporary_limit('tl-acme-1');
SELECT limit_amount, temporary_limit, frozen, available FROM credit_line_state(:grp);
SELECT credit_unfreeze('order-2', 'order-2-cancel') AS released;
\echo '-- grant control (控制授信): sub-limits carved from a guarantee line, never more than it'
SELECT create_credit_line('guarantee:acme', 'CNY', 100000) AS guar \gset
SELECT create_credit_line('sub:acme-sh', 'CNY', 60000) AS sub_sh \gset
SELECT create_credit_line('sub:acme-bj', 'CNY', 50000) AS sub_bj \gset
SELECT link_credit_line(:sub_sh, :guar, 'grant');
\set ON_ERROR_STOP 0
SELECT link_credit_line(:sub_bj, :guar, 'grant');
\set ON_ERROR_STOP 1
SELECT set_credit_limit(:sub_bj, 40000);
SELECT link_credit_line(:sub_bj, :guar, 'grant');
SELECT limit_amount, granted FROM credit_line_state(:guar);

\echo
\echo '== lending: a loan under a group line, credit and money in one transaction'
\echo '   (a customer line under the group line, its receivable account holds the principal)'
SELECT create_credit_line('loan:carol', 'CNY', 20000, ARRAY[:grp]) AS c_carol \gset
SELECT open_account('loans:carol', 'CNY', 'debit', 0) AS recv_carol \gset
SELECT open_account('wallet:carol', 'CNY') AS carol \gset
SELECT set_credit_line_account(:c_carol, :recv_carol);
\echo '-- 1. the application freezes 150.00 of carol''s line (and of the group line)'
SELECT credit_freeze(:c_carol, 15000, 'app-carol-1') AS hold;
SELECT code, frozen, used, available FROM credit_lines WHERE line_id IN (:grp, :c_carol) ORDER BY line_id;
\echo '-- 2. the disbursement goes out pending (放款在途): money in transit, credit still frozen'
SELECT credit_disburse('app-carol-1', 'loan-carol-1', :carol, 12000, release_rest => true,
                       pending => true) AS drawdown;
SELECT ref, status, posted, in_transit, outstanding FROM credit_disbursements;
SELECT code, frozen, used, available FROM credit_lines WHERE line_id IN (:grp, :c_carol) ORDER BY line_id;
SELECT voucher, amount, status FROM pending_transfers WHERE voucher = 'loan-carol-1';
\echo '-- 3. the bank confirms: the pending transfer is posted and the credit becomes used'
SELECT transfer_post('bank-ack-carol-1', 'loan-carol-1') AS transfer;
SELECT ref, status, posted, in_transit, outstanding FROM credit_disbursements;
SELECT code, frozen, used, available FROM credit_lines WHERE line_id IN (:grp, :c_carol) ORDER BY line_id;
SELECT code, balance FROM accounts WHERE account_id IN (:recv_carol, :carol) ORDER BY account_id;
\echo '-- 4. carol repays 50.00 of it (money to the receivable, credit returned)'
SELECT transfer('salary-carol', :bank, :carol, 20000, 'salary') AS salary;
SELECT credit_repay('loan-carol-1', 'repay-carol-1', :carol, 5000) AS operation;
SELECT code, frozen, used, returned, available FROM credit_lines WHERE line_id IN (:grp, :c_carol) ORDER BY line_id;
SELECT code, balance FROM accounts WHERE account_id IN (:recv_carol, :carol) ORDER BY account_id;
\echo '-- 5. BCP: credit in use = principal lent, in-transit disbursements still frozen'
SET client_min_messages = warning;
SELECT rule, status, mismatches FROM bcp_run(ARRAY['credit_used_equals_receivable',
    'credit_frozen_covers_disbursements_in_transit', 'credit_totals'], record => false) ORDER BY rule;
\echo '-- 6. a buggy app calls transfer() instead of credit_repay(): refused, a receivable'
\echo '      moves only with its line; a balance changed behind the guard is caught, rolled back'
\set ON_ERROR_STOP 0
SELECT transfer('buggy-repay', :carol, :recv_carol, 1000) AS transfer;
\set ON_ERROR_STOP 1
BEGIN;
UPDATE ledger_accounts SET balance = balance - 1000 WHERE account_id = :recv_carol;
SELECT rule, status, mismatches, sample FROM bcp_run(ARRAY['credit_used_equals_receivable'], record => false);
ROLLBACK;
SELECT rule, status, mismatches FROM bcp_run(ARRAY['credit_used_equals_receivable'], record => false);
RESET client_min_messages;

\echo
\echo '== BCP reconciliation: every built-in rule, then a digest an auditor keeps'
SET client_min_messages = warning;
SELECT rule, severity, status, mismatches, round(duration_ms::numeric, 1) AS ms FROM bcp_run() ORDER BY rule;
RESET client_min_messages;
SELECT digest_id, encode(digest, 'hex') AS digest, chains, entries FROM ledger_digest() \gset
SELECT :digest_id AS digest_id, :'digest' AS digest, :chains AS chains, :entries AS entries;
SELECT verify_digest(:digest_id, decode(:'digest', 'hex')) AS digest_verifies;

\echo
\echo '== balances'
SELECT code, hot_mode, balance, version FROM accounts ORDER BY account_id;

\echo
\echo '== monitoring: per-operation statistics and the Prometheus text'
SELECT operation, calls, errors, round(p50_ms::numeric, 3) AS p50_ms,
       round(p99_ms::numeric, 3) AS p99_ms, last_error_sqlstate
  FROM stat_operations ORDER BY operation;
SELECT * FROM stat_errors ORDER BY operation, sqlstate;
SELECT line FROM regexp_split_to_table(metrics(), E'\n') AS line
 WHERE line LIKE 'creditledger_operation_calls_total%' OR line LIKE 'creditledger_operation_errors_total%'
 LIMIT 12;
