-- Credit lines: functions (C declarations; two PL/pgSQL error helpers the audit functions share) and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

-- Hashing (C): the CLC1 canonical encoding, see credit.c and the README.
CREATE FUNCTION creditledger._credit_entry_hash(prev_hash bytea, line_id bigint, slice int,
        version bigint, op text, ref text,
        frozen_delta bigint, used_delta bigint, returned_delta bigint,
        frozen_after bigint, used_after bigint, returned_after bigint,
        created_at timestamptz)
RETURNS bytea
AS 'MODULE_PATHNAME', 'cl_credit_entry_hash'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION creditledger._credit_entry_hash(bytea, bigint, int, bigint, text, text, bigint, bigint, bigint, bigint, bigint, bigint, timestamptz) IS
    'SHA-256(prev_hash || CLC1 encoding of a credit journal entry); used by the credit functions and verify_chain.';

-- Internal error helpers (PL/pgSQL, not executable by PUBLIC), used by the
-- BCP administration functions.
CREATE FUNCTION creditledger._credit_raise(code text, message text,
        detail text DEFAULT NULL, hint text DEFAULT NULL)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    -- RAISE refuses NULL options, so each combination is spelt out
    IF detail IS NULL AND hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message;
    ELSIF hint IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, DETAIL = detail;
    ELSIF detail IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, HINT = hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = message, DETAIL = detail, HINT = hint;
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_raise(text, text, text, text) IS
    'Raises an error with the given SQLSTATE, message, detail and hint.';

