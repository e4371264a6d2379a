-- Money holds: pending transfers, funds holds, account blocks: functions (C declarations and PL/pgSQL/SQL bodies) and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE FUNCTION creditledger.transfer_pending(voucher text, debit_account bigint,
        credit_account bigint, amount bigint, expires_at timestamptz DEFAULT NULL,
        memo text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_transfer_pending'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.transfer_pending(text, bigint, bigint, bigint, timestamptz, text, jsonb) IS
    'Authorises a transfer: reserves amount on each account the transfer would decrease (checked against available = balance - held and min_balance, LD001) and changes no balance; returns the pending id. Idempotent on voucher (its own namespace).';

CREATE FUNCTION creditledger.hold_funds(ref text, account bigint, amount bigint,
        reason text DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_hold_funds'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.hold_funds(text, bigint, bigint, text, timestamptz) IS
    'Holds amount of the account''s available balance (金额冻结, 司法冻结): the money stays owned but cannot be spent (LD001 if available is short); returns the funds hold id. Idempotent on ref.';

CREATE FUNCTION creditledger.release_funds(ref text, hold_ref text, amount bigint DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_release_funds'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.release_funds(text, text, bigint) IS
    'Releases amount (default: all that remains) of a funds hold; returns the funds hold id. Idempotent on ref (the releases'' namespace). LD013 for an unknown, released, expired or due hold or more than remains.';

CREATE FUNCTION creditledger.expire_pending()
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_expire_pending'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.expire_pending() IS
    'Releases every pending transfer and funds hold past its expires_at (the background worker does it every creditledger.hold_expiry_interval); returns how many. Rows another transaction is working on are left for the next run.';

CREATE FUNCTION creditledger.set_account_block(account bigint, block text, reason text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'cl_set_account_block'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.set_account_block(bigint, text, text) IS
    'Blocks an account for debits (止付), credits (止收), all, or unblocks it (none): new postings in that direction, posting a pending transfer included, get LD012; voids, releases and expiries still work. Recorded in the hold chain (who, when, reason). Waits for the postings in flight on the account.';
