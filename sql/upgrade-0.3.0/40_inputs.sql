--------------------------------------------------------------------------
-- Inputs and messages: the PL/pgSQL side speaks as the C side does (NULL,
-- empty, blank, over-long and reserved references), the append-only guard
-- names the table it protects, and credit counters can never overflow
-- after a call was accepted.
--------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION creditledger._credit_require(value anyelement, name text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('argument "%s" must not be null', name);
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION creditledger._credit_check_ref(ref text, name text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF ref IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('argument "%s" must not be null', name);
    ELSIF ref = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must not be empty', name);
    ELSIF btrim(ref, E' \t\n\r\v\f') = '' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must not be blank', name),
            DETAIL = 'The value given is only white space.';
    ELSIF length(ref) > 128 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s is too long', name),
            DETAIL = format('It has %s characters; at most 128 are allowed.', length(ref));
    ELSIF name <> 'code' AND starts_with(ref, 'creditledger:') THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('%s must not start with "creditledger:"', name),
            DETAIL = 'References starting with "creditledger:" are reserved for the extension''s internal moves.';
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_check_ref(text, text) IS
    'Raises 22004/22023 unless a reference is 1 to 128 characters, not only white space, and (unless it is a code) outside the reserved creditledger: namespace.';

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

-- _credit_apply as in 0.2.0, plus: a change that adds to a node's
-- frozen + used + returned is refused (22003) when that total would leave
-- bigint, so the returns it may later bring (returned is cumulative) and
-- carrying it up a link can never overflow: "return always works".
CREATE OR REPLACE FUNCTION creditledger._credit_apply(node bigint, op text, ref text,
        fd bigint, ud bigint, rd bigint)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l creditledger.ledger_credit_lines;
    needed bigint;
    avail bigint;
    s int;
    total numeric;
BEGIN
    SELECT * INTO l FROM creditledger.ledger_credit_lines WHERE line_id = node;
    IF fd::numeric + ud + rd > 0 THEN
        SELECT l.frozen::numeric + l.used + l.returned
               + coalesce(sum(x.frozen::numeric + x.used + x.returned), 0)
          INTO total
          FROM creditledger.credit_line_slices x WHERE x.line_id = node;
        IF total + fd + ud + rd > 9223372036854775807 THEN
            RAISE EXCEPTION USING ERRCODE = '22003',
                MESSAGE = format('credit totals of line %s would be out of range for type bigint', node),
                DETAIL = format('Line %s has frozen + used + returned = %s; the %s adds %s.',
                                node, total, op, fd::numeric + ud + rd);
        END IF;
    END IF;
    needed := fd + ud + CASE WHEN l.revolving THEN 0 ELSE rd END;
    IF l.hot_slices = 0 THEN
        IF needed > 0 THEN
            avail := creditledger._credit_available(l);
            IF avail < needed THEN
                PERFORM creditledger._credit_shortfall(l, avail, needed, op);
            END IF;
        END IF;
        PERFORM creditledger._credit_post(node, 0, op, ref, fd, ud, rd, 0);
    ELSIF needed <= 0 THEN
        PERFORM creditledger._credit_post(node, creditledger._credit_take_slice(l, needed),
                                          op, ref, fd, ud, rd, needed);
    ELSE
        -- A free slice with enough headroom, taken and written in one
        -- subtransaction: when none qualifies, rolling it back drops any
        -- slice the probe locked but then found short (FOR ... SKIP LOCKED
        -- keeps such locks), so the gather below holds no slice out of order.
        BEGIN
            SELECT slice INTO s FROM creditledger.credit_line_slices
             WHERE line_id = node AND slice <= l.hot_slices AND headroom >= needed
             ORDER BY (slice + pg_catalog.pg_backend_pid()) % l.hot_slices
             LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;
            IF FOUND THEN
                PERFORM creditledger._credit_post(node, s, op, ref, fd, ud, rd, needed);
                RETURN;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'LDZ01';    -- private: undo the probe
        EXCEPTION WHEN SQLSTATE 'LDZ01' THEN
            NULL;
        END;
        PERFORM creditledger._credit_post(node, creditledger._credit_gather(l, needed, op),
                                          op, ref, fd, ud, rd, needed);
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_apply(bigint, text, text, bigint, bigint, bigint) IS
    'Applies one change of frozen/used/returned to one node (row or hot slice), refusing with LD002 a change that would leave it below zero available and with 22003 one that would take frozen + used + returned out of bigint.';

CREATE OR REPLACE FUNCTION creditledger._credit_check_amount(amount bigint, name text DEFAULT 'amount')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF amount IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('argument "%s" must not be null', name);
    ELSIF amount <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must be positive', name),
            DETAIL = format('The value given was %s.', amount);
    END IF;
END
$$;

-- The credit entry points (C wrappers that count the call and run the
-- PL/pgSQL body) pin search_path too, as every other function does: what
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
