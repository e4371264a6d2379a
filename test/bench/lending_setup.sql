-- Lending benchmark setup (test/bench/lending.sh), after setup.sql
-- (1000 funded accounts, the borrowers and the transfer baseline).
--
-- psql variables: nlines (lines under the group), line_limit, group_limit.
--
-- Creates, each in one statement (contiguous ids):
--   * 'bl-group': the group line, hot (set_credit_line_hot's default slices);
--   * 'bl-line-1'..N under it;
--   * 'bl-recv-1'..N: their receivable accounts (debit-normal, floor 0);
--   * 'bl-credit-1'..N under the same group, without receivable accounts:
--     the credit half alone (credit_use_direct), for comparison.

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

SELECT creditledger.create_credit_line('bl-group', 'CNY', :group_limit) AS grp \gset
SELECT creditledger.set_credit_line_hot(:grp);
SELECT count(creditledger.create_credit_line('bl-line-' || i, 'CNY', :line_limit, ARRAY[:grp]::bigint[]))
  FROM generate_series(1, :nlines) AS i;
SELECT count(creditledger.open_account('bl-recv-' || i, 'CNY', 'debit', 0))
  FROM generate_series(1, :nlines) AS i;
SELECT count(creditledger.set_credit_line_account(creditledger.credit_line_id('bl-line-' || i),
                                                  creditledger.account_id('bl-recv-' || i)))
  FROM generate_series(1, :nlines) AS i;
SELECT count(creditledger.create_credit_line('bl-credit-' || i, 'CNY', :line_limit, ARRAY[:grp]::bigint[]))
  FROM generate_series(1, :nlines) AS i;
