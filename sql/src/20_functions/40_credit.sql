-- Credit lines: functions (C declarations and PL/pgSQL/SQL bodies) and their comments.
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

-- Internal helpers (SQL/PL/pgSQL, not executable by PUBLIC)
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

-- Inputs and messages: the PL/pgSQL side speaks as the C side does (NULL,
-- empty, blank, over-long and reserved references), the append-only guard
-- names the table it protects, and credit counters can never overflow
-- after a call was accepted.
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

CREATE FUNCTION creditledger._credit_check_ref(ref text, name text)
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

CREATE FUNCTION creditledger._credit_check_amount(amount bigint, name text DEFAULT 'amount')
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
COMMENT ON FUNCTION creditledger._credit_check_amount(bigint, text) IS
    'Raises 22004/22023 unless an amount is positive.';

-- The graph lock: shared for amount changes, exclusive for graph/attribute changes.
CREATE FUNCTION creditledger._credit_graph_lock(exclusive boolean)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF exclusive THEN
        PERFORM pg_catalog.pg_advisory_xact_lock(17228, -1);
    ELSE
        PERFORM pg_catalog.pg_advisory_xact_lock_shared(17228, -1);
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_graph_lock(boolean) IS
    'Takes the credit graph lock until the end of the transaction: shared for freeze/unfreeze/use/return/expiry, exclusive for link, limit, status and hot-slice changes.';

CREATE FUNCTION creditledger._credit_line(line bigint)
RETURNS creditledger.ledger_credit_lines
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l creditledger.ledger_credit_lines;
BEGIN
    SELECT * INTO l FROM creditledger.ledger_credit_lines WHERE line_id = line;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'LD006',
            MESSAGE = format('credit line %s does not exist', line);
    END IF;
    RETURN l;
END
$$;
COMMENT ON FUNCTION creditledger._credit_line(bigint) IS
    'The line''s row; LD006 if unknown.';

CREATE FUNCTION creditledger._credit_lock(nodes bigint[], include_hot boolean DEFAULT false)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM 1 FROM creditledger.ledger_credit_lines
      WHERE line_id = ANY (nodes) AND (hot_slices = 0 OR include_hot)
      ORDER BY line_id FOR NO KEY UPDATE;
END
$$;
COMMENT ON FUNCTION creditledger._credit_lock(bigint[], boolean) IS
    'Locks the rows of the given lines in ascending id order; hot lines only with include_hot (expiries write to a hot line''s own row, everything else to its slices).';

