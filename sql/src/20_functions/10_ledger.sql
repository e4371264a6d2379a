-- Accounts, transfers and the chained journal: functions (C declarations and PL/pgSQL/SQL bodies) and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

-- Append-only guard: UPDATE, DELETE and TRUNCATE refused for every role.
-- A superuser repairing data can bypass it consciously (DISABLE TRIGGER ALL
-- or session_replication_role = replica); verify_chain detects the result.
CREATE FUNCTION creditledger.refuse_journal_change() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION USING
        ERRCODE = 'object_not_in_prerequisite_state',
        MESSAGE = format('%s on %s is not allowed', TG_OP, TG_TABLE_NAME),
        DETAIL  = format('creditledger.%s is append-only.', TG_TABLE_NAME),
        HINT    = CASE
            WHEN TG_TABLE_NAME IN ('journal_entries', 'ledger_transfers')
                THEN 'Post a reversal with creditledger.reverse() instead of changing history.'
            WHEN TG_TABLE_NAME = 'credit_journal_entries'
                THEN 'Credit history changes only through the credit functions (credit_unfreeze, credit_return, ...).'
            ELSE 'Take a new digest with creditledger.ledger_digest() instead of changing a recorded one.' END;
END
$$;
COMMENT ON FUNCTION creditledger.refuse_journal_change() IS
    'Trigger function: refuses UPDATE, DELETE and TRUNCATE on the append-only tables.';

-- Functions (C). Functions that read or write ledger tables run with the
-- owner's rights and a pinned search_path; none is STRICT, so a NULL
-- argument is an error (22004), never a silent NULL.
CREATE FUNCTION creditledger.open_account(code text, currency text,
        normal_side text DEFAULT 'credit', min_balance bigint DEFAULT 0,
        hot_mode text DEFAULT 'none', shards int DEFAULT 8,
        metadata jsonb DEFAULT '{}')
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_open_account'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.open_account(text, text, text, bigint, text, int, jsonb) IS
    'Opens an account (idempotent on code: same attributes return the same id, different ones raise LD004).';

CREATE FUNCTION creditledger.account_id(code text)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_account_id'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.account_id(text) IS
    'The id of the account with this code; LD003 if there is none.';

CREATE FUNCTION creditledger.close_account(account bigint)
RETURNS void
AS 'MODULE_PATHNAME', 'cl_close_account'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.close_account(bigint) IS
    'Closes an account at balance 0 with nothing buffered (else 55000); a closed account takes no postings.';

CREATE FUNCTION creditledger.balance(account bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_balance'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.balance(bigint) IS
    'The account''s balance: posted plus committed buffered postings, over all sub-accounts.';

CREATE FUNCTION creditledger.transfer(voucher text, debit_account bigint,
        credit_account bigint, amount bigint,
        memo text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_transfer'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.transfer(text, bigint, bigint, bigint, text, jsonb) IS
    'Debits one account and credits another by amount; idempotent on voucher; returns the transfer id.';

CREATE FUNCTION creditledger.post_entry(voucher text, legs jsonb,
        memo text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_post_entry'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.post_entry(text, jsonb, text, jsonb) IS
    'Posts a multi-leg entry (2 to 1000 legs, balanced per currency); idempotent on voucher; returns the transfer id.';

CREATE FUNCTION creditledger.reverse(voucher text, reversal_voucher text DEFAULT NULL,
        reason text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_reverse'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.reverse(text, text, text) IS
    'Posts the mirror image of a transfer once (default voucher: voucher || '':reversal''); returns the reversal''s transfer id.';

CREATE FUNCTION creditledger.lock_accounts(accounts bigint[])
RETURNS void
AS 'MODULE_PATHNAME', 'cl_lock_accounts'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.lock_accounts(bigint[]) IS
    'Locks the given accounts in ascending id order until the end of the transaction, as every posting does.';

CREATE FUNCTION creditledger.account_state(account bigint)
RETURNS TABLE(account_id bigint, code text, currency text, normal_side text,
              balance bigint, posted_balance bigint, buffered_amount bigint,
              buffered_count bigint, version bigint, min_balance bigint,
              hot_mode text, shards int, status text,
              held bigint, available bigint, block text)
AS 'MODULE_PATHNAME', 'cl_account_state'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.account_state(bigint) IS
    'One row describing the account (the columns of the accounts view, held, available and block included); LD003 if unknown.';

CREATE FUNCTION creditledger.transfer_post(voucher text, pending_voucher text,
        amount bigint DEFAULT NULL, final boolean DEFAULT true)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_transfer_post'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.transfer_post(text, text, bigint, boolean) IS
    'Captures amount (default: all that remains) of a pending transfer as a real transfer under voucher (the transfers namespace) and returns its transfer id; final releases the rest, otherwise it stays pending. LD013 if the pending transfer is unknown, not pending any more (posted, voided, expired or due) or has less left.';

CREATE FUNCTION creditledger.transfer_void(voucher text, pending_voucher text)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_transfer_void'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.transfer_void(text, text) IS
    'Voids a pending transfer: releases what remains; returns the pending id. Idempotent on voucher (the voids'' namespace). Works on blocked accounts.';

CREATE FUNCTION creditledger.set_temporary_limit(line bigint, ref text, amount bigint,
        valid_until timestamptz, valid_from timestamptz DEFAULT now())
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_set_temporary_limit'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.set_temporary_limit(bigint, text, bigint, timestamptz, timestamptz) IS
    'Grants a temporary limit (临额): amount is added to the line''s limit from valid_from (default now; a future one is started by the background worker) until valid_until; returns its id. Idempotent on ref (same payload: the same id; different: LD004). 22023 for a window that is empty or already over, LD006 for an unknown or closed line. Administrators only.';

CREATE FUNCTION creditledger.end_temporary_limit(ref text)
RETURNS void AS 'MODULE_PATHNAME', 'cl_end_temporary_limit'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.end_temporary_limit(text) IS
    'Ends a temporary limit before its valid_until (a scheduled one never starts); the line then behaves as after a limit decrease. Ending one that is already over changes nothing; LD006 for an unknown ref. Administrators only.';

-- Batch posting (src/batch.c): post_batch(items, atomic).
CREATE FUNCTION creditledger.post_batch(items jsonb, atomic boolean DEFAULT false)
RETURNS TABLE(item int, id bigint, sqlstate text, message text)
AS 'MODULE_PATHNAME', 'cl_post_batch'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
ROWS 100;
COMMENT ON FUNCTION creditledger.post_batch(jsonb, boolean) IS
    'Posts 1 to 10000 items (JSON objects with "op": transfer, entry, reverse, pending, post or void, the arguments of that call, and optionally "linked": true joining an item with the next into a group that succeeds or fails as one). Locks every account of the batch once, in ascending id order; returns one row per item (1-based): the id on success (a replay: the first id), else the SQLSTATE and message the single call would raise (LD014 for the other items of a failed linked group). A failed item or group leaves nothing. atomic => true: the first failure raises and nothing is posted.';
