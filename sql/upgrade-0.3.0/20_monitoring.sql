
--------------------------------------------------------------------------
-- Monitoring (issue 11): error kinds (business, client, system), counters
-- that exist from startup, per-code alert thresholds, and the sweep of one
-- split account callable from SQL.
--------------------------------------------------------------------------

CREATE FUNCTION creditledger._sweep_account(account bigint) RETURNS bigint
AS 'MODULE_PATHNAME', 'cl_sweep_account'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger._sweep_account(bigint) IS
    'One sweep of a split account, as the background worker runs it every creditledger.sweep_interval: evens out the sub-accounts with chained internal transfers and returns how many were moved (0 when there is nothing to even out: then it writes nothing). Owner only.';
REVOKE ALL ON FUNCTION creditledger._sweep_account(bigint) FROM PUBLIC;