-- Appends one entry to a chain (line row when slice = 0, else a slice) and
-- moves its head; the caller holds the row lock.
CREATE FUNCTION creditledger._credit_post(node bigint, slice_no int, op text, ref text,
        fd bigint, ud bigint, rd bigint, headroom_delta bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_credit_post_sql'
LANGUAGE C STRICT VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger._credit_post(bigint, int, text, text, bigint, bigint, bigint, bigint) IS
    'Appends one CLC1 credit journal entry to the chain of a line (slice 0) or of one of its slices and moves the chain head; the caller holds its lock.';

-- _credit_apply: the engine's change of one node (credit_engine.c), for
-- link_credit_line's PL/pgSQL body.  A change that adds to a node's
-- frozen + used + returned is refused (22003) when that total would leave
-- bigint, so the returns it may later bring (returned is cumulative) and
-- carrying it up a link can never overflow: "return always works".
CREATE FUNCTION creditledger._credit_apply(node bigint, op text, ref text,
        fd bigint, ud bigint, rd bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_credit_apply_sql'
LANGUAGE C STRICT VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger._credit_apply(bigint, text, text, bigint, bigint, bigint) IS
    'The engine''s change of frozen/used/returned on one node (row or hot slice: LD002 below zero available, 22003 out of bigint), for link_credit_line; the caller holds the graph lock and the plain nodes'' rows.';

-- Credit operations (PL/pgSQL bodies; the public names are C wrappers)
CREATE FUNCTION creditledger._create_credit_line(code text, currency text, limit_amount bigint,
        parents bigint[], revolving boolean, valid_from timestamptz,
        valid_until timestamptz, metadata jsonb)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    ps bigint[];
    id bigint;
    l creditledger.ledger_credit_lines;
    p creditledger.ledger_credit_lines;
    pid bigint;
BEGIN
    PERFORM creditledger._credit_check_ref(code, 'code');
    PERFORM creditledger._credit_require(currency, 'currency');
    PERFORM creditledger._credit_require(limit_amount, 'limit_amount');
    PERFORM creditledger._credit_require(parents, 'parents');
    PERFORM creditledger._credit_require(revolving, 'revolving');
    PERFORM creditledger._credit_require(valid_from, 'valid_from');
    PERFORM creditledger._credit_require(metadata, 'metadata');
    IF currency !~ '^[A-Z]{3}$' THEN
        PERFORM creditledger._credit_raise('22023', format('invalid currency "%s"', currency),
            'A currency is a three-letter upper-case code such as CNY or USD.');
    END IF;
    IF limit_amount < 0 THEN
        PERFORM creditledger._credit_raise('22023', 'limit_amount must not be negative',
            format('The value given was %s.', limit_amount));
    END IF;
    IF array_position(parents, NULL) IS NOT NULL THEN
        PERFORM creditledger._credit_raise('22004', 'parents must not contain NULL');
    END IF;
    IF valid_until IS NOT NULL AND valid_until <= valid_from THEN
        PERFORM creditledger._credit_raise('22023', 'valid_until must be later than valid_from',
            format('valid_from is %s, valid_until %s.', valid_from, valid_until));
    END IF;
    IF jsonb_typeof(metadata) <> 'object' THEN
        PERFORM creditledger._credit_raise('22023', 'metadata must be a JSON object');
    END IF;
    SELECT coalesce(array_agg(DISTINCT x ORDER BY x), '{}') INTO ps FROM unnest(parents) x;

    INSERT INTO creditledger.ledger_credit_lines
        (code, currency, limit_amount, revolving, valid_from, valid_until, metadata,
         created_limit, created_parents, valid_from_given)
    VALUES (code, currency, limit_amount, revolving, valid_from, valid_until, metadata,
            limit_amount, ps, valid_from <> now())
    ON CONFLICT ON CONSTRAINT ledger_credit_lines_code_key DO NOTHING
    RETURNING line_id INTO id;

    IF id IS NULL THEN
        SELECT * INTO l FROM creditledger.ledger_credit_lines x WHERE x.code = _create_credit_line.code;
        IF l.currency IS DISTINCT FROM currency OR l.created_limit <> limit_amount
           OR l.created_parents <> ps OR l.revolving <> revolving
           OR l.valid_until IS DISTINCT FROM valid_until OR l.metadata <> metadata
           OR NOT (l.valid_from = valid_from OR (NOT l.valid_from_given AND valid_from = now())) THEN
            PERFORM creditledger._credit_raise('LD004',
                format('credit line "%s" already exists with different attributes', code),
                format('Line %s was created with currency %s, limit %s, parents %s, revolving %s.',
                       l.line_id, l.currency, l.created_limit, l.created_parents, l.revolving),
                'Repeat the original call exactly, or use set_credit_limit/link_credit_line to change the line.');
        END IF;
        RETURN l.line_id;
    END IF;

    FOREACH pid IN ARRAY ps LOOP
        SELECT * INTO p FROM creditledger.ledger_credit_lines WHERE line_id = pid;
        IF NOT FOUND THEN
            PERFORM creditledger._credit_raise('LD006', format('credit line %s does not exist', pid),
                'Every parent must be an existing credit line.');
        END IF;
        IF p.currency <> currency THEN
            PERFORM creditledger._credit_raise('LD009',
                format('parent credit line %s is in %s, not %s', pid, p.currency, currency),
                'All lines of one credit graph share a currency.');
        END IF;
        INSERT INTO creditledger.credit_line_links (child_id, parent_id) VALUES (id, pid);
    END LOOP;
    RETURN id;
END
$$;
COMMENT ON FUNCTION creditledger._create_credit_line(text, text, bigint, bigint[], boolean, timestamptz, timestamptz, jsonb) IS
    'Body of the public function of the same name without the underscore (which counts the call and forwards it here); not callable by applications.';

CREATE FUNCTION creditledger._credit_line_id(code text)
RETURNS bigint LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id bigint;
BEGIN
    PERFORM creditledger._credit_require(code, 'code');
    SELECT line_id INTO id FROM creditledger.ledger_credit_lines l WHERE l.code = _credit_line_id.code;
    IF id IS NULL THEN
        PERFORM creditledger._credit_raise('LD006', format('credit line "%s" does not exist', code));
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION creditledger._credit_line_id(text) IS
    'Body of the public function of the same name without the underscore (which counts the call and forwards it here); not callable by applications.';

CREATE FUNCTION creditledger._link_credit_line(child bigint, parent bigint)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    c creditledger.ledger_credit_lines;
    p creditledger.ledger_credit_lines;
    x bigint;
    below bigint[];
    above bigint[];
    d record;
BEGIN
    PERFORM creditledger._credit_require(child, 'child');
    PERFORM creditledger._credit_require(parent, 'parent');
    PERFORM creditledger._credit_graph_lock(true);
    c := creditledger._credit_line(child);
    p := creditledger._credit_line(parent);
    IF c.currency <> p.currency THEN
        PERFORM creditledger._credit_raise('LD009',
            format('credit lines %s and %s have different currencies', child, parent),
            format('Line %s is in %s, line %s in %s.', child, c.currency, parent, p.currency));
    END IF;
    IF EXISTS (SELECT 1 FROM creditledger.credit_line_links
                WHERE child_id = child AND parent_id = parent) THEN
        RETURN;
    END IF;
    below := creditledger._credit_subtree(child);
    IF parent = ANY (below) THEN
        PERFORM creditledger._credit_raise('LD011',
            format('linking credit line %s under %s would make the credit graph cyclic', child, parent),
            format('Line %s is line %s or one of its descendants.', parent, child));
    END IF;

    -- Carry the subtree's own amounts to each new ancestor that does not
    -- already count them (a diamond is never counted twice).
    above := creditledger._credit_nodes(parent);
    PERFORM creditledger._credit_lock(above);
    FOREACH x IN ARRAY above LOOP
        SELECT coalesce(sum(o.frozen), 0)::bigint AS fd, coalesce(sum(o.used), 0)::bigint AS ud,
               coalesce(sum(o.returned), 0)::bigint AS rd INTO d
          FROM unnest(below) AS b(id)
          CROSS JOIN LATERAL (
              SELECT (SELECT coalesce(sum(h.remaining), 0) FROM creditledger.ledger_credit_holds h
                       WHERE h.line_id = b.id AND h.status = 'open') AS frozen,
                     (SELECT coalesce(sum(w.outstanding), 0) FROM creditledger.ledger_credit_drawdowns w
                       WHERE w.line_id = b.id) AS used,
                     (SELECT coalesce(sum(w.returned), 0) FROM creditledger.ledger_credit_drawdowns w
                       WHERE w.line_id = b.id) AS returned) o
         WHERE b.id <> ALL (creditledger._credit_subtree(x));
        IF d.fd <> 0 OR d.ud <> 0 OR d.rd <> 0 THEN
            PERFORM creditledger._credit_apply(x, 'link', format('link:%s:%s', child, parent),
                                               d.fd, d.ud, d.rd);
        END IF;
    END LOOP;
    INSERT INTO creditledger.credit_line_links (child_id, parent_id) VALUES (child, parent);
END
$$;
COMMENT ON FUNCTION creditledger._link_credit_line(bigint, bigint) IS
    'The usage part of link_credit_line: the link (control usage) and the carry of the child''s frozen/used/returned to its new usage ancestors; called by link_credit_line (credit_limits.c) only.';

-- Spreads a hot line's total headroom evenly over slices 1..n (a negative
-- total all on slice 1, so no slice can give any).  Caller holds the
-- exclusive graph lock.
CREATE FUNCTION creditledger._credit_spread_headroom(line bigint, n int, total bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_credit_spread_headroom_sql'
LANGUAGE C STRICT VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger._credit_spread_headroom(bigint, int, bigint) IS
    'Spreads a hot line''s headroom evenly over its slices (a negative total on slice 1 only): the one place a limit or slice-count change re-spreads a hot line.';

CREATE FUNCTION creditledger._credit_set_status(line bigint, new_status text, reason text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l creditledger.ledger_credit_lines;
BEGIN
    PERFORM creditledger._credit_require(line, 'line');
    PERFORM creditledger._credit_graph_lock(true);
    l := creditledger._credit_line(line);
    IF l.status = 'closed' AND new_status <> 'closed' THEN
        PERFORM creditledger._credit_raise('LD006', format('credit line %s is closed', line),
            'A closed line cannot be suspended or resumed.');
    END IF;
    UPDATE creditledger.ledger_credit_lines
       SET status = new_status, status_reason = reason
     WHERE line_id = line;
END
$$;
COMMENT ON FUNCTION creditledger._credit_set_status(bigint, text, text) IS
    'Sets a line''s status (active, suspended, closed) under the exclusive graph lock; a closed line stays closed (LD006).';

CREATE FUNCTION creditledger._set_credit_line_hot(line bigint, slices int)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l creditledger.ledger_credit_lines;
    s record;
    avail bigint;
    fref text;
BEGIN
    PERFORM creditledger._credit_require(line, 'line');
    PERFORM creditledger._credit_require(slices, 'slices');
    IF slices < 0 OR slices > 1024 THEN
        PERFORM creditledger._credit_raise('22023', 'slices must be between 0 and 1024',
            format('The value given was %s.', slices));
    END IF;
    PERFORM creditledger._credit_graph_lock(true);
    l := creditledger._credit_line(line);
    fref := format('fold:%s:%s', line, l.version + 1);
    -- Fold every slice's amounts back into the line's own chain.
    FOR s IN SELECT * FROM creditledger.credit_line_slices
              WHERE line_id = line AND (frozen <> 0 OR used <> 0 OR returned <> 0)
              ORDER BY slice FOR NO KEY UPDATE LOOP
        PERFORM creditledger._credit_post(line, s.slice, 'fold', fref, -s.frozen, -s.used, -s.returned, 0);
        PERFORM creditledger._credit_post(line, 0, 'fold', fref, s.frozen, s.used, s.returned, 0);
    END LOOP;
    UPDATE creditledger.credit_line_slices SET headroom = 0 WHERE line_id = line;
    UPDATE creditledger.ledger_credit_lines SET hot_slices = slices WHERE line_id = line;
    IF slices > 0 THEN
        INSERT INTO creditledger.credit_line_slices AS x (line_id, slice)
        SELECT line, g FROM generate_series(1, slices) g
        ON CONFLICT ON CONSTRAINT credit_line_slices_pkey DO NOTHING;
        SELECT * INTO l FROM creditledger.ledger_credit_lines WHERE line_id = line;
        PERFORM creditledger._credit_spread_headroom(line, slices, creditledger._credit_available(l));
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._set_credit_line_hot(bigint, int) IS
    'Body of the public function of the same name without the underscore (which counts the call and forwards it here); not callable by applications.';

-- Public credit functions (C wrappers: counted in stat_operations, then
-- forwarded to the _name function above).
CREATE FUNCTION creditledger.create_credit_line(code text, currency text, limit_amount bigint,
        parents bigint[] DEFAULT '{}', revolving boolean DEFAULT true,
        valid_from timestamptz DEFAULT now(), valid_until timestamptz DEFAULT NULL,
        metadata jsonb DEFAULT '{}')
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_create_credit_line' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.create_credit_line(text, text, bigint, bigint[], boolean, timestamptz, timestamptz, jsonb) IS
    'Creates a credit line under the given parents (idempotent on code: same attributes return the same id, different ones raise LD004).';

CREATE FUNCTION creditledger.credit_line_id(code text)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_line_id' LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp;
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
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.suspend_credit_line(bigint, text) IS
    'Suspends a line: it and every descendant refuse freeze, use and use_direct (LD006) until resumed.';

CREATE FUNCTION creditledger.resume_credit_line(line bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_resume_credit_line' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.resume_credit_line(bigint) IS
    'Resumes a suspended line.';

CREATE FUNCTION creditledger.close_credit_line(line bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_close_credit_line' LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.close_credit_line(bigint) IS
    'Closes a line for good: no new freezes or drawdowns under it; unfreeze and return still work.';

-- The default slice count is twice the concurrent callers of a busy
-- application (128 for 64): a slice is held from the change to the commit,
-- so with about as many slices as callers they still collide and queue
-- (README "Benchmarks": 64 slices gave 72-96% of the no-parent rate at 64
-- clients, 128 gave 100% and more).
CREATE FUNCTION creditledger.set_credit_line_hot(line bigint, slices int DEFAULT 128)
RETURNS void AS 'MODULE_PATHNAME', 'cl_set_credit_line_hot'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.set_credit_line_hot(bigint, int) IS
    'Makes a line hot: its headroom is kept in slices (default 128) taken with SKIP LOCKED (0 = not hot).';

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
