-- 0.2.0 -> 0.3.0: lending: credit and money in one transaction.
-- set_credit_line_account, credit_disburse, credit_disburse_direct,
-- credit_repay (lending.c), the receivable accounts of lines, the
-- pending disbursements, the view of all disbursements, the two critical
-- built-in BCP rules credit_used_equals_receivable and
-- credit_frozen_covers_disbursements_in_transit, and
-- credit_records_consistent's check of immediate disbursements.  Identical
-- to sql/src/*/70_lending.sql and the lending and credit_records_consistent
-- parts of sql/src/50_data.sql.

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

CREATE FUNCTION creditledger.set_credit_line_account(line bigint, receivable_account bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_set_credit_line_account' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SECURITY DEFINER;
COMMENT ON FUNCTION creditledger.set_credit_line_account(bigint, bigint) IS
    'Sets the receivable account of a credit line (admin): open (LD003), debit-normal (22023), the line''s currency (LD009), no other line''s (22023); refused (LD008) while a disbursement of the line is in transit or when the line''s outstanding drawdowns differ from the account''s balance. The same account again changes nothing.';

CREATE FUNCTION creditledger.credit_disburse(hold_ref text, ref text, to_account bigint,
        amount bigint DEFAULT NULL, release_rest boolean DEFAULT false,
        pending boolean DEFAULT false)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_disburse' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SECURITY DEFINER;
COMMENT ON FUNCTION creditledger.credit_disburse(text, text, bigint, bigint, boolean, boolean) IS
    'Atomically draws amount (default: all that remains) of a credit hold and transfers it (voucher ref) from the line''s receivable account to to_account; pending => true: the money is a pending transfer (voucher ref, expiring with the hold) and the credit stays frozen until transfer_post (used) or transfer_void/expiry (unfrozen). Idempotent on ref; returns the drawdown id.';

CREATE FUNCTION creditledger.credit_disburse_direct(line bigint, ref text, to_account bigint,
        amount bigint, pending boolean DEFAULT false)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_disburse_direct' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SECURITY DEFINER;
COMMENT ON FUNCTION creditledger.credit_disburse_direct(bigint, text, bigint, bigint, boolean) IS
    'Atomically draws amount on a line without a hold and transfers it (voucher ref) from the line''s receivable account to to_account; pending => true: the amount is frozen on the line and the money is a pending transfer (voucher ref). Idempotent on ref (the drawdowns'' namespace); returns the drawdown id.';

CREATE FUNCTION creditledger.credit_repay(drawdown_ref text, ref text, from_account bigint,
        amount bigint)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_repay' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SECURITY DEFINER;
COMMENT ON FUNCTION creditledger.credit_repay(text, text, bigint, bigint) IS
    'Atomically transfers amount (voucher ref) from from_account to the line''s receivable account and returns it to the drawdown (at most its outstanding, LD008). Idempotent on ref (the returns'' namespace); returns the credit operation id.';

CREATE VIEW creditledger.credit_disbursements AS
SELECT w.drawdown_id, w.ref, w.line_id,
       (t.metadata ->> 'receivable_account')::bigint AS receivable_account,
       (w.payload ->> 'to_account')::bigint AS to_account, w.amount,
       'disbursed'::text AS status, w.amount AS posted, 0::bigint AS in_transit,
       w.outstanding, w.returned, t.transfer_id, NULL::bigint AS pending_id, w.created_at
  FROM creditledger.ledger_credit_drawdowns w
  JOIN creditledger.ledger_transfers t ON t.voucher = w.ref
 WHERE w.payload ->> 'kind' IN ('disburse', 'disburse_direct')
   AND NOT (w.payload ->> 'pending')::boolean
UNION ALL
SELECT d.drawdown_id, d.ref, d.line_id, d.receivable_account, d.to_account, d.amount,
       CASE WHEN p.status = 'pending' THEN 'in_transit' ELSE p.status END,
       p.posted, CASE WHEN p.status = 'pending' THEN p.amount - p.posted ELSE 0 END,
       w.outstanding, w.returned, NULL::bigint, d.pending_id, d.created_at
  FROM creditledger.ledger_credit_pending_disbursements d
  JOIN creditledger.ledger_credit_drawdowns w ON w.drawdown_id = d.drawdown_id
  JOIN creditledger.ledger_pending_transfers p ON p.pending_id = d.pending_id;
COMMENT ON VIEW creditledger.credit_disbursements IS
    'One row per disbursement: status disbursed (immediate: its drawdown and its transfer, voucher = ref), in_transit (放款在途: pending transfer not yet settled), posted, voided or expired; posted = what became a drawdown, in_transit = what is still frozen for it; outstanding and returned from its drawdown.';

INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('credit_used_equals_receivable', 'critical', true,
 'Per credit line with a receivable account, its own outstanding drawdowns equal the account''s balance (授信使用额度 = 放款金额: credit in use is the principal lent).',
 $r$SELECT a.line_id, l.code, a.receivable_account, coalesce(w.outstanding, 0) AS outstanding,
       b.balance AS receivable_balance
  FROM creditledger.credit_line_accounts a
  JOIN creditledger.ledger_credit_lines l ON l.line_id = a.line_id
  JOIN creditledger.accounts b ON b.account_id = a.receivable_account
  LEFT JOIN (SELECT line_id, sum(outstanding) AS outstanding
               FROM creditledger.ledger_credit_drawdowns GROUP BY line_id) w ON w.line_id = a.line_id
 WHERE coalesce(w.outstanding, 0) <> b.balance$r$),
('credit_frozen_covers_disbursements_in_transit', 'critical', true,
 'Every pending disbursement is its pending transfer (same voucher, receivable, borrower and amount) and what it has not posted is still frozen in its transit hold on its line, what it posted is its drawdown (授信流水冻结 = 放款流水冻结, 在途流水 = 放款).',
 $r$SELECT d.drawdown_id, d.ref, d.line_id, p.status AS pending_status,
       CASE WHEN p.status = 'pending' THEN p.amount - p.posted ELSE 0 END AS in_transit,
       CASE WHEN h.status = 'open' THEN h.remaining ELSE 0 END AS frozen,
       p.posted, w.amount AS drawn
  FROM creditledger.ledger_credit_pending_disbursements d
  LEFT JOIN creditledger.ledger_pending_transfers p ON p.pending_id = d.pending_id
  LEFT JOIN creditledger.ledger_credit_holds h ON h.hold_id = d.transit_hold_id
  LEFT JOIN creditledger.ledger_credit_drawdowns w ON w.drawdown_id = d.drawdown_id
 WHERE (p.pending_id IS NULL OR h.hold_id IS NULL OR w.drawdown_id IS NULL
        OR h.line_id <> d.line_id OR p.voucher <> d.ref
        OR p.debit_account <> d.receivable_account OR p.credit_account <> d.to_account
        OR p.amount <> d.amount OR w.amount <> p.posted
        OR CASE WHEN p.status = 'pending' THEN p.amount - p.posted ELSE 0 END
           <> CASE WHEN h.status = 'open' THEN h.remaining ELSE 0 END)$r$);

-- credit_records_consistent also checks each immediate disbursement, which
-- has no row of its own: its drawdown's transfer (voucher = ref) exists and
-- its metadata names the drawdown's line and the drawdown.  Its query is
-- 0.2.0's with that branch appended (TAP 007 compares it with a fresh
-- install's).
UPDATE creditledger.bcp_rules SET
    description = 'Holds and drawdowns add up: amount = remaining + used + released (open exactly while something remains), amount = outstanding + returned, a hold''s drawdowns sum to its used amount, and a hot line''s slices never hold more headroom than the line has; an immediate disbursement''s drawdown has its transfer (voucher = its ref) and the transfer''s metadata names that line and drawdown.',
    check_sql = check_sql || $r$
UNION ALL
SELECT 'disbursement', w.drawdown_id, w.ref,
       CASE WHEN t.transfer_id IS NULL THEN 'no transfer has its ref as voucher'
            ELSE format('transfer %s names line %s, drawdown %s', t.transfer_id,
                        t.metadata ->> 'credit_line', t.metadata ->> 'drawdown') END
  FROM creditledger.ledger_credit_drawdowns w
  LEFT JOIN creditledger.ledger_transfers t ON t.voucher = w.ref
 WHERE w.payload ->> 'kind' IN ('disburse', 'disburse_direct')
   AND NOT (w.payload ->> 'pending')::boolean
   AND (t.transfer_id IS NULL
        OR t.metadata ->> 'credit_line' IS DISTINCT FROM w.line_id::text
        OR t.metadata ->> 'drawdown' IS DISTINCT FROM w.drawdown_id::text)$r$
 WHERE name = 'credit_records_consistent';
