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

CREATE TABLE creditledger.ledger_credit_disbursements (
    drawdown_id        bigint PRIMARY KEY REFERENCES creditledger.ledger_credit_drawdowns,
    ref                text NOT NULL,
    line_id            bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    receivable_account bigint NOT NULL,
    to_account         bigint NOT NULL,
    amount             bigint NOT NULL CHECK (amount > 0),
    pending_id         bigint,
    transfer_id        bigint,
    transit_hold_id    bigint,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((pending_id IS NULL) = (transit_hold_id IS NULL)),
    CHECK ((pending_id IS NULL) <> (transfer_id IS NULL))
);
-- A pending disbursement is found by its pending transfer (post, void,
-- expiry, post_batch); an immediate one has none, so it has no entry here.
-- A line's disbursements are found through its drawdowns (same drawdown_id).
-- ref is the drawdown's (unique there: ledger_credit_drawdowns_ref_key, and
-- drawdown_id is the key here), so it needs no unique index of its own.
CREATE UNIQUE INDEX ledger_credit_disbursements_pending_key
    ON creditledger.ledger_credit_disbursements (pending_id) WHERE pending_id IS NOT NULL;
COMMENT ON TABLE creditledger.ledger_credit_disbursements IS
    'Disbursements (credit_disburse, credit_disburse_direct): the drawdown and its money under one ref: the transfer (transfer_id) of an immediate one, or the pending transfer (pending_id, voucher = ref) and the transit hold (transit_hold_id, ref creditledger:disbursement:<ref>) that keeps its credit frozen while in transit. Written only by creditledger functions.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_credit_disbursements', '');
