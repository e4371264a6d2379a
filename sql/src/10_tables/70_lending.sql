-- Lending (credit and money in one transaction): tables, indexes and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE TABLE creditledger.credit_line_accounts (
    line_id            bigint PRIMARY KEY REFERENCES creditledger.ledger_credit_lines,
    receivable_account bigint NOT NULL UNIQUE REFERENCES creditledger.ledger_accounts,
    set_at             timestamptz NOT NULL DEFAULT now(),
    set_by             text NOT NULL DEFAULT SESSION_USER
);
COMMENT ON TABLE creditledger.credit_line_accounts IS
    'Receivable account of a credit line (set_credit_line_account): debit-normal, the line''s currency, one line per account; it holds the principal lent under the line (credit_used_equals_receivable). Written only by creditledger functions.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_line_accounts', '');

CREATE TABLE creditledger.ledger_credit_pending_disbursements (
    drawdown_id        bigint PRIMARY KEY REFERENCES creditledger.ledger_credit_drawdowns,
    ref                text NOT NULL,
    line_id            bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    receivable_account bigint NOT NULL,
    to_account         bigint NOT NULL,
    amount             bigint NOT NULL CHECK (amount > 0),
    pending_id         bigint NOT NULL UNIQUE,
    transit_hold_id    bigint NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
-- A pending disbursement is found by its pending transfer (post, void,
-- expiry, post_batch), a line's through its drawdowns (same drawdown_id).
-- ref is the drawdown's (unique there: ledger_credit_drawdowns_ref_key, and
-- drawdown_id is the key here), so it needs no unique index of its own.
-- An immediate disbursement has no row here: its drawdown (payload kind
-- disburse or disburse_direct, pending false) and its transfer (voucher =
-- the drawdown's ref, metadata naming line, drawdown and receivable
-- account) say all of it (the view credit_disbursements joins them).
COMMENT ON TABLE creditledger.ledger_credit_pending_disbursements IS
    'Pending disbursements (credit_disburse, credit_disburse_direct with pending => true): the drawdown, the pending transfer (pending_id, voucher = ref) and the transit hold (transit_hold_id, ref creditledger:disbursement:<ref>) that keeps its credit frozen while in transit. An immediate disbursement is its drawdown and its transfer (voucher = ref) alone. Written only by creditledger functions.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_credit_pending_disbursements', '');
