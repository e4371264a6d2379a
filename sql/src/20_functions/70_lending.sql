-- Lending (credit and money in one transaction): functions and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

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
