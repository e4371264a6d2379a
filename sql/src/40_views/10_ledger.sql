-- Accounts, transfers and the chained journal: views and SQL-language functions (created after the tables and functions they read).
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE VIEW creditledger.journal AS
SELECT j.entry_id, j.transfer_id, j.voucher, j.account_id, j.sub_account, j.version,
       j.side::text AS side, j.amount, j.balance_before, j.balance_after, j.is_reversal,
       j.prev_hash, j.hash, j.accepted_at, j.posted_at
  FROM creditledger.journal_entries j;
COMMENT ON VIEW creditledger.journal IS
    'The chained journal, one row per leg; columns come straight from creditledger.journal_entries.';

CREATE VIEW creditledger.transfers AS
SELECT t.transfer_id, t.voucher, t.kind, t.reverses,
       (SELECT r.transfer_id FROM creditledger.ledger_transfers r
         WHERE r.reverses = t.transfer_id) AS reversed_by,
       t.memo, t.metadata, t.created_at
  FROM creditledger.ledger_transfers t;
COMMENT ON VIEW creditledger.transfers IS
    'Transfers, multi-leg entries and reversals; reversed_by is derived from the reversal''s reverses column, so no row is ever updated.';

CREATE VIEW creditledger.accounts AS
SELECT a.account_id, a.code, a.currency, a.normal_side,
       (a.balance + coalesce(s.balance, 0) + coalesce(b.amount, 0))::bigint AS balance,
       (a.balance + coalesce(s.balance, 0))::bigint AS posted_balance,
       coalesce(b.amount, 0)::bigint AS buffered_amount,
       coalesce(b.count, 0)::bigint AS buffered_count,
       a.version, a.min_balance, a.hot_mode, a.shards, a.status,
       (a.held + coalesce(s.held, 0))::bigint AS held,
       (a.balance + coalesce(s.balance, 0) + coalesce(b.amount, 0)
        - a.held - coalesce(s.held, 0))::bigint AS available,
       a.block
  FROM creditledger.ledger_accounts a
  LEFT JOIN LATERAL (SELECT sum(sa.balance) AS balance, sum(sa.held) AS held
                       FROM creditledger.sub_accounts sa
                      WHERE sa.account_id = a.account_id) s ON true
  LEFT JOIN LATERAL (SELECT sum(pb.amount) AS amount, count(*) AS count
                       FROM creditledger.posting_buffer pb
                      WHERE pb.account_id = a.account_id) b ON true;
COMMENT ON VIEW creditledger.accounts IS
    'One row per account with the columns of account_state(): balance = posted + committed buffered postings; held = open reservations (pending transfers that decrease the account, funds holds); available = balance - held; block = none|debits|credits|all.';