CREATE FUNCTION creditledger._credit_require(value anyelement, name text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF value IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('argument "%s" must not be null', name);
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_require(anyelement, text) IS
    'Raises 22004 when a required argument is NULL.';

-- Administration (C, credit_admin.c): create, credit_line_id, suspend,
-- resume, close, set_credit_line_hot.  SECURITY DEFINER with a pinned
-- search_path; counted in stat_operations; administrators only, but
-- credit_line_id (90_privileges.sql).
CREATE FUNCTION creditledger.create_credit_line(code text, currency text, limit_amount bigint,
        parents bigint[] DEFAULT '{}', revolving boolean DEFAULT true,
        valid_from timestamptz DEFAULT now(), valid_until timestamptz DEFAULT NULL,
        metadata jsonb DEFAULT '{}')
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_create_credit_line' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.create_credit_line(text, text, bigint, bigint[], boolean, timestamptz, timestamptz, jsonb) IS
    'Creates a credit line under the given parents (idempotent on code: same attributes return the same id, different ones raise LD004).';

CREATE FUNCTION creditledger.credit_line_id(code text)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_line_id' LANGUAGE C STABLE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.credit_line_id(text) IS
    'The id of the credit line with this code; LD006 if there is none.';

-- Functions (C, credit_limits.c): set_credit_limit, link_credit_line with
-- its control, temporary limits.  SECURITY DEFINER with a pinned
-- search_path; administrators only (90_privileges.sql).

-- set_credit_limit (C, credit_limits.c): grant control checks, and every
-- limit change, temporary ones included, goes through one C path
-- (credit_limit_changed: limit_decreased_at, hot slices spread again).
CREATE FUNCTION creditledger.set_credit_limit(line bigint, limit_amount bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_set_credit_limit'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.set_credit_limit(bigint, bigint) IS
    'Changes a line''s limit; a limit below current utilisation is allowed and blocks new freezes until the line is back within it. Under grant control a parent''s limit must cover its granting children''s limits and a granting child''s raise must fit in its parents (LD002).';

CREATE FUNCTION creditledger.suspend_credit_line(line bigint, reason text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'cl_suspend_credit_line' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.suspend_credit_line(bigint, text) IS
    'Suspends a line: it and every descendant refuse freeze, use and use_direct (LD006) until resumed.';

CREATE FUNCTION creditledger.resume_credit_line(line bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_resume_credit_line' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.resume_credit_line(bigint) IS
    'Resumes a suspended line.';

CREATE FUNCTION creditledger.close_credit_line(line bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_close_credit_line' LANGUAGE C VOLATILE
SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.close_credit_line(bigint) IS
    'Closes a line for good: no new freezes or drawdowns under it; unfreeze and return still work.';

-- The default slice count is twice the concurrent callers of a busy
-- application (128 for 64): a slice is held from the change to the commit,
-- so with about as many slices as callers they still collide and queue
-- (doc/benchmark-history.md: 64 slices gave 72-96% of the no-parent rate at
-- 64 clients; 128 gave 85-98% in the release's later runs, README
-- "Benchmarks").
--
-- journal: 'batched' (the default) writes a change under the line into its
-- slice's pending columns and leaves the slice's journal entry to
-- credit_settle_hot_lines() (the background worker), one entry per slice
-- and batch, as buffered accounts are flushed; 'per_slice' appends one
-- entry per change to the slice's chain.
CREATE FUNCTION creditledger.set_credit_line_hot(line bigint, slices int DEFAULT 128,
        journal text DEFAULT 'batched')
RETURNS void AS 'MODULE_PATHNAME', 'cl_set_credit_line_hot'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.set_credit_line_hot(bigint, int, text) IS
    'Makes a line hot: its headroom is kept in slices (default 128) taken with SKIP LOCKED (0 = not hot); journal batched (default: slice entries written in batches by the worker) or per_slice (one slice entry per change).';

CREATE FUNCTION creditledger.credit_settle_hot_lines(line bigint DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_settle_hot_lines'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.credit_settle_hot_lines(bigint) IS
    'Journals the pending changes of batched hot lines'' slices (of one line, or all): one chained batch entry per slice, skipping a slice another call holds (settled next time); returns how many slices it settled. The background worker runs it every creditledger.hot_line_settle_interval.';

CREATE FUNCTION creditledger.credit_freeze(line bigint, amount bigint, ref text,
        expires_at timestamptz DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_freeze' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SECURITY DEFINER;
COMMENT ON FUNCTION creditledger.credit_freeze(bigint, bigint, text, timestamptz) IS
    'Freezes (holds) amount on the line and every ancestor; idempotent on ref; returns the hold id.';

CREATE FUNCTION creditledger.credit_unfreeze(hold_ref text, ref text, amount bigint DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_unfreeze' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SECURITY DEFINER;
COMMENT ON FUNCTION creditledger.credit_unfreeze(text, text, bigint) IS
    'Releases amount (default: all that remains) of a hold; idempotent on ref; returns the operation id.';

CREATE FUNCTION creditledger.credit_use(hold_ref text, ref text, amount bigint DEFAULT NULL,
        release_rest boolean DEFAULT false)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_use' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SECURITY DEFINER;
COMMENT ON FUNCTION creditledger.credit_use(text, text, bigint, boolean) IS
    'Draws amount (default: all that remains) of a hold, optionally releasing the rest; idempotent on ref; returns the drawdown id.';

CREATE FUNCTION creditledger.credit_use_direct(line bigint, amount bigint, ref text)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_use_direct' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SECURITY DEFINER;
COMMENT ON FUNCTION creditledger.credit_use_direct(bigint, bigint, text) IS
    'Draws amount on a line without a hold; idempotent on ref (shared with credit_use); returns the drawdown id.';

CREATE FUNCTION creditledger.credit_return(drawdown_ref text, ref text, amount bigint)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_return' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SECURITY DEFINER;
COMMENT ON FUNCTION creditledger.credit_return(text, text, bigint) IS
    'Repays amount of a drawdown (at most its outstanding); idempotent on ref; returns the operation id.';

CREATE FUNCTION creditledger.credit_expire_holds()
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_expire_holds' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
SECURITY DEFINER;
COMMENT ON FUNCTION creditledger.credit_expire_holds() IS
    'Releases every open hold past its expires_at (as the background worker does); returns how many.';

CREATE FUNCTION creditledger.link_credit_line(child bigint, parent bigint, control text DEFAULT 'usage')
RETURNS void AS 'MODULE_PATHNAME', 'cl_link_credit_line'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.link_credit_line(bigint, bigint, text) IS
    'Puts child under parent. control usage (default, 控制用信): carries the child''s frozen/used/returned to the new ancestors (LD002 if they do not fit); grant (控制授信): the child''s limit is carved from the parent''s (LD002 if the granted limits would exceed it), its usage is not counted there; both. LD011 on a cycle, LD009 across currencies, LD004 if already linked with another control.';

CREATE FUNCTION creditledger.credit_apply_temporary_limits()
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_apply_temporary_limits'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.credit_apply_temporary_limits() IS
    'Starts the temporary limits whose valid_from has come and ends those whose valid_until has passed (the background worker does it every creditledger.hold_expiry_interval); returns how many changed.';

CREATE FUNCTION creditledger.credit_line_state(line bigint)
RETURNS TABLE(line_id bigint, code text, currency text, limit_amount bigint, frozen bigint,
              used bigint, returned bigint, available bigint, revolving boolean, status text,
              valid_from timestamptz, valid_until timestamptz,
              temporary_limit bigint, granted bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM creditledger._credit_require(line, 'line');
    RETURN QUERY
        SELECT c.line_id, c.code, c.currency, c.limit_amount, c.frozen, c.used, c.returned,
               c.available, c.revolving, c.status, c.valid_from, c.valid_until,
               c.temporary_limit, c.granted
          FROM creditledger.credit_lines c WHERE c.line_id = line;
    IF NOT FOUND THEN
        PERFORM creditledger._credit_raise('LD006', format('credit line %s does not exist', line));
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger.credit_line_state(bigint) IS
    'One row describing the line (totals own and usage descendants''; available counts active temporary limits; temporary_limit = active temporary limits; granted = limits of children under grant control); LD006 if unknown.';
