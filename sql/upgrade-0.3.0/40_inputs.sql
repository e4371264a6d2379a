--------------------------------------------------------------------------
-- Inputs and messages: the PL/pgSQL error helper speaks as the C side does
-- (NULL arguments), and the append-only guard names the table it protects.
-- (The credit functions are C: credit_engine.c refuses a change that would
-- take a node's frozen + used + returned out of bigint, 22003.)
--------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION creditledger._credit_require(value anyelement, name text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('argument "%s" must not be null', name);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION creditledger.refuse_journal_change() RETURNS trigger
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

-- The credit entry points (C functions that count the call; see
-- 68_credit_admin.sql) pin search_path too, as every other function does: what
-- they run is schema-qualified, and this keeps it so for any later change.
ALTER FUNCTION creditledger.create_credit_line(text, text, bigint, bigint[], boolean, timestamptz, timestamptz, jsonb)
    SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.credit_line_id(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.link_credit_line(bigint, bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.set_credit_limit(bigint, bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.suspend_credit_line(bigint, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.resume_credit_line(bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.close_credit_line(bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.set_credit_line_hot(bigint, int) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.credit_freeze(bigint, bigint, text, timestamptz) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.credit_unfreeze(text, text, bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.credit_use(text, text, bigint, boolean) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.credit_use_direct(bigint, bigint, text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.credit_return(text, text, bigint) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION creditledger.credit_expire_holds() SET search_path = pg_catalog, pg_temp;
