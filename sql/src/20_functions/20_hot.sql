-- Hot accounts: buffered postings and split sub-accounts: functions (C declarations and PL/pgSQL/SQL bodies) and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE FUNCTION creditledger.set_hot_mode(account bigint, hot_mode text, shards int DEFAULT 8)
RETURNS void
AS 'MODULE_PATHNAME', 'cl_set_hot_mode'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.set_hot_mode(bigint, text, int) IS
    'Switches an account''s hot mode (this release supports only ''none'').';

CREATE FUNCTION creditledger.flush(account bigint DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_flush'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.flush(bigint) IS
    'Applies committed buffered postings (of one account, or all); returns how many were applied.';

-- Monitoring (issue 11): error kinds (business, client, system), counters
-- that exist from startup, per-code alert thresholds, and the sweep of one
-- split account callable from SQL.
CREATE FUNCTION creditledger._sweep_account(account bigint) RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_sweep_account'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger._sweep_account(bigint) IS
    'One sweep of a split account, as the background worker runs it every creditledger.sweep_interval: evens out the sub-accounts with chained internal transfers and returns how many were moved (0 when there is nothing to even out: then it writes nothing). Owner only.';
