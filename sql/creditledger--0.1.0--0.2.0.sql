-- creditledger 0.1.0 -> 0.2.0: credit lines over a limit DAG.
--
-- Owns the credit tables (lines, links, hot-line slices, holds, drawdowns,
-- unfreeze/return operations, the chained credit journal), their views, the
-- credit_alerts view and the credit functions.  CREATE EXTENSION at 0.2.0
-- runs 0.1.0 and then this script, so a fresh install and an upgrade are the
-- same objects.
--
-- Locking protocol (README "Credit lines: concurrency"):
--   * the credit graph lock, an advisory lock on (17228, -1), is taken SHARED
--     by every operation that changes frozen/used/returned (freeze, unfreeze,
--     use, use_direct, return, expiry) and EXCLUSIVE by every operation that
--     changes the graph or a line's attributes (link, limit, suspend, resume,
--     close, hot slices).  Under the shared lock the topology, statuses,
--     limits and hot flags cannot change, so ancestors are computed once;
--   * a hold or drawdown row is locked (FOR NO KEY UPDATE) before any line;
--   * the rows of the lines an operation touches (the line and every
--     ancestor, each once) are locked FOR NO KEY UPDATE in ascending id order before
--     the first change; hot lines are not row-locked: one of their slices is
--     taken with FOR NO KEY UPDATE SKIP LOCKED, and all of them (ascending slice
--     order) only to gather headroom when no slice has enough;
--   * a reference is claimed with INSERT ... ON CONFLICT DO NOTHING, so two
--     sessions with one reference apply it once.
-- The internal functions (_credit_*) are SECURITY DEFINER with a pinned
-- search_path and are not executable by PUBLIC; the public credit functions
-- are C wrappers (credit.c) that count the call in stat_operations and
-- forward it to the internal function of the same name.

\echo Use "ALTER EXTENSION creditledger UPDATE TO '0.2.0'" to load this file. \quit

--------------------------------------------------------------------------
-- Tables
--------------------------------------------------------------------------

CREATE SEQUENCE creditledger.credit_line_id_seq;
CREATE SEQUENCE creditledger.credit_hold_id_seq;
CREATE SEQUENCE creditledger.credit_drawdown_id_seq;
CREATE SEQUENCE creditledger.credit_operation_id_seq;
CREATE SEQUENCE creditledger.credit_entry_id_seq;

CREATE TABLE creditledger.ledger_credit_lines (
    line_id            bigint PRIMARY KEY DEFAULT nextval('creditledger.credit_line_id_seq'),
    code               text NOT NULL UNIQUE,
    currency           text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    limit_amount       bigint NOT NULL CHECK (limit_amount >= 0),
    revolving          boolean NOT NULL,
    valid_from         timestamptz NOT NULL,
    valid_until        timestamptz,
    metadata           jsonb NOT NULL,
    status             text NOT NULL DEFAULT 'active'
                       CHECK (status IN ('active', 'suspended', 'closed')),
    status_reason      text,
    hot_slices         int NOT NULL DEFAULT 0 CHECK (hot_slices BETWEEN 0 AND 1024),
    frozen             bigint NOT NULL DEFAULT 0,
    used               bigint NOT NULL DEFAULT 0,
    returned           bigint NOT NULL DEFAULT 0,
    version            bigint NOT NULL DEFAULT 0,
    last_hash          bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    limit_decreased_at timestamptz,
    created_limit      bigint NOT NULL,
    created_parents    bigint[] NOT NULL,
    valid_from_given   boolean NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE creditledger.credit_line_id_seq OWNED BY creditledger.ledger_credit_lines.line_id;
COMMENT ON TABLE creditledger.ledger_credit_lines IS
    'Credit lines: attributes, and the head (frozen, used, returned, version, last hash) of the line''s own chain in the credit journal (slice 0). A node''s totals are this row plus its slices. created_* keep the creation arguments for idempotent re-creation. Written only by creditledger functions.';

CREATE TABLE creditledger.credit_line_links (
    child_id   bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    parent_id  bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    linked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (child_id, parent_id)
);
CREATE INDEX credit_line_links_parent_idx ON creditledger.credit_line_links (parent_id);
COMMENT ON TABLE creditledger.credit_line_links IS
    'Edges of the credit-line DAG (child under parent). Acyclic: link_credit_line refuses a cycle under the exclusive credit graph lock.';

CREATE TABLE creditledger.credit_line_slices (
    line_id    bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    slice      int NOT NULL CHECK (slice >= 1),
    headroom   bigint NOT NULL DEFAULT 0,
    frozen     bigint NOT NULL DEFAULT 0,
    used       bigint NOT NULL DEFAULT 0,
    returned   bigint NOT NULL DEFAULT 0,
    version    bigint NOT NULL DEFAULT 0,
    last_hash  bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    PRIMARY KEY (line_id, slice)
);
COMMENT ON TABLE creditledger.credit_line_slices IS
    'Slices 1..hot_slices of a hot credit line: each holds part of the line''s headroom (their sum is the line''s available amount, less what expiries freed since the last gather) and is the head of its own credit-journal chain. Taken with FOR NO KEY UPDATE SKIP LOCKED; gathered under locks on all slices when none has enough.';

CREATE TABLE creditledger.ledger_credit_holds (
    hold_id          bigint PRIMARY KEY DEFAULT nextval('creditledger.credit_hold_id_seq'),
    ref              text NOT NULL UNIQUE,
    line_id          bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    amount           bigint NOT NULL,
    expires_at       timestamptz,
    remaining        bigint NOT NULL,
    used_amount      bigint NOT NULL DEFAULT 0,
    released_amount  bigint NOT NULL DEFAULT 0,
    status           text NOT NULL DEFAULT 'open'
                     CHECK (status IN ('open', 'used', 'released', 'expired')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz
);
ALTER SEQUENCE creditledger.credit_hold_id_seq OWNED BY creditledger.ledger_credit_holds.hold_id;
CREATE INDEX ledger_credit_holds_line_idx ON creditledger.ledger_credit_holds (line_id) WHERE status = 'open';
CREATE INDEX ledger_credit_holds_due_idx ON creditledger.ledger_credit_holds (expires_at) WHERE status = 'open';
COMMENT ON TABLE creditledger.ledger_credit_holds IS
    'Holds (freezes): amount frozen on a line and its ancestors; remaining = amount - used_amount - released_amount while open. The ref is the hold''s idempotency key.';

CREATE TABLE creditledger.ledger_credit_drawdowns (
    drawdown_id  bigint PRIMARY KEY DEFAULT nextval('creditledger.credit_drawdown_id_seq'),
    ref          text NOT NULL UNIQUE,
    line_id      bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    hold_id      bigint REFERENCES creditledger.ledger_credit_holds,
    amount       bigint NOT NULL,
    outstanding  bigint NOT NULL,
    returned     bigint NOT NULL DEFAULT 0,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE creditledger.credit_drawdown_id_seq OWNED BY creditledger.ledger_credit_drawdowns.drawdown_id;
CREATE INDEX ledger_credit_drawdowns_line_idx ON creditledger.ledger_credit_drawdowns (line_id);
CREATE INDEX ledger_credit_drawdowns_hold_idx ON creditledger.ledger_credit_drawdowns (hold_id)
    WHERE hold_id IS NOT NULL;
COMMENT ON TABLE creditledger.ledger_credit_drawdowns IS
    'Drawdowns (credit_use from a hold, credit_use_direct without one; one ref namespace): amount drawn, outstanding = amount - returned. payload is the call''s arguments for replays.';

CREATE TABLE creditledger.credit_operations (
    operation_id bigint PRIMARY KEY DEFAULT nextval('creditledger.credit_operation_id_seq'),
    kind         text NOT NULL CHECK (kind IN ('unfreeze', 'return')),
    ref          text NOT NULL,
    target_id    bigint NOT NULL,
    amount       bigint NOT NULL,
    payload      jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, ref)
);
ALTER SEQUENCE creditledger.credit_operation_id_seq OWNED BY creditledger.credit_operations.operation_id;
COMMENT ON TABLE creditledger.credit_operations IS
    'Unfreezes (target: hold) and returns (target: drawdown), one ref namespace per kind; amount is what was applied.';

CREATE TABLE creditledger.credit_journal_entries (
    entry_id        bigint PRIMARY KEY DEFAULT nextval('creditledger.credit_entry_id_seq'),
    line_id         bigint NOT NULL,
    slice           int NOT NULL DEFAULT 0,
    version         bigint NOT NULL,
    op              text NOT NULL,
    ref             text NOT NULL,
    frozen_delta    bigint NOT NULL,
    used_delta      bigint NOT NULL,
    returned_delta  bigint NOT NULL,
    frozen_after    bigint NOT NULL,
    used_after      bigint NOT NULL,
    returned_after  bigint NOT NULL,
    prev_hash       bytea NOT NULL,
    hash            bytea NOT NULL,
    created_at      timestamptz NOT NULL,
    UNIQUE (line_id, slice, version)
);
ALTER SEQUENCE creditledger.credit_entry_id_seq OWNED BY creditledger.credit_journal_entries.entry_id;
COMMENT ON TABLE creditledger.credit_journal_entries IS
    'The chained credit journal: one row per change of a node''s frozen/used/returned, chained per (line_id, slice) by version and SHA-256 hash (CLC1 encoding, README). Append-only (guard triggers).';

CREATE TRIGGER credit_journal_entries_append_only
    BEFORE UPDATE OR DELETE ON creditledger.credit_journal_entries
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();
CREATE TRIGGER credit_journal_entries_no_truncate
    BEFORE TRUNCATE ON creditledger.credit_journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();

SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_credit_lines', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_line_links', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_line_slices', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_credit_holds', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_credit_drawdowns', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_operations', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_journal_entries', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_line_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_hold_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_drawdown_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_operation_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_entry_id_seq', '');

--------------------------------------------------------------------------
-- Hashing (C): the CLC1 canonical encoding, see credit.c and the README.
--------------------------------------------------------------------------

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

--------------------------------------------------------------------------
-- Views
--------------------------------------------------------------------------

CREATE VIEW creditledger.credit_lines AS
SELECT l.line_id, l.code, l.currency, l.limit_amount,
       l.frozen + coalesce(s.frozen, 0) AS frozen,
       l.used + coalesce(s.used, 0) AS used,
       l.returned + coalesce(s.returned, 0) AS returned,
       l.limit_amount - (l.frozen + coalesce(s.frozen, 0)) - (l.used + coalesce(s.used, 0))
           - CASE WHEN l.revolving THEN 0 ELSE l.returned + coalesce(s.returned, 0) END AS available,
       l.revolving,
       CASE WHEN l.status <> 'active' THEN l.status
            WHEN l.valid_until IS NOT NULL AND l.valid_until <= now() THEN 'expired'
            WHEN l.valid_from > now() THEN 'not_yet_valid'
            ELSE 'active' END AS status,
       l.valid_from, l.valid_until,
       ARRAY(SELECT k.parent_id FROM creditledger.credit_line_links k
              WHERE k.child_id = l.line_id ORDER BY k.parent_id) AS parents,
       l.hot_slices,
       CASE WHEN l.hot_slices > 0 THEN 'per_slice' ELSE 'line' END AS journal_chains,
       l.status_reason, l.limit_decreased_at, l.metadata, l.created_at
  FROM creditledger.ledger_credit_lines l
  LEFT JOIN LATERAL (SELECT sum(x.frozen)::bigint AS frozen, sum(x.used)::bigint AS used,
                            sum(x.returned)::bigint AS returned
                       FROM creditledger.credit_line_slices x
                      WHERE x.line_id = l.line_id) s ON true;
COMMENT ON VIEW creditledger.credit_lines IS
    'Every credit line with its totals (own and descendants''): frozen, used, returned, available = limit - frozen - used - (revolving ? 0 : returned); status active|suspended|closed|expired|not_yet_valid; journal_chains says whether its credit journal is one chain (line) or one per hot slice (per_slice).';

CREATE VIEW creditledger.credit_holds AS
SELECT h.hold_id, h.ref, h.line_id, h.amount, h.remaining, h.used_amount, h.released_amount,
       CASE WHEN h.status = 'open' AND h.expires_at <= now() THEN 'expired' ELSE h.status END AS status,
       h.expires_at, h.created_at, h.closed_at
  FROM creditledger.ledger_credit_holds h;
COMMENT ON VIEW creditledger.credit_holds IS
    'Holds. status open|used|released|expired; a hold past expires_at shows as expired (it can no longer be used or unfrozen) even before the worker or credit_expire_holds() releases its remaining amount.';

CREATE VIEW creditledger.credit_drawdowns AS
SELECT d.drawdown_id, d.ref, d.line_id, d.hold_id, d.amount, d.outstanding, d.returned,
       CASE WHEN d.hold_id IS NULL THEN 'direct' ELSE 'hold' END AS source,
       d.created_at
  FROM creditledger.ledger_credit_drawdowns d;
COMMENT ON VIEW creditledger.credit_drawdowns IS
    'Drawdowns with their outstanding (drawn, not yet returned) and returned amounts.';

CREATE VIEW creditledger.credit_journal AS
SELECT entry_id, line_id, slice, version, op, ref, frozen_delta, used_delta, returned_delta,
       frozen_after, used_after, returned_after, prev_hash, hash, created_at
  FROM creditledger.credit_journal_entries;
COMMENT ON VIEW creditledger.credit_journal IS
    'The chained credit journal (base table credit_journal_entries, same column names). slice 0 is a line''s own chain; hot lines chain per slice (1..N).';

CREATE VIEW creditledger.credit_alerts AS
WITH cfg AS (
    SELECT coalesce(nullif(pg_catalog.current_setting('creditledger.credit_alert_utilization', true), '')::float8, 0.9) AS util,
           coalesce(nullif(pg_catalog.current_setting('creditledger.credit_alert_expiring_within', true), '')::interval,
                    interval '7 days') AS horizon
), l AS (
    SELECT c.*, c.frozen + c.used + CASE WHEN c.revolving THEN 0 ELSE c.returned END AS consumed
      FROM creditledger.credit_lines c
)
SELECT l.line_id, l.code, 'utilization_high'::text AS kind,
       format('%s of %s consumed (%s%%), threshold %s%%', l.consumed, l.limit_amount,
              round(100.0 * l.consumed / l.limit_amount, 1), round(100 * cfg.util::numeric, 1)) AS detail
  FROM l, cfg
 WHERE l.limit_amount > 0 AND l.consumed >= cfg.util * l.limit_amount AND l.consumed <= l.limit_amount
   AND l.status <> 'closed'
UNION ALL
SELECT l.line_id, l.code, 'over_limit',
       format('%s consumed over a limit of %s', l.consumed, l.limit_amount)
  FROM l WHERE l.consumed > l.limit_amount
UNION ALL
SELECT l.line_id, l.code, 'expiring_soon', format('valid until %s', l.valid_until)
  FROM l, cfg
 WHERE l.valid_until > now() AND l.valid_until <= now() + cfg.horizon AND l.status <> 'closed'
UNION ALL
SELECT l.line_id, l.code, 'expired_with_outstanding',
       format('expired at %s with %s frozen and %s used', l.valid_until, l.frozen, l.used)
  FROM l WHERE l.valid_until <= now() AND (l.frozen <> 0 OR l.used <> 0)
UNION ALL
SELECT l.line_id, l.code, 'suspended_with_holds',
       format('suspended with %s frozen%s', l.frozen,
              coalesce(' (' || l.status_reason || ')', ''))
  FROM l WHERE l.status = 'suspended' AND l.frozen <> 0;
COMMENT ON VIEW creditledger.credit_alerts IS
    'Lines needing attention: utilization_high (consumed >= creditledger.credit_alert_utilization of the limit), over_limit, expiring_soon (valid_until within creditledger.credit_alert_expiring_within), expired_with_outstanding, suspended_with_holds.';

--------------------------------------------------------------------------
-- Internal helpers (SQL/PL/pgSQL, not executable by PUBLIC)
--------------------------------------------------------------------------

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
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('%s must not be NULL', name);
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_require(anyelement, text) IS
    'Raises 22004 when a required argument is NULL.';

CREATE FUNCTION creditledger._credit_check_ref(ref text, name text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF ref IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('%s must not be NULL', name);
    ELSIF ref = '' OR length(ref) > 128 THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = format('%s must be 1 to 128 characters', name),
            DETAIL = format('The value given has %s characters.', length(ref));
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_check_ref(text, text) IS
    'Raises 22004/22023 unless a reference is 1 to 128 characters.';

CREATE FUNCTION creditledger._credit_check_amount(amount bigint, name text DEFAULT 'amount')
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF amount IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('%s must not be NULL', name);
    ELSIF amount <= 0 THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must be positive', name),
            DETAIL = format('The value given was %s.', amount);
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_check_amount(bigint, text) IS
    'Raises 22004/22023 unless an amount is positive.';

CREATE FUNCTION creditledger._credit_conflict(what text, ref text, id bigint)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LD004',
        MESSAGE = format('%s reference "%s" was already used with a different payload', what, ref),
        DETAIL = format('Reference "%s" belongs to %s %s.', ref, what, id),
        HINT = 'Use a new reference for a new operation, or repeat the original call exactly.';
END
$$;
COMMENT ON FUNCTION creditledger._credit_conflict(text, text, bigint) IS
    'Raises LD004 for a reference reused with a different payload.';

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

-- The line and every ancestor, each once, ascending.
CREATE FUNCTION creditledger._credit_nodes(line bigint)
RETURNS bigint[] LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE up(id) AS (
        SELECT line
        UNION
        SELECT k.parent_id FROM creditledger.credit_line_links k JOIN up ON k.child_id = up.id
    )
    SELECT array_agg(id ORDER BY id) FROM up
$$;
COMMENT ON FUNCTION creditledger._credit_nodes(bigint) IS
    'The line and all its ancestors, each once, in ascending id order.';

-- The line and every descendant, each once.
CREATE FUNCTION creditledger._credit_subtree(line bigint)
RETURNS bigint[] LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE down(id) AS (
        SELECT line
        UNION
        SELECT k.child_id FROM creditledger.credit_line_links k JOIN down ON k.parent_id = down.id
    )
    SELECT array_agg(id ORDER BY id) FROM down
$$;
COMMENT ON FUNCTION creditledger._credit_subtree(bigint) IS
    'The line and all its descendants, each once, in ascending id order.';

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

CREATE FUNCTION creditledger._credit_check_usable(line bigint, nodes bigint[])
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l record;
    why text;
BEGIN
    FOR l IN SELECT * FROM creditledger.ledger_credit_lines
              WHERE line_id = ANY (nodes) ORDER BY line_id LOOP
        why := CASE WHEN l.status = 'suspended' THEN 'is suspended' || coalesce(' (' || l.status_reason || ')', '')
                    WHEN l.status = 'closed' THEN 'is closed'
                    WHEN l.valid_from > now() THEN format('is not valid before %s', l.valid_from)
                    WHEN l.valid_until IS NOT NULL AND l.valid_until <= now()
                        THEN format('expired at %s', l.valid_until)
               END;
        IF why IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'LD006',
                MESSAGE = format('credit line %s is unavailable', line),
                DETAIL = CASE WHEN l.line_id = line
                              THEN format('Line %s (%s) %s.', l.line_id, l.code, why)
                              ELSE format('Its ancestor line %s (%s) %s.', l.line_id, l.code, why) END,
                HINT = 'Unfreeze and return still work on this line; new freezes and drawdowns do not.';
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION creditledger._credit_check_usable(bigint, bigint[]) IS
    'LD006 unless the line and all its ancestors are active and within their validity window.';

-- Appends one entry to a chain (line row when slice = 0, else a slice) and
-- moves its head; the caller holds the row lock.
CREATE FUNCTION creditledger._credit_post(node bigint, slice_no int, op text, ref text,
        fd bigint, ud bigint, rd bigint, headroom_delta bigint)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h record;
    ts timestamptz := now();
    new_hash bytea;
BEGIN
    IF slice_no = 0 THEN
        SELECT frozen, used, returned, version, last_hash INTO h
          FROM creditledger.ledger_credit_lines WHERE line_id = node;
    ELSE
        SELECT frozen, used, returned, version, last_hash INTO h
          FROM creditledger.credit_line_slices WHERE line_id = node AND slice = slice_no;
    END IF;
    new_hash := creditledger._credit_entry_hash(h.last_hash, node, slice_no, h.version + 1, op, ref,
                    fd, ud, rd, h.frozen + fd, h.used + ud, h.returned + rd, ts);
    INSERT INTO creditledger.credit_journal_entries
        (line_id, slice, version, op, ref, frozen_delta, used_delta, returned_delta,
         frozen_after, used_after, returned_after, prev_hash, hash, created_at)
    VALUES (node, slice_no, h.version + 1, op, ref, fd, ud, rd,
            h.frozen + fd, h.used + ud, h.returned + rd, h.last_hash, new_hash, ts);
    IF slice_no = 0 THEN
        UPDATE creditledger.ledger_credit_lines
           SET frozen = h.frozen + fd, used = h.used + ud, returned = h.returned + rd,
               version = h.version + 1, last_hash = new_hash
         WHERE line_id = node;
    ELSE
        UPDATE creditledger.credit_line_slices
           SET frozen = h.frozen + fd, used = h.used + ud, returned = h.returned + rd,
               version = h.version + 1, last_hash = new_hash, headroom = headroom - headroom_delta
         WHERE line_id = node AND slice = slice_no;
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_post(bigint, int, text, text, bigint, bigint, bigint, bigint) IS
    'Appends one credit journal entry to the chain of a line (slice 0) or of one of its slices and moves the chain head; the caller holds its lock.';

CREATE FUNCTION creditledger._credit_shortfall(l creditledger.ledger_credit_lines, available bigint,
        needed bigint, op text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'LD002',
        MESSAGE = format('credit limit exceeded on credit line %s', l.line_id),
        DETAIL = format('Line %s (%s) has %s available of a limit of %s; the %s needs %s.',
                        l.line_id, l.code, available, l.limit_amount, op, needed),
        HINT = 'Release or return credit under that line, or raise its limit.';
END
$$;
COMMENT ON FUNCTION creditledger._credit_shortfall(creditledger.ledger_credit_lines, bigint, bigint, text) IS
    'Raises LD002 naming the node that lacks headroom and its available amount.';

-- Available amount of a non-hot node (its row; slices hold nothing then).
CREATE FUNCTION creditledger._credit_available(l creditledger.ledger_credit_lines)
RETURNS bigint LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
    SELECT l.limit_amount - l.frozen - l.used - CASE WHEN l.revolving THEN 0 ELSE l.returned END
$$;
COMMENT ON FUNCTION creditledger._credit_available(creditledger.ledger_credit_lines) IS
    'limit - frozen - used - (revolving ? 0 : returned) of a line row.';

-- Takes a slice of a hot line for a change that consumes no headroom
-- (needed <= 0): a slice in deficit first, else any free slice, else waits
-- for this backend's preferred one.  Returns it locked.
CREATE FUNCTION creditledger._credit_take_slice(l creditledger.ledger_credit_lines, needed bigint)
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int := l.hot_slices;
    s int;
    start int := pg_catalog.pg_backend_pid() % l.hot_slices;
BEGIN
    -- Headroom given back goes first to a slice in deficit (only a limit
    -- decrease makes one, on slice 1, with every other slice at zero), so no
    -- slice has headroom to give while the line as a whole has none.
    IF needed < 0 THEN
        SELECT slice INTO s FROM creditledger.credit_line_slices
         WHERE line_id = l.line_id AND slice <= n AND headroom < 0 LIMIT 1;
        IF FOUND THEN
            PERFORM 1 FROM creditledger.credit_line_slices
              WHERE line_id = l.line_id AND slice = s FOR NO KEY UPDATE;
            RETURN s;
        END IF;
    END IF;
    SELECT slice INTO s FROM creditledger.credit_line_slices
     WHERE line_id = l.line_id AND slice <= n
     ORDER BY (slice + start) % n
     LIMIT 1 FOR NO KEY UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        SELECT slice INTO s FROM creditledger.credit_line_slices
         WHERE line_id = l.line_id AND slice = start + 1 FOR NO KEY UPDATE;
    END IF;
    RETURN s;
END
$$;
COMMENT ON FUNCTION creditledger._credit_take_slice(creditledger.ledger_credit_lines, bigint) IS
    'Hot lines, a change that gives back or keeps headroom: the slice in deficit if any, else a free slice (SKIP LOCKED), else this backend''s preferred slice (waiting).';

-- Gathers a hot line's headroom for a change consuming `needed`: locks
-- every slice in ascending order, recomputes the line's available amount,
-- refuses (LD002) if it lacks `needed`, else spreads it again with `needed`
-- extra on this backend's preferred slice, which it returns (locked).
CREATE FUNCTION creditledger._credit_gather(l creditledger.ledger_credit_lines, needed bigint, op text)
RETURNS int LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n int := l.hot_slices;
    s int := pg_catalog.pg_backend_pid() % l.hot_slices + 1;
    total bigint;
    rest bigint;
BEGIN
    PERFORM 1 FROM creditledger.credit_line_slices
      WHERE line_id = l.line_id AND slice <= n ORDER BY slice FOR NO KEY UPDATE;
    -- the headroom is recomputed from the line's totals: the slices (locked)
    -- and its own row, which only expiries change concurrently (downwards),
    -- so this never counts headroom the line does not have
    SELECT available INTO total FROM creditledger.credit_lines WHERE line_id = l.line_id;
    IF total < needed THEN
        PERFORM creditledger._credit_shortfall(l, total, needed, op);
    END IF;
    rest := total - needed;
    UPDATE creditledger.credit_line_slices
       SET headroom = rest / n + CASE WHEN slice = s THEN needed + rest % n ELSE 0 END
     WHERE line_id = l.line_id AND slice <= n;
    RETURN s;
END
$$;
COMMENT ON FUNCTION creditledger._credit_gather(creditledger.ledger_credit_lines, bigint, text) IS
    'Hot lines: all slices locked in order, LD002 if the line lacks the headroom, else the headroom spread again with what is needed on one slice.';

-- Applies a change of frozen/used/returned to one node (the caller locked
-- the non-hot nodes in ascending order).  A change that consumes headroom
-- is checked against the node's available amount (due holds were released
-- before any lock was taken: _credit_release_due).
CREATE FUNCTION creditledger._credit_apply(node bigint, op text, ref text,
        fd bigint, ud bigint, rd bigint)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l creditledger.ledger_credit_lines;
    needed bigint;
    avail bigint;
    s int;
BEGIN
    SELECT * INTO l FROM creditledger.ledger_credit_lines WHERE line_id = node;
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
    'Applies one change of frozen/used/returned to one node (row or hot slice), refusing with LD002 a change that would leave it below zero available.';

CREATE FUNCTION creditledger._credit_apply_all(nodes bigint[], op text, ref text,
        fd bigint, ud bigint, rd bigint)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    n bigint;
BEGIN
    FOREACH n IN ARRAY nodes LOOP
        PERFORM creditledger._credit_apply(n, op, ref, fd, ud, rd);
    END LOOP;
END
$$;
COMMENT ON FUNCTION creditledger._credit_apply_all(bigint[], text, text, bigint, bigint, bigint) IS
    'Applies one change to every node of a set (the line and its ancestors), in ascending order.';

-- Releases the remaining amount of locked, open holds as expiries.  The
-- rows of every line involved (the holds' lines and ancestors, and
-- also_lock: the lines of the operation that asked) are locked in one
-- ascending pass first, before any slice.
CREATE FUNCTION creditledger._credit_expire(holds bigint[], also_lock bigint[] DEFAULT '{}')
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h creditledger.ledger_credit_holds;
    all_nodes bigint[];
    done bigint := 0;
    node bigint;
BEGIN
    IF holds IS NULL OR cardinality(holds) = 0 THEN
        RETURN 0;
    END IF;
    SELECT array_agg(DISTINCT n ORDER BY n) INTO all_nodes
      FROM (SELECT unnest(creditledger._credit_nodes(x.line_id)) AS n
              FROM creditledger.ledger_credit_holds x WHERE x.hold_id = ANY (holds)
            UNION ALL
            SELECT unnest(also_lock)) u;
    PERFORM creditledger._credit_lock(all_nodes, true);
    FOR h IN SELECT * FROM creditledger.ledger_credit_holds
              WHERE hold_id = ANY (holds) AND status = 'open' ORDER BY hold_id LOOP
        -- A release needs no headroom check, and goes to each line's own row,
        -- hot lines included (locked above, in order): releasing due holds
        -- never takes a slice; the headroom it frees reaches a hot line's
        -- slices at their next gather.
        IF h.remaining > 0 THEN
            FOREACH node IN ARRAY creditledger._credit_nodes(h.line_id) LOOP
                PERFORM creditledger._credit_post(node, 0, 'expire', h.ref, -h.remaining, 0, 0, 0);
            END LOOP;
        END IF;
        UPDATE creditledger.ledger_credit_holds
           SET released_amount = released_amount + remaining, remaining = 0,
               status = 'expired', closed_at = now()
         WHERE hold_id = h.hold_id;
        done := done + 1;
    END LOOP;
    RETURN done;
END
$$;
COMMENT ON FUNCTION creditledger._credit_expire(bigint[], bigint[]) IS
    'Releases the remaining amount of the given (locked, open, due) holds on their line and ancestors, journalled as op expire, after locking every line involved (and also_lock) in ascending order.';

-- Before a change that needs `needed` of headroom at every node takes any
-- lock: releases the due holds under each node that looks short, so a
-- freeze is not refused for headroom that only an unreleased expired hold
-- occupies.  Holds busy in another transaction are skipped (the worker
-- gets them).  The operation's own lines (nodes) are locked in the same
-- ascending pass as the holds' lines, so its later _credit_lock takes no
-- line out of order.
CREATE FUNCTION creditledger._credit_release_due(nodes bigint[], needed bigint)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    due bigint[];
BEGIN
    -- the common case, nothing due anywhere, costs one probe of the due index
    IF NOT EXISTS (SELECT 1 FROM creditledger.ledger_credit_holds
                    WHERE status = 'open' AND expires_at <= now()) THEN
        RETURN 0;
    END IF;
    SELECT array_agg(hold_id) INTO due FROM (
        SELECT h.hold_id FROM creditledger.ledger_credit_holds h
         WHERE h.status = 'open' AND h.expires_at <= now()
           AND h.line_id IN (SELECT unnest(creditledger._credit_subtree(c.line_id))
                               FROM creditledger.credit_lines c
                              WHERE c.line_id = ANY (nodes) AND c.available < needed)
         ORDER BY h.hold_id FOR NO KEY UPDATE SKIP LOCKED) d;
    RETURN creditledger._credit_expire(due, nodes);
END
$$;
COMMENT ON FUNCTION creditledger._credit_release_due(bigint[], bigint) IS
    'Releases the due holds under every node (of a line and its ancestors) that has less than the needed headroom, before the operation takes its locks; returns how many.';

--------------------------------------------------------------------------
-- Credit operations (PL/pgSQL bodies; the public names are C wrappers)
--------------------------------------------------------------------------

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

-- Spreads a hot line's total headroom evenly over slices 1..n (a negative
-- total all on slice 1, so no slice can give any).  Caller holds the
-- exclusive graph lock.
CREATE FUNCTION creditledger._credit_spread_headroom(line bigint, n int, total bigint)
RETURNS void LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$
    UPDATE creditledger.credit_line_slices
       SET headroom = CASE WHEN total < 0 THEN CASE WHEN slice = 1 THEN total ELSE 0 END
                           ELSE total / n + CASE WHEN slice = 1 THEN total % n ELSE 0 END END
     WHERE line_id = line AND slice <= n
$$;
COMMENT ON FUNCTION creditledger._credit_spread_headroom(bigint, int, bigint) IS
    'Spreads a hot line''s headroom evenly over its slices (a negative total on slice 1 only).';

CREATE FUNCTION creditledger._set_credit_limit(line bigint, limit_amount bigint)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    l creditledger.ledger_credit_lines;
BEGIN
    PERFORM creditledger._credit_require(line, 'line');
    PERFORM creditledger._credit_require(limit_amount, 'limit_amount');
    IF limit_amount < 0 THEN
        PERFORM creditledger._credit_raise('22023', 'limit_amount must not be negative',
            format('The value given was %s.', limit_amount));
    END IF;
    PERFORM creditledger._credit_graph_lock(true);
    l := creditledger._credit_line(line);
    UPDATE creditledger.ledger_credit_lines x
       SET limit_amount = _set_credit_limit.limit_amount,
           limit_decreased_at = CASE WHEN _set_credit_limit.limit_amount < l.limit_amount
                                     THEN now() ELSE x.limit_decreased_at END
     WHERE line_id = line;
    IF l.hot_slices > 0 THEN
        -- spread the new headroom again; below zero it all sits on slice 1,
        -- so no slice has any to give until the line is back within its limit
        PERFORM creditledger._credit_spread_headroom(line, l.hot_slices,
            (SELECT c.available FROM creditledger.credit_lines c WHERE c.line_id = line));
    END IF;
END
$$;

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

CREATE FUNCTION creditledger._suspend_credit_line(line bigint, reason text)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT creditledger._credit_set_status(line, 'suspended', reason)
$$;

CREATE FUNCTION creditledger._resume_credit_line(line bigint)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT creditledger._credit_set_status(line, 'active', NULL)
$$;

CREATE FUNCTION creditledger._close_credit_line(line bigint)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT creditledger._credit_set_status(line, 'closed', NULL)
$$;

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

CREATE FUNCTION creditledger._credit_freeze(line bigint, amount bigint, ref text,
        expires_at timestamptz)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h creditledger.ledger_credit_holds;
    id bigint;
    nodes bigint[];
BEGIN
    PERFORM creditledger._credit_require(line, 'line');
    PERFORM creditledger._credit_check_amount(amount);
    PERFORM creditledger._credit_check_ref(ref, 'ref');
    PERFORM creditledger._credit_graph_lock(false);

    SELECT * INTO h FROM creditledger.ledger_credit_holds x WHERE x.ref = _credit_freeze.ref;
    IF NOT FOUND THEN
        IF expires_at IS NOT NULL AND expires_at <= now() THEN
            PERFORM creditledger._credit_raise('22023', 'expires_at must be in the future',
                format('The value given was %s.', expires_at));
        END IF;
        PERFORM creditledger._credit_line(line);
        INSERT INTO creditledger.ledger_credit_holds (ref, line_id, amount, remaining, expires_at)
        VALUES (ref, line, amount, amount, expires_at)
        ON CONFLICT ON CONSTRAINT ledger_credit_holds_ref_key DO NOTHING
        RETURNING hold_id INTO id;
        IF id IS NULL THEN
            SELECT * INTO h FROM creditledger.ledger_credit_holds x WHERE x.ref = _credit_freeze.ref;
        END IF;
    END IF;
    IF id IS NULL THEN
        IF h.line_id <> line OR h.amount <> amount OR h.expires_at IS DISTINCT FROM expires_at THEN
            PERFORM creditledger._credit_conflict('hold', ref, h.hold_id);
        END IF;
        RETURN h.hold_id;
    END IF;

    nodes := creditledger._credit_nodes(line);
    PERFORM creditledger._credit_release_due(nodes, amount);
    PERFORM creditledger._credit_lock(nodes);
    PERFORM creditledger._credit_check_usable(line, nodes);
    PERFORM creditledger._credit_apply_all(nodes, 'freeze', ref, amount, 0, 0);
    RETURN id;
END
$$;

-- Locks a hold by its ref; LD007 if unknown.
CREATE FUNCTION creditledger._credit_lock_hold(hold_ref text)
RETURNS creditledger.ledger_credit_holds
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h creditledger.ledger_credit_holds;
BEGIN
    SELECT * INTO h FROM creditledger.ledger_credit_holds WHERE ref = hold_ref FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM creditledger._credit_raise('LD007', format('hold "%s" does not exist', hold_ref));
    END IF;
    RETURN h;
END
$$;
COMMENT ON FUNCTION creditledger._credit_lock_hold(text) IS
    'Locks the hold with this ref (FOR NO KEY UPDATE); LD007 if unknown.';

-- LD007 unless the locked hold is open, not due, and has `amount` left.
CREATE FUNCTION creditledger._credit_check_hold(h creditledger.ledger_credit_holds, amount bigint, what text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF h.status <> 'open' THEN
        PERFORM creditledger._credit_raise('LD007', format('hold "%s" is not open', h.ref),
            format('Hold %s is %s.', h.hold_id, h.status));
    END IF;
    IF h.expires_at <= now() THEN
        PERFORM creditledger._credit_raise('LD007', format('hold "%s" has expired', h.ref),
            format('Hold %s expired at %s; its amount counts as released.', h.hold_id, h.expires_at));
    END IF;
    IF amount > h.remaining THEN
        PERFORM creditledger._credit_raise('LD007',
            format('cannot %s %s of hold "%s"', what, amount, h.ref),
            format('Hold %s has %s remaining.', h.hold_id, h.remaining));
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_check_hold(creditledger.ledger_credit_holds, bigint, text) IS
    'LD007 unless a locked hold is open, not past expires_at, and has the amount remaining.';

-- The id of an earlier call with this reference (what: 'unfreeze' or
-- 'return', in credit_operations; 'drawdown', in ledger_credit_drawdowns):
-- NULL if there is none, LD004 if its payload differs.
CREATE FUNCTION creditledger._credit_replay(what text, ref text, payload jsonb)
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    id bigint;
    stored jsonb;
BEGIN
    IF what = 'drawdown' THEN
        SELECT d.drawdown_id, d.payload INTO id, stored
          FROM creditledger.ledger_credit_drawdowns d WHERE d.ref = _credit_replay.ref;
    ELSE
        SELECT o.operation_id, o.payload INTO id, stored
          FROM creditledger.credit_operations o WHERE o.kind = what AND o.ref = _credit_replay.ref;
    END IF;
    IF id IS NOT NULL AND stored <> payload THEN
        PERFORM creditledger._credit_conflict(what, ref, id);
    END IF;
    RETURN id;
END
$$;
COMMENT ON FUNCTION creditledger._credit_replay(text, text, jsonb) IS
    'The id of an earlier unfreeze, return or drawdown with this reference; NULL if none, LD004 if its payload differs.';

-- Claims an unfreeze's or a return's reference: the new operation's id, or
-- (replayed) the id of the call that claimed it first, which committed
-- while this one waited on the unique index.
CREATE FUNCTION creditledger._credit_claim_operation(kind text, ref text, target_id bigint,
        amount bigint, payload jsonb, OUT id bigint, OUT replayed boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO creditledger.credit_operations (kind, ref, target_id, amount, payload)
    VALUES (kind, ref, target_id, amount, payload)
    ON CONFLICT ON CONSTRAINT credit_operations_kind_ref_key DO NOTHING
    RETURNING operation_id INTO id;
    replayed := id IS NULL;
    IF replayed THEN
        id := creditledger._credit_replay(kind, ref, payload);
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_claim_operation(text, text, bigint, bigint, jsonb) IS
    'Claims an unfreeze or return reference (INSERT ... ON CONFLICT DO NOTHING): the new id, or the first call''s id (replayed) or LD004.';

-- Claims a drawdown's reference, as _credit_claim_operation does.
CREATE FUNCTION creditledger._credit_claim_drawdown(ref text, line_id bigint, hold_id bigint,
        amount bigint, payload jsonb, OUT id bigint, OUT replayed boolean)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO creditledger.ledger_credit_drawdowns (ref, line_id, hold_id, amount, outstanding, payload)
    VALUES (ref, line_id, hold_id, amount, amount, payload)
    ON CONFLICT ON CONSTRAINT ledger_credit_drawdowns_ref_key DO NOTHING
    RETURNING drawdown_id INTO id;
    replayed := id IS NULL;
    IF replayed THEN
        id := creditledger._credit_replay('drawdown', ref, payload);
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger._credit_claim_drawdown(text, bigint, bigint, bigint, jsonb) IS
    'Claims a drawdown reference (credit_use and credit_use_direct share it): the new id, or the first call''s id (replayed) or LD004.';

CREATE FUNCTION creditledger._credit_unfreeze(hold_ref text, ref text, amount bigint)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h creditledger.ledger_credit_holds;
    claim record;
    payload jsonb := jsonb_build_object('hold_ref', hold_ref, 'amount', amount);
    amt bigint;
    id bigint;
    nodes bigint[];
BEGIN
    PERFORM creditledger._credit_check_ref(hold_ref, 'hold_ref');
    PERFORM creditledger._credit_check_ref(ref, 'ref');
    IF amount IS NOT NULL THEN
        PERFORM creditledger._credit_check_amount(amount);
    END IF;
    PERFORM creditledger._credit_graph_lock(false);

    id := creditledger._credit_replay('unfreeze', ref, payload);
    IF id IS NOT NULL THEN
        RETURN id;
    END IF;
    h := creditledger._credit_lock_hold(hold_ref);
    amt := coalesce(amount, h.remaining);
    SELECT * INTO claim FROM creditledger._credit_claim_operation('unfreeze', ref, h.hold_id, amt, payload);
    IF claim.replayed THEN
        RETURN claim.id;
    END IF;
    id := claim.id;

    PERFORM creditledger._credit_check_hold(h, amt, 'unfreeze');
    IF amt = 0 THEN
        PERFORM creditledger._credit_raise('LD007', format('hold "%s" has nothing left to unfreeze', hold_ref));
    END IF;
    nodes := creditledger._credit_nodes(h.line_id);
    PERFORM creditledger._credit_lock(nodes);
    PERFORM creditledger._credit_apply_all(nodes, 'unfreeze', ref, -amt, 0, 0);
    UPDATE creditledger.ledger_credit_holds
       SET remaining = remaining - amt, released_amount = released_amount + amt,
           status = CASE WHEN remaining - amt > 0 THEN 'open'
                         WHEN used_amount > 0 THEN 'used' ELSE 'released' END,
           closed_at = CASE WHEN remaining - amt > 0 THEN NULL ELSE now() END
     WHERE hold_id = h.hold_id;
    RETURN id;
END
$$;

CREATE FUNCTION creditledger._credit_use(hold_ref text, ref text, amount bigint, release_rest boolean)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    h creditledger.ledger_credit_holds;
    claim record;
    payload jsonb := jsonb_build_object('kind', 'use', 'hold_ref', hold_ref, 'amount', amount,
                                        'release_rest', release_rest);
    amt bigint;
    rest bigint;
    id bigint;
    nodes bigint[];
BEGIN
    PERFORM creditledger._credit_check_ref(hold_ref, 'hold_ref');
    PERFORM creditledger._credit_check_ref(ref, 'ref');
    IF amount IS NOT NULL THEN
        PERFORM creditledger._credit_check_amount(amount);
    END IF;
    PERFORM creditledger._credit_require(release_rest, 'release_rest');
    PERFORM creditledger._credit_graph_lock(false);

    id := creditledger._credit_replay('drawdown', ref, payload);
    IF id IS NOT NULL THEN
        RETURN id;
    END IF;
    h := creditledger._credit_lock_hold(hold_ref);
    amt := coalesce(amount, h.remaining);
    SELECT * INTO claim FROM creditledger._credit_claim_drawdown(ref, h.line_id, h.hold_id, amt, payload);
    IF claim.replayed THEN
        RETURN claim.id;
    END IF;
    id := claim.id;

    PERFORM creditledger._credit_check_hold(h, amt, 'use');
    IF amt = 0 THEN
        PERFORM creditledger._credit_raise('LD007', format('hold "%s" has nothing left to use', hold_ref));
    END IF;
    rest := CASE WHEN release_rest THEN h.remaining - amt ELSE 0 END;
    nodes := creditledger._credit_nodes(h.line_id);
    PERFORM creditledger._credit_lock(nodes);
    PERFORM creditledger._credit_check_usable(h.line_id, nodes);
    PERFORM creditledger._credit_apply_all(nodes, 'use', ref, -(amt + rest), amt, 0);
    UPDATE creditledger.ledger_credit_holds
       SET remaining = remaining - amt - rest, used_amount = used_amount + amt,
           released_amount = released_amount + rest,
           status = CASE WHEN remaining - amt - rest > 0 THEN 'open' ELSE 'used' END,
           closed_at = CASE WHEN remaining - amt - rest > 0 THEN NULL ELSE now() END
     WHERE hold_id = h.hold_id;
    RETURN id;
END
$$;

CREATE FUNCTION creditledger._credit_use_direct(line bigint, amount bigint, ref text)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    claim record;
    payload jsonb := jsonb_build_object('kind', 'direct', 'line', line, 'amount', amount);
    id bigint;
    nodes bigint[];
BEGIN
    PERFORM creditledger._credit_require(line, 'line');
    PERFORM creditledger._credit_check_amount(amount);
    PERFORM creditledger._credit_check_ref(ref, 'ref');
    PERFORM creditledger._credit_graph_lock(false);

    id := creditledger._credit_replay('drawdown', ref, payload);
    IF id IS NOT NULL THEN
        RETURN id;
    END IF;
    PERFORM creditledger._credit_line(line);
    SELECT * INTO claim FROM creditledger._credit_claim_drawdown(ref, line, NULL, amount, payload);
    IF claim.replayed THEN
        RETURN claim.id;
    END IF;
    id := claim.id;

    nodes := creditledger._credit_nodes(line);
    PERFORM creditledger._credit_release_due(nodes, amount);
    PERFORM creditledger._credit_lock(nodes);
    PERFORM creditledger._credit_check_usable(line, nodes);
    PERFORM creditledger._credit_apply_all(nodes, 'use', ref, 0, amount, 0);
    RETURN id;
END
$$;

CREATE FUNCTION creditledger._credit_return(drawdown_ref text, ref text, amount bigint)
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    d creditledger.ledger_credit_drawdowns;
    claim record;
    payload jsonb := jsonb_build_object('drawdown_ref', drawdown_ref, 'amount', amount);
    id bigint;
    nodes bigint[];
BEGIN
    PERFORM creditledger._credit_check_ref(drawdown_ref, 'drawdown_ref');
    PERFORM creditledger._credit_check_ref(ref, 'ref');
    PERFORM creditledger._credit_check_amount(amount);
    PERFORM creditledger._credit_graph_lock(false);

    id := creditledger._credit_replay('return', ref, payload);
    IF id IS NOT NULL THEN
        RETURN id;
    END IF;
    SELECT * INTO d FROM creditledger.ledger_credit_drawdowns x WHERE x.ref = drawdown_ref FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        PERFORM creditledger._credit_raise('LD008', format('drawdown "%s" does not exist', drawdown_ref));
    END IF;
    SELECT * INTO claim FROM creditledger._credit_claim_operation('return', ref, d.drawdown_id, amount, payload);
    IF claim.replayed THEN
        RETURN claim.id;
    END IF;
    id := claim.id;

    IF amount > d.outstanding THEN
        PERFORM creditledger._credit_raise('LD008',
            format('cannot return %s of drawdown "%s"', amount, drawdown_ref),
            format('Drawdown %s has %s outstanding.', d.drawdown_id, d.outstanding));
    END IF;
    nodes := creditledger._credit_nodes(d.line_id);
    PERFORM creditledger._credit_lock(nodes);
    PERFORM creditledger._credit_apply_all(nodes, 'return', ref, 0, -amount, amount);
    UPDATE creditledger.ledger_credit_drawdowns
       SET outstanding = outstanding - _credit_return.amount, returned = returned + _credit_return.amount
     WHERE drawdown_id = d.drawdown_id;
    RETURN id;
END
$$;

CREATE FUNCTION creditledger._credit_expire_holds()
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    due bigint[];
BEGIN
    PERFORM creditledger._credit_graph_lock(false);
    SELECT array_agg(hold_id) INTO due FROM (
        SELECT hold_id FROM creditledger.ledger_credit_holds
         WHERE status = 'open' AND expires_at <= now()
         ORDER BY hold_id FOR NO KEY UPDATE SKIP LOCKED) d;
    RETURN creditledger._credit_expire(due);
END
$$;

DO $$
DECLARE
    f text;
BEGIN
    FOREACH f IN ARRAY ARRAY[
        '_create_credit_line(text, text, bigint, bigint[], boolean, timestamptz, timestamptz, jsonb)',
        '_credit_line_id(text)', '_link_credit_line(bigint, bigint)',
        '_set_credit_limit(bigint, bigint)', '_suspend_credit_line(bigint, text)',
        '_resume_credit_line(bigint)', '_close_credit_line(bigint)',
        '_set_credit_line_hot(bigint, int)',
        '_credit_freeze(bigint, bigint, text, timestamptz)',
        '_credit_unfreeze(text, text, bigint)', '_credit_use(text, text, bigint, boolean)',
        '_credit_use_direct(bigint, bigint, text)', '_credit_return(text, text, bigint)',
        '_credit_expire_holds()'] LOOP
        EXECUTE format('COMMENT ON FUNCTION creditledger.%s IS %L', f,
            'Body of the public function of the same name without the underscore (which counts the call and forwards it here); not callable by applications.');
    END LOOP;
END
$$;

--------------------------------------------------------------------------
-- Public credit functions (C wrappers: counted in stat_operations, then
-- forwarded to the _name function above).
--------------------------------------------------------------------------

CREATE FUNCTION creditledger.create_credit_line(code text, currency text, limit_amount bigint,
        parents bigint[] DEFAULT '{}', revolving boolean DEFAULT true,
        valid_from timestamptz DEFAULT now(), valid_until timestamptz DEFAULT NULL,
        metadata jsonb DEFAULT '{}')
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_create_credit_line' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.create_credit_line(text, text, bigint, bigint[], boolean, timestamptz, timestamptz, jsonb) IS
    'Creates a credit line under the given parents (idempotent on code: same attributes return the same id, different ones raise LD004).';

CREATE FUNCTION creditledger.credit_line_id(code text)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_line_id' LANGUAGE C STABLE;
COMMENT ON FUNCTION creditledger.credit_line_id(text) IS
    'The id of the credit line with this code; LD006 if there is none.';

CREATE FUNCTION creditledger.link_credit_line(child bigint, parent bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_link_credit_line' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.link_credit_line(bigint, bigint) IS
    'Puts child under parent, carrying the child''s frozen/used/returned to the new ancestors (LD002 if they do not fit, LD011 on a cycle, LD009 across currencies).';

CREATE FUNCTION creditledger.set_credit_limit(line bigint, limit_amount bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_set_credit_limit' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.set_credit_limit(bigint, bigint) IS
    'Changes a line''s limit; a limit below current utilisation is allowed and blocks new freezes until the line is back within it.';

CREATE FUNCTION creditledger.suspend_credit_line(line bigint, reason text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'cl_suspend_credit_line' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.suspend_credit_line(bigint, text) IS
    'Suspends a line: it and every descendant refuse freeze, use and use_direct (LD006) until resumed.';

CREATE FUNCTION creditledger.resume_credit_line(line bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_resume_credit_line' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.resume_credit_line(bigint) IS
    'Resumes a suspended line.';

CREATE FUNCTION creditledger.close_credit_line(line bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_close_credit_line' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.close_credit_line(bigint) IS
    'Closes a line for good: no new freezes or drawdowns under it; unfreeze and return still work.';

CREATE FUNCTION creditledger.set_credit_line_hot(line bigint, slices int DEFAULT 16)
RETURNS void AS 'MODULE_PATHNAME', 'cl_set_credit_line_hot' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.set_credit_line_hot(bigint, int) IS
    'Makes a line hot: its headroom is kept in slices taken with SKIP LOCKED (0 = not hot).';

CREATE FUNCTION creditledger.credit_freeze(line bigint, amount bigint, ref text,
        expires_at timestamptz DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_freeze' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.credit_freeze(bigint, bigint, text, timestamptz) IS
    'Freezes (holds) amount on the line and every ancestor; idempotent on ref; returns the hold id.';

CREATE FUNCTION creditledger.credit_unfreeze(hold_ref text, ref text, amount bigint DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_unfreeze' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.credit_unfreeze(text, text, bigint) IS
    'Releases amount (default: all that remains) of a hold; idempotent on ref; returns the operation id.';

CREATE FUNCTION creditledger.credit_use(hold_ref text, ref text, amount bigint DEFAULT NULL,
        release_rest boolean DEFAULT false)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_use' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.credit_use(text, text, bigint, boolean) IS
    'Draws amount (default: all that remains) of a hold, optionally releasing the rest; idempotent on ref; returns the drawdown id.';

CREATE FUNCTION creditledger.credit_use_direct(line bigint, amount bigint, ref text)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_use_direct' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.credit_use_direct(bigint, bigint, text) IS
    'Draws amount on a line without a hold; idempotent on ref (shared with credit_use); returns the drawdown id.';

CREATE FUNCTION creditledger.credit_return(drawdown_ref text, ref text, amount bigint)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_return' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.credit_return(text, text, bigint) IS
    'Repays amount of a drawdown (at most its outstanding); idempotent on ref; returns the operation id.';

CREATE FUNCTION creditledger.credit_expire_holds()
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_expire_holds' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION creditledger.credit_expire_holds() IS
    'Releases every open hold past its expires_at (as the background worker does); returns how many.';

CREATE FUNCTION creditledger.credit_line_state(line bigint)
RETURNS TABLE(line_id bigint, code text, currency text, limit_amount bigint, frozen bigint,
              used bigint, returned bigint, available bigint, revolving boolean, status text,
              valid_from timestamptz, valid_until timestamptz)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM creditledger._credit_require(line, 'line');
    RETURN QUERY
        SELECT c.line_id, c.code, c.currency, c.limit_amount, c.frozen, c.used, c.returned,
               c.available, c.revolving, c.status, c.valid_from, c.valid_until
          FROM creditledger.credit_lines c WHERE c.line_id = line;
    IF NOT FOUND THEN
        PERFORM creditledger._credit_raise('LD006', format('credit line %s does not exist', line));
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger.credit_line_state(bigint) IS
    'One row describing the line (totals own and descendants''); LD006 if unknown.';


--------------------------------------------------------------------------
-- BCP reconciliation (业务核对): rules, runs and history.
--
-- A rule is a query returning one row per mismatch.  bcp_run runs rules with
-- the CALLER's rights (SECURITY INVOKER: an auditor needs SELECT on what a
-- rule reads; setup_roles grants creditledger_auditor read access to the
-- ledger tables), each inside its own subtransaction so an error becomes
-- status 'error' instead of aborting the run, and writes history only when
-- record => true (through a SECURITY DEFINER helper), so record => false
-- works on a read-only hot standby.  Locking: rules only read, with each
-- rule's own snapshot; history rows are appended.
--------------------------------------------------------------------------

CREATE TABLE creditledger.bcp_rules (
    name         text PRIMARY KEY CHECK (name ~ '^[a-z0-9_:.-]{1,63}$'),
    description  text,
    severity     text NOT NULL DEFAULT 'critical' CHECK (severity IN ('critical', 'warning')),
    check_sql    text NOT NULL,
    enabled      boolean NOT NULL DEFAULT true,
    builtin      boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE creditledger.bcp_rules IS
    'BCP rules: check_sql returns one row per mismatch (no rows = the invariant holds). Built-in rules ship with the extension; user rules are added with bcp_add_rule().';
-- only user rules travel with pg_dump: built-ins are recreated by CREATE EXTENSION
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_rules', 'WHERE NOT builtin');

-- Built-in rules are made by CREATE EXTENSION and not dumped; whether one is
-- enabled is kept here too, so a restore (which loads this table after
-- CREATE EXTENSION) switches it back off through the trigger.
CREATE TABLE creditledger.bcp_builtin_switches (
    name     text PRIMARY KEY,
    enabled  boolean NOT NULL
);
COMMENT ON TABLE creditledger.bcp_builtin_switches IS
    'Enabled flags of built-in BCP rules set with bcp_enable_rule(); dumped, and applied to bcp_rules by a trigger (also when pg_restore loads it).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_builtin_switches', '');

CREATE FUNCTION creditledger._bcp_apply_switch() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE creditledger.bcp_rules SET enabled = NEW.enabled WHERE name = NEW.name AND builtin;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION creditledger._bcp_apply_switch() IS
    'Trigger function: applies a built-in rule''s enabled flag from bcp_builtin_switches to bcp_rules.';
CREATE TRIGGER bcp_builtin_switches_apply
    AFTER INSERT OR UPDATE ON creditledger.bcp_builtin_switches
    FOR EACH ROW EXECUTE FUNCTION creditledger._bcp_apply_switch();

CREATE SEQUENCE creditledger.bcp_run_id_seq;
CREATE TABLE creditledger.bcp_result_rows (
    run_id       bigint NOT NULL,
    rule         text NOT NULL,
    severity     text NOT NULL,
    status       text NOT NULL CHECK (status IN ('pass', 'fail', 'error')),
    mismatches   bigint,
    sample       jsonb,
    duration_ms  double precision NOT NULL,
    ran_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, rule)
);
CREATE INDEX bcp_result_rows_rule_idx ON creditledger.bcp_result_rows (rule, run_id);
COMMENT ON TABLE creditledger.bcp_result_rows IS
    'History of recorded BCP runs: one row per rule per run (bcp_run(record => true) and the worker''s scheduled runs).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_result_rows', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_run_id_seq', '');

CREATE VIEW creditledger.bcp_results AS
SELECT run_id, rule, status, mismatches, sample, ran_at, severity, duration_ms
  FROM creditledger.bcp_result_rows;
COMMENT ON VIEW creditledger.bcp_results IS
    'BCP run history: run_id, rule, status (pass|fail|error), mismatches, sample (up to 5 mismatching rows, or the error), ran_at, severity, duration_ms.';

CREATE FUNCTION creditledger._bcp_check_rule_sql(check_sql text)
RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    BEGIN
        EXECUTE format('SELECT * FROM (%s) AS bcp_rule LIMIT 0', check_sql);
    EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
            MESSAGE = 'check_sql is not a valid rule query',
            DETAIL = format('%s (SQLSTATE %s)', SQLERRM, SQLSTATE),
            HINT = 'A rule is one SELECT (or VALUES) returning one row per mismatch.';
    END;
END
$$;
COMMENT ON FUNCTION creditledger._bcp_check_rule_sql(text) IS
    'Raises 22023 unless check_sql parses, plans and returns rows as one query (it is planned with LIMIT 0, not run).';

CREATE FUNCTION creditledger.bcp_add_rule(name text, check_sql text, description text DEFAULT NULL,
        severity text DEFAULT 'critical')
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM creditledger._credit_require(name, 'name');
    PERFORM creditledger._credit_require(check_sql, 'check_sql');
    PERFORM creditledger._credit_require(severity, 'severity');
    IF name !~ '^[a-z0-9_:.-]{1,63}$' THEN
        PERFORM creditledger._credit_raise('22023', format('invalid rule name "%s"', name),
            'A rule name is 1 to 63 characters of a-z, 0-9, _ : . and -.');
    END IF;
    IF severity NOT IN ('critical', 'warning') THEN
        PERFORM creditledger._credit_raise('22023', format('invalid severity "%s"', severity),
            'Severity is critical or warning.');
    END IF;
    PERFORM creditledger._bcp_check_rule_sql(check_sql);
    IF EXISTS (SELECT 1 FROM creditledger.bcp_rules r WHERE r.name = bcp_add_rule.name AND r.builtin) THEN
        PERFORM creditledger._credit_raise('42710', format('"%s" is a built-in rule', name),
            'Built-in rules cannot be replaced; disable it with bcp_enable_rule() and add yours under another name.');
    END IF;
    INSERT INTO creditledger.bcp_rules AS r (name, description, severity, check_sql)
    VALUES (name, description, severity, check_sql)
    ON CONFLICT ON CONSTRAINT bcp_rules_pkey DO UPDATE
       SET description = excluded.description, severity = excluded.severity,
           check_sql = excluded.check_sql;
END
$$;
COMMENT ON FUNCTION creditledger.bcp_add_rule(text, text, text, text) IS
    'Adds (or replaces) a user BCP rule after checking that check_sql is one valid query; 22023 if not, 42710 for a built-in name.';

CREATE FUNCTION creditledger.bcp_enable_rule(name text, enabled boolean)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM creditledger._credit_require(name, 'name');
    PERFORM creditledger._credit_require(enabled, 'enabled');
    IF EXISTS (SELECT 1 FROM creditledger.bcp_rules r WHERE r.name = bcp_enable_rule.name AND r.builtin) THEN
        INSERT INTO creditledger.bcp_builtin_switches AS w (name, enabled)
        VALUES (bcp_enable_rule.name, bcp_enable_rule.enabled)
        ON CONFLICT ON CONSTRAINT bcp_builtin_switches_pkey DO UPDATE SET enabled = excluded.enabled;
        RETURN;
    END IF;
    UPDATE creditledger.bcp_rules r SET enabled = bcp_enable_rule.enabled WHERE r.name = bcp_enable_rule.name;
    IF NOT FOUND THEN
        PERFORM creditledger._credit_raise('42704', format('BCP rule "%s" does not exist', name));
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger.bcp_enable_rule(text, boolean) IS
    'Enables or disables a BCP rule (disabled rules run only when named in bcp_run(rules => ...)).';

CREATE FUNCTION creditledger.bcp_drop_rule(name text)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    PERFORM creditledger._credit_require(name, 'name');
    DELETE FROM creditledger.bcp_rules r WHERE r.name = bcp_drop_rule.name AND NOT r.builtin;
    IF NOT FOUND THEN
        PERFORM creditledger._credit_raise('42704', format('user BCP rule "%s" does not exist', name),
            'Built-in rules cannot be dropped, only disabled.');
    END IF;
END
$$;
COMMENT ON FUNCTION creditledger.bcp_drop_rule(text) IS
    'Drops a user BCP rule (its history stays in bcp_results).';

CREATE FUNCTION creditledger._bcp_new_run()
RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT nextval('creditledger.bcp_run_id_seq')
$$;
COMMENT ON FUNCTION creditledger._bcp_new_run() IS
    'A new BCP run id (for bcp_run(record => true)).';

CREATE FUNCTION creditledger._bcp_record(run_id bigint, rule text, severity text, status text,
        mismatches bigint, sample jsonb, duration_ms double precision)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    INSERT INTO creditledger.bcp_result_rows (run_id, rule, severity, status, mismatches, sample, duration_ms)
    VALUES (run_id, rule, severity, status, mismatches, sample, duration_ms)
$$;
COMMENT ON FUNCTION creditledger._bcp_record(bigint, text, text, text, bigint, jsonb, double precision) IS
    'Appends one rule result of a recorded BCP run to the history.';

CREATE FUNCTION creditledger.bcp_run(rules text[] DEFAULT NULL, record boolean DEFAULT true)
RETURNS TABLE(rule text, severity text, status text, mismatches bigint, sample jsonb,
              duration_ms double precision)
LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    r record;
    run bigint;
    total int;
    i int := 0;
    t0 timestamptz;
    unknown text[];
BEGIN
    PERFORM creditledger._credit_require(record, 'record');
    IF rules IS NOT NULL THEN
        SELECT array_agg(u ORDER BY u) INTO unknown FROM unnest(rules) u
         WHERE u IS NULL OR NOT EXISTS (SELECT 1 FROM creditledger.bcp_rules x WHERE x.name = u);
        IF unknown IS NOT NULL THEN
            PERFORM creditledger._credit_raise('22023', 'unknown BCP rules requested',
                format('No rule is named %s.', array_to_string(unknown, ', ', 'NULL')));
        END IF;
    END IF;
    SELECT count(*) INTO total FROM creditledger.bcp_rules x
     WHERE (rules IS NULL AND x.enabled) OR x.name = ANY (rules);
    IF record THEN
        IF pg_catalog.pg_is_in_recovery() THEN
            PERFORM creditledger._credit_raise('25006', 'cannot record a BCP run on a hot standby',
                NULL, 'Use bcp_run(record => false) on a standby.');
        END IF;
        run := creditledger._bcp_new_run();
    END IF;

    FOR r IN SELECT x.name, x.severity, x.check_sql FROM creditledger.bcp_rules x
              WHERE (rules IS NULL AND x.enabled) OR x.name = ANY (rules)
              ORDER BY x.name LOOP
        i := i + 1;
        RAISE NOTICE 'bcp_run: rule % of %: %', i, total, r.name;
        t0 := clock_timestamp();
        rule := r.name;
        severity := r.severity;
        BEGIN
            EXECUTE format('WITH m AS MATERIALIZED (%s) '
                           'SELECT (SELECT count(*) FROM m), '
                           '       (SELECT jsonb_agg(to_jsonb(s)) FROM (SELECT * FROM m LIMIT 5) s)',
                           r.check_sql)
               INTO mismatches, sample;
            status := CASE WHEN mismatches = 0 THEN 'pass' ELSE 'fail' END;
        EXCEPTION WHEN OTHERS THEN
            status := 'error';
            mismatches := NULL;
            sample := jsonb_build_object('sqlstate', SQLSTATE, 'error', SQLERRM);
        END;
        duration_ms := extract(epoch FROM clock_timestamp() - t0) * 1000;
        IF record THEN
            PERFORM creditledger._bcp_record(run, rule, severity, status, mismatches, sample, duration_ms);
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION creditledger.bcp_run(text[], boolean) IS
    'Runs the enabled BCP rules (or the named ones) with the caller''s rights, one NOTICE per rule as progress; a rule that errors is reported as status error. record => true appends the results to bcp_results; record => false writes nothing (works on a hot standby).';

CREATE FUNCTION creditledger._bcp_scheduled_run()
RETURNS bigint LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp SET jit = off AS $$
DECLARE
    r record;
    failing bigint := 0;
BEGIN
    FOR r IN SELECT * FROM creditledger.bcp_run(NULL, true) LOOP
        IF r.status <> 'pass' THEN
            failing := failing + 1;
            RAISE WARNING 'creditledger BCP rule "%" (%) %: %', r.rule, r.severity, r.status,
                CASE WHEN r.status = 'error' THEN r.sample->>'error'
                     ELSE r.mismatches || ' mismatches, e.g. ' || left((r.sample->0)::text, 200) END;
        END IF;
    END LOOP;
    RETURN failing;
END
$$;
COMMENT ON FUNCTION creditledger._bcp_scheduled_run() IS
    'The background worker''s scheduled run (creditledger.bcp_interval): bcp_run(record => true), each failing rule logged at WARNING; returns how many rules did not pass.';

--------------------------------------------------------------------------
-- Built-in rules.  Thresholds come from GUCs read at run time.
--------------------------------------------------------------------------

INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('balance_equals_journal', 'critical', true,
 'Every account''s posted balance (main plus sub-accounts) equals the signed sum of its journal entries, and its balance() equals that plus its committed buffered postings.',
 $r$SELECT a.account_id, a.code, a.posted_balance, coalesce(j.journal_sum, 0) AS journal_sum,
       a.balance, coalesce(j.journal_sum, 0) + a.buffered_amount AS journal_plus_buffered,
       creditledger.balance(a.account_id) AS balance_fn
  FROM creditledger.accounts a
  LEFT JOIN (SELECT e.account_id,
                    sum(CASE WHEN (e.side = 'C') = (x.normal_side = 'credit') THEN e.amount ELSE -e.amount END) AS journal_sum
               FROM creditledger.journal_entries e
               JOIN creditledger.ledger_accounts x USING (account_id)
              GROUP BY e.account_id) j USING (account_id)
 WHERE a.posted_balance <> coalesce(j.journal_sum, 0)
    OR creditledger.balance(a.account_id) <> coalesce(j.journal_sum, 0) + a.buffered_amount$r$),
('balance_equals_chain_head', 'critical', true,
 'Every chain head (account, sub-account, credit line, hot slice) has the balance (or frozen/used/returned), version and hash of its chain''s last entry.',
 $r$WITH heads AS (
    SELECT 'account' AS chain, account_id AS id, 0 AS sub, balance AS a, 0::bigint AS b, 0::bigint AS c, version, last_hash
      FROM creditledger.ledger_accounts
    UNION ALL
    SELECT 'account', account_id, sub_account, balance, 0, 0, version, last_hash FROM creditledger.sub_accounts
    UNION ALL
    SELECT 'line', line_id, 0, frozen, used, returned, version, last_hash FROM creditledger.ledger_credit_lines
    UNION ALL
    SELECT 'line', line_id, slice, frozen, used, returned, version, last_hash FROM creditledger.credit_line_slices
), tails AS (
    -- each chain's last entry through the (id, sub, version) index
    SELECT h.chain, h.id, h.sub, t.a, t.b, t.c, t.version, t.hash
      FROM heads h
      CROSS JOIN LATERAL (
          SELECT e.balance_after AS a, 0::bigint AS b, 0::bigint AS c, e.version, e.hash
            FROM creditledger.journal_entries e
           WHERE h.chain = 'account' AND e.account_id = h.id AND e.sub_account = h.sub
           ORDER BY e.version DESC LIMIT 1) t
    UNION ALL
    SELECT h.chain, h.id, h.sub, t.a, t.b, t.c, t.version, t.hash
      FROM heads h
      CROSS JOIN LATERAL (
          SELECT e.frozen_after AS a, e.used_after AS b, e.returned_after AS c, e.version, e.hash
            FROM creditledger.credit_journal_entries e
           WHERE h.chain = 'line' AND e.line_id = h.id AND e.slice = h.sub
           ORDER BY e.version DESC LIMIT 1) t
)
SELECT h.chain, h.id, h.sub, h.version AS head_version, t.version AS chain_version,
       h.a AS head_amount, t.a AS chain_amount
  FROM heads h LEFT JOIN tails t USING (chain, id, sub)
 WHERE h.version <> coalesce(t.version, 0)
    OR (h.a, h.b, h.c) <> (coalesce(t.a, 0), coalesce(t.b, 0), coalesce(t.c, 0))
    OR h.last_hash <> coalesce(t.hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)$r$),
('chains_intact', 'critical', true,
 'verify_chain(): every money and credit chain has contiguous versions, linked prev_hash, consistent amounts and recomputable SHA-256 hashes (head rows are balance_equals_chain_head''s job).',
 $r$SELECT account_id, line_id, sub_account, version, problem
  FROM creditledger.verify_chain()
 WHERE problem NOT LIKE '%chain head%' AND problem NOT LIKE '%chain has no entries%'$r$),
('transfers_balanced', 'critical', true,
 'Every transfer''s legs (journal entries and buffered postings) have equal debits and credits per currency.',
 $r$SELECT l.transfer_id, a.currency,
       sum(CASE WHEN l.side = 'D' THEN l.amount ELSE 0 END) AS debits,
       sum(CASE WHEN l.side = 'C' THEN l.amount ELSE 0 END) AS credits
  FROM (SELECT transfer_id, account_id, side, amount FROM creditledger.journal_entries
        UNION ALL
        SELECT transfer_id, account_id, side, amount FROM creditledger.posting_buffer) l
  JOIN creditledger.ledger_accounts a USING (account_id)
 GROUP BY l.transfer_id, a.currency
HAVING sum(CASE WHEN l.side = 'D' THEN l.amount ELSE -l.amount END) <> 0$r$),
('reversals_exact', 'critical', true,
 'Every reversal reverses an existing transfer that is not itself a reversal, at most once, with exactly the mirror image of its legs.',
 $r$WITH rev AS (
    SELECT t.transfer_id, t.reverses, t.kind, o.kind AS original_kind
      FROM creditledger.ledger_transfers t
      LEFT JOIN creditledger.ledger_transfers o ON o.transfer_id = t.reverses
     WHERE t.reverses IS NOT NULL OR t.kind = 'reversal'
)
SELECT r.transfer_id AS reversal, r.reverses AS original, NULL::bigint AS account_id,
       CASE WHEN r.reverses IS NULL THEN 'reversal without an original'
            WHEN r.original_kind IS NULL THEN 'original transfer does not exist'
            WHEN r.original_kind = 'reversal' THEN 'reverses a reversal'
            ELSE 'kind is not reversal' END AS problem
  FROM rev r
 WHERE r.reverses IS NULL OR r.original_kind IS NULL OR r.original_kind = 'reversal' OR r.kind <> 'reversal'
UNION ALL
SELECT min(r.transfer_id), r.reverses, NULL, format('reversed %s times', count(*))
  FROM rev r WHERE r.reverses IS NOT NULL GROUP BY r.reverses HAVING count(*) > 1
UNION ALL
SELECT r.transfer_id, r.reverses, x.account_id,
       format('side %s: original mirrored %s, reversal %s', x.side, x.original, x.reversal)
  FROM rev r
  JOIN LATERAL (
      SELECT u.account_id, u.side,
             sum(u.amount) FILTER (WHERE u.src = 'o') AS original,
             sum(u.amount) FILTER (WHERE u.src = 'r') AS reversal
        FROM (SELECT 'o' AS src, l.account_id, CASE l.side WHEN 'D' THEN 'C' ELSE 'D' END AS side, l.amount
                FROM (SELECT account_id, side, amount FROM creditledger.journal_entries
                       WHERE transfer_id = r.reverses
                      UNION ALL
                      SELECT account_id, side, amount FROM creditledger.posting_buffer
                       WHERE transfer_id = r.reverses) l
              UNION ALL
              SELECT 'r', l.account_id, l.side::text, l.amount
                FROM (SELECT account_id, side, amount FROM creditledger.journal_entries
                       WHERE transfer_id = r.transfer_id
                      UNION ALL
                      SELECT account_id, side, amount FROM creditledger.posting_buffer
                       WHERE transfer_id = r.transfer_id) l) u
       GROUP BY u.account_id, u.side) x ON true
 WHERE r.reverses IS NOT NULL AND x.original IS DISTINCT FROM x.reversal$r$),
('split_equals_sub_accounts', 'critical', true,
 'A split account has exactly its sub-accounts 1..shards, other sub-accounts hold nothing, and balance() equals the main balance plus the sub-accounts plus buffered postings.',
 $r$SELECT a.account_id, a.code, a.hot_mode, a.shards, s.subs, s.subs_in_range, s.outside_balance,
       creditledger.balance(a.account_id) AS balance_fn,
       a.balance + coalesce(s.total, 0) + coalesce(b.amount, 0) AS parts
  FROM creditledger.ledger_accounts a
  LEFT JOIN LATERAL (
      SELECT count(*) AS subs,
             count(*) FILTER (WHERE x.sub_account BETWEEN 1 AND a.shards) AS subs_in_range,
             coalesce(sum(x.balance) FILTER (WHERE a.hot_mode NOT IN ('split', 'buffered_split')
                                                OR x.sub_account > a.shards), 0) AS outside_balance,
             sum(x.balance) AS total
        FROM creditledger.sub_accounts x WHERE x.account_id = a.account_id) s ON true
  LEFT JOIN LATERAL (
      SELECT sum(p.amount) AS amount FROM creditledger.posting_buffer p WHERE p.account_id = a.account_id) b ON true
 WHERE (a.hot_mode IN ('split', 'buffered_split') AND s.subs_in_range <> a.shards)
    OR s.outside_balance <> 0
    OR creditledger.balance(a.account_id) <> a.balance + coalesce(s.total, 0) + coalesce(b.amount, 0)$r$),
('buffer_not_stale', 'warning', true,
 'No committed buffered posting waits longer than creditledger.bcp_buffer_max_age (is the worker running?).',
 $r$SELECT account_id, buffer_id, transfer_id, amount, now() - accepted_at AS age
  FROM creditledger.posting_buffer
 WHERE accepted_at < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_buffer_max_age', true), '')::interval,
                                      interval '1 minute')$r$),
('trial_balance', 'critical', true,
 'Per currency, the balances of debit-normal accounts equal those of credit-normal accounts (posted plus buffered): the books balance.',
 $r$SELECT currency,
       sum(CASE WHEN normal_side = 'debit' THEN balance ELSE 0 END) AS debit_normal,
       sum(CASE WHEN normal_side = 'credit' THEN balance ELSE 0 END) AS credit_normal
  FROM creditledger.accounts
 GROUP BY currency
HAVING sum(CASE WHEN normal_side = 'debit' THEN balance ELSE -balance END) <> 0$r$),
('balance_floor', 'critical', true,
 'No account''s balance is below its min_balance.',
 $r$SELECT account_id, code, balance, min_balance
  FROM creditledger.accounts
 WHERE min_balance IS NOT NULL AND balance < min_balance$r$),
('credit_totals', 'critical', true,
 'Every credit line''s frozen, used and returned equal what the open holds and the drawdowns of the line and its descendants (each once) add up to.',
 $r$WITH RECURSIVE down(top, id) AS (
    SELECT line_id, line_id FROM creditledger.ledger_credit_lines
    UNION
    SELECT d.top, k.child_id FROM creditledger.credit_line_links k JOIN down d ON k.parent_id = d.id
), own AS (
    SELECT l.line_id,
           (SELECT coalesce(sum(h.remaining), 0) FROM creditledger.ledger_credit_holds h
             WHERE h.line_id = l.line_id AND h.status = 'open') AS frozen,
           (SELECT coalesce(sum(w.outstanding), 0) FROM creditledger.ledger_credit_drawdowns w
             WHERE w.line_id = l.line_id) AS used,
           (SELECT coalesce(sum(w.returned), 0) FROM creditledger.ledger_credit_drawdowns w
             WHERE w.line_id = l.line_id) AS returned
      FROM creditledger.ledger_credit_lines l
), expected AS (
    SELECT d.top AS line_id, sum(o.frozen) AS frozen, sum(o.used) AS used, sum(o.returned) AS returned
      FROM down d JOIN own o ON o.line_id = d.id GROUP BY d.top
)
SELECT c.line_id, c.code, c.frozen, e.frozen AS holds_frozen, c.used, e.used AS drawdowns_used,
       c.returned, e.returned AS drawdowns_returned
  FROM creditledger.credit_lines c JOIN expected e USING (line_id)
 WHERE (c.frozen, c.used, c.returned) <> (e.frozen, e.used, e.returned)$r$),
('credit_within_limit', 'critical', true,
 'No credit line consumes more than its limit, unless its limit was lowered (see credit_over_limit_after_decrease).',
 $r$SELECT line_id, code, limit_amount, frozen, used, returned, available
  FROM creditledger.credit_lines
 WHERE available < 0 AND limit_decreased_at IS NULL$r$),
('credit_over_limit_after_decrease', 'warning', true,
 'Credit lines over their limit after the limit was lowered: allowed (new freezes are refused), reported until back within the limit.',
 $r$SELECT line_id, code, limit_amount, frozen, used, returned, available, limit_decreased_at
  FROM creditledger.credit_lines
 WHERE available < 0 AND limit_decreased_at IS NOT NULL$r$),
('credit_records_consistent', 'critical', true,
 'Holds and drawdowns add up: amount = remaining + used + released (open exactly while something remains), amount = outstanding + returned, a hold''s drawdowns sum to its used amount, and a hot line''s slices never hold more headroom than the line has.',
 $r$SELECT 'hold' AS record, h.hold_id AS id, h.ref, h.status AS detail
  FROM creditledger.ledger_credit_holds h
 WHERE h.amount <> h.remaining + h.used_amount + h.released_amount
    OR least(h.remaining, h.used_amount, h.released_amount) < 0
    OR (h.status = 'open') <> (h.remaining > 0)
    OR h.used_amount <> (SELECT coalesce(sum(w.amount), 0) FROM creditledger.ledger_credit_drawdowns w
                          WHERE w.hold_id = h.hold_id)
UNION ALL
SELECT 'drawdown', w.drawdown_id, w.ref, format('amount %s, outstanding %s, returned %s', w.amount, w.outstanding, w.returned)
  FROM creditledger.ledger_credit_drawdowns w
 WHERE w.amount <> w.outstanding + w.returned OR w.outstanding < 0 OR w.returned < 0
UNION ALL
SELECT 'hot line', c.line_id, c.code, format('available %s, slices'' headroom %s', c.available, s.headroom)
  FROM creditledger.credit_lines c
  JOIN LATERAL (SELECT coalesce(sum(x.headroom) FILTER (WHERE x.slice <= c.hot_slices), 0) AS headroom,
                       coalesce(sum(abs(x.headroom)) FILTER (WHERE x.slice > c.hot_slices), 0) AS outside,
                       coalesce(bool_or(x.headroom > 0) FILTER (WHERE x.slice <= c.hot_slices), false) AS any_positive
                  FROM creditledger.credit_line_slices x WHERE x.line_id = c.line_id) s ON true
 WHERE (c.hot_slices > 0 AND (s.headroom > c.available OR (c.available < 0 AND s.any_positive)))
    OR s.outside <> 0$r$),
('holds_not_overdue', 'warning', true,
 'No open hold stays past its expires_at longer than creditledger.bcp_hold_overdue (is the worker expiring holds?).',
 $r$SELECT hold_id, ref, line_id, remaining, expires_at, now() - expires_at AS overdue
  FROM creditledger.ledger_credit_holds
 WHERE status = 'open'
   AND expires_at < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                                     interval '1 minute')$r$);

--------------------------------------------------------------------------
-- Ledger digests: a Merkle root over every chain head (CLD1, bcp.c and the
-- README), recorded; verify_digest recomputes every recorded chain from
-- today's journal.
--------------------------------------------------------------------------

CREATE SEQUENCE creditledger.bcp_digest_id_seq;
CREATE TABLE creditledger.bcp_digests (
    digest_id  bigint PRIMARY KEY DEFAULT nextval('creditledger.bcp_digest_id_seq'),
    digest     bytea NOT NULL,
    chains     bigint NOT NULL,
    entries    bigint NOT NULL,
    taken_at   timestamptz NOT NULL DEFAULT now()
);
ALTER SEQUENCE creditledger.bcp_digest_id_seq OWNED BY creditledger.bcp_digests.digest_id;
COMMENT ON TABLE creditledger.bcp_digests IS
    'Ledger digests taken by ledger_digest(): the Merkle root over the recorded chain heads. Append-only (guard triggers).';

CREATE TABLE creditledger.bcp_digest_heads (
    digest_id  bigint NOT NULL REFERENCES creditledger.bcp_digests,
    kind       "char" NOT NULL CHECK (kind IN ('A', 'L')),
    chain_id   bigint NOT NULL,
    sub        int NOT NULL,
    version    bigint NOT NULL,
    hash       bytea NOT NULL,
    PRIMARY KEY (digest_id, kind, chain_id, sub)
);
COMMENT ON TABLE creditledger.bcp_digest_heads IS
    'The chain heads a digest covers: kind A (account, sub-account) or L (credit line, slice), the head version and hash. Append-only (guard triggers).';

CREATE TRIGGER bcp_digests_append_only
    BEFORE UPDATE OR DELETE ON creditledger.bcp_digests
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();
CREATE TRIGGER bcp_digests_no_truncate
    BEFORE TRUNCATE ON creditledger.bcp_digests
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();
CREATE TRIGGER bcp_digest_heads_append_only
    BEFORE UPDATE OR DELETE ON creditledger.bcp_digest_heads
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();
CREATE TRIGGER bcp_digest_heads_no_truncate
    BEFORE TRUNCATE ON creditledger.bcp_digest_heads
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_digests', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_digest_heads', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.bcp_digest_id_seq', '');

CREATE FUNCTION creditledger._merkle_root(leaves bytea[])
RETURNS bytea AS 'MODULE_PATHNAME', 'cl_merkle_root'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION creditledger._merkle_root(bytea[]) IS
    'CLD1 Merkle root over 32-byte leaves in array order (node = SHA-256(0x01 || left || right), odd node moves up); NULL if a leaf is missing.';

CREATE FUNCTION creditledger._digest_leaf(kind "char", chain_id bigint, sub int, version bigint, hash bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT sha256('\x00'::bytea || convert_to('CLD1', 'UTF8') || convert_to(kind::text, 'UTF8')
                  || int8send(chain_id) || int4send(sub) || int8send(version) || hash)
$$;
COMMENT ON FUNCTION creditledger._digest_leaf("char", bigint, int, bigint, bytea) IS
    'CLD1 leaf of one chain head: SHA-256(0x00 || ''CLD1'' || kind || id || sub || version || hash).';

CREATE FUNCTION creditledger._digest_recompute(digest_id bigint)
RETURNS TABLE(kind "char", chain_id bigint, sub int, version bigint, hash bytea)
AS 'MODULE_PATHNAME', 'cl_digest_recompute'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION creditledger._digest_recompute(bigint) IS
    'For each chain recorded in a digest: its head hash recomputed from today''s entries 1..recorded version (NULL hash if versions are missing).';

CREATE FUNCTION creditledger.ledger_digest()
RETURNS TABLE(digest_id bigint, digest bytea, chains bigint, entries bigint, taken_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kinds "char"[];
    ids bigint[];
    subs int[];
    versions bigint[];
    hashes bytea[];
    root bytea;
    id bigint;
BEGIN
    -- one statement, one snapshot: money and credit heads as of the same instant
    WITH chains AS (
        SELECT 'A'::"char" AS kind, account_id AS chain_id, 0 AS sub FROM creditledger.ledger_accounts
        UNION ALL
        SELECT 'A', account_id, sub_account FROM creditledger.sub_accounts
        UNION ALL
        SELECT 'L', line_id, 0 FROM creditledger.ledger_credit_lines
        UNION ALL
        SELECT 'L', line_id, slice FROM creditledger.credit_line_slices
    ), heads AS (
        -- each chain's last entry through the (id, sub, version) index;
        -- chains without entries have no head to record
        SELECT c.kind, c.chain_id, c.sub, e.version, e.hash
          FROM chains c
          CROSS JOIN LATERAL (
              SELECT j.version, j.hash FROM creditledger.journal_entries j
               WHERE c.kind = 'A' AND j.account_id = c.chain_id AND j.sub_account = c.sub
               ORDER BY j.version DESC LIMIT 1) e
        UNION ALL
        SELECT c.kind, c.chain_id, c.sub, e.version, e.hash
          FROM chains c
          CROSS JOIN LATERAL (
              SELECT j.version, j.hash FROM creditledger.credit_journal_entries j
               WHERE c.kind = 'L' AND j.line_id = c.chain_id AND j.slice = c.sub
               ORDER BY j.version DESC LIMIT 1) e
    )
    SELECT array_agg(h.kind ORDER BY h.kind, h.chain_id, h.sub),
           array_agg(h.chain_id ORDER BY h.kind, h.chain_id, h.sub),
           array_agg(h.sub ORDER BY h.kind, h.chain_id, h.sub),
           array_agg(h.version ORDER BY h.kind, h.chain_id, h.sub),
           array_agg(h.hash ORDER BY h.kind, h.chain_id, h.sub),
           creditledger._merkle_root(coalesce(array_agg(
               creditledger._digest_leaf(h.kind, h.chain_id, h.sub, h.version, h.hash)
               ORDER BY h.kind, h.chain_id, h.sub), '{}'))
      INTO kinds, ids, subs, versions, hashes, root
      FROM heads h;

    INSERT INTO creditledger.bcp_digests (digest, chains, entries)
    VALUES (root, coalesce(cardinality(ids), 0),
            coalesce((SELECT sum(v) FROM unnest(versions) v), 0))
    RETURNING bcp_digests.digest_id INTO id;
    INSERT INTO creditledger.bcp_digest_heads (digest_id, kind, chain_id, sub, version, hash)
    SELECT id, u.k, u.i, u.s, u.v, u.h
      FROM unnest(kinds, ids, subs, versions, hashes) AS u(k, i, s, v, h);
    RETURN QUERY SELECT d.digest_id, d.digest, d.chains, d.entries, d.taken_at
                   FROM creditledger.bcp_digests d WHERE d.digest_id = id;
END
$$;
COMMENT ON FUNCTION creditledger.ledger_digest() IS
    'Records the head (version, hash) of every money and credit chain and returns the CLD1 Merkle root over them in key order; keep the digest outside the database.';

CREATE FUNCTION creditledger.verify_digest(digest_id bigint, digest bytea)
RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    root bytea;
BEGIN
    PERFORM creditledger._credit_require(digest_id, 'digest_id');
    PERFORM creditledger._credit_require(digest, 'digest');
    IF NOT EXISTS (SELECT 1 FROM creditledger.bcp_digests d WHERE d.digest_id = verify_digest.digest_id) THEN
        PERFORM creditledger._credit_raise('22023', format('digest %s does not exist', digest_id));
    END IF;
    SELECT creditledger._merkle_root(coalesce(array_agg(
               creditledger._digest_leaf(h.kind, h.chain_id, h.sub, h.version, r.hash)
               ORDER BY h.kind, h.chain_id, h.sub), '{}'))
      INTO root
      FROM creditledger.bcp_digest_heads h
      LEFT JOIN creditledger._digest_recompute(verify_digest.digest_id) r
        ON r.kind = h.kind AND r.chain_id = h.chain_id AND r.sub = h.sub AND r.version = h.version
     WHERE h.digest_id = verify_digest.digest_id;
    RETURN root IS NOT NULL AND root = digest;
END
$$;
COMMENT ON FUNCTION creditledger.verify_digest(bigint, bytea) IS
    'Recomputes every chain recorded in the digest from today''s journal (hashes from the entries'' fields, not the stored ones) and returns true only if that yields exactly the given digest.';

--------------------------------------------------------------------------
-- metrics(): the 0.1.0 exposition plus creditledger_bcp_*.
--------------------------------------------------------------------------

ALTER FUNCTION creditledger.metrics() RENAME TO _metrics_core;
COMMENT ON FUNCTION creditledger._metrics_core() IS
    'The operation, error, hot-account, worker and credit-alert part of metrics().';

CREATE FUNCTION creditledger._metrics_bcp() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp SET extra_float_digits = 1 AS $$
    WITH latest AS (
        SELECT DISTINCT ON (r.rule) r.rule, r.severity, r.status, r.mismatches, r.run_id
          FROM creditledger.bcp_result_rows r
          JOIN creditledger.bcp_rules x ON x.name = r.rule AND x.enabled
         ORDER BY r.rule, r.run_id DESC
    ), lbl AS (
        SELECT replace(replace(replace(l.rule, E'\\', E'\\\\'), '"', E'\\"'), E'\n', E'\\n') AS rule,
               l.severity, l.status, l.mismatches
          FROM latest l
    )
    SELECT E'# HELP creditledger_bcp_runs_total Recorded BCP runs (bcp_run(record => true) and scheduled runs).\n'
        || E'# TYPE creditledger_bcp_runs_total counter\n'
        || format(E'creditledger_bcp_runs_total %s\n',
                  (SELECT count(DISTINCT run_id) FROM creditledger.bcp_result_rows))
        || E'# HELP creditledger_bcp_last_run_timestamp_seconds When the last recorded BCP run finished, seconds since the epoch.\n'
        || E'# TYPE creditledger_bcp_last_run_timestamp_seconds gauge\n'
        || coalesce((SELECT format(E'creditledger_bcp_last_run_timestamp_seconds %s\n', extract(epoch FROM max(ran_at)))
                       FROM creditledger.bcp_result_rows HAVING count(*) > 0), '')
        || E'# HELP creditledger_bcp_rule_failing 1 when the latest recorded run of an enabled BCP rule did not pass (status fail or error), else 0.\n'
        || E'# TYPE creditledger_bcp_rule_failing gauge\n'
        || coalesce((SELECT string_agg(format(E'creditledger_bcp_rule_failing{rule="%s",severity="%s",status="%s"} %s\n',
                                              rule, severity, status, (status <> 'pass')::int), '' ORDER BY rule)
                       FROM lbl), '')
        || E'# HELP creditledger_bcp_rule_mismatches Mismatching rows in the latest recorded run of an enabled BCP rule.\n'
        || E'# TYPE creditledger_bcp_rule_mismatches gauge\n'
        || coalesce((SELECT string_agg(format(E'creditledger_bcp_rule_mismatches{rule="%s",severity="%s"} %s\n',
                                              rule, severity, mismatches), '' ORDER BY rule)
                       FROM lbl WHERE mismatches IS NOT NULL), '')
        || E'# HELP creditledger_bcp_failures_total Rule results of recorded BCP runs that did not pass, by severity.\n'
        || E'# TYPE creditledger_bcp_failures_total counter\n'
        || (SELECT string_agg(format(E'creditledger_bcp_failures_total{severity="%s"} %s\n', s.severity,
                                     (SELECT count(*) FROM creditledger.bcp_result_rows r
                                       WHERE r.severity = s.severity AND r.status <> 'pass')), '' ORDER BY s.severity)
              FROM (VALUES ('critical'), ('warning')) s(severity))
$$;
COMMENT ON FUNCTION creditledger._metrics_bcp() IS
    'The creditledger_bcp_* part of metrics(): runs, last run time, per-rule failing flag and mismatches of the latest recorded run, failures by severity.';

CREATE FUNCTION creditledger.metrics() RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT creditledger._metrics_core() || creditledger._metrics_bcp()
$$;
COMMENT ON FUNCTION creditledger.metrics() IS
    'All creditledger statistics (operations, latency histogram, errors by SQLSTATE and kind, hot accounts, background workers, credit alerts, BCP results) in the Prometheus text exposition format; needs the library preloaded (55000 with a hint otherwise).';

--------------------------------------------------------------------------
-- Roles: setup_roles() now also grants the credit and BCP functions.
--------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION creditledger.setup_roles() RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['creditledger_app', 'creditledger_auditor', 'creditledger_admin'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
        EXECUTE format('GRANT USAGE ON SCHEMA creditledger TO %I', r);
    END LOOP;

    -- Applications: accounts, postings, balances, credit operations.
    GRANT EXECUTE ON FUNCTION
        creditledger.open_account(text, text, text, bigint, text, int, jsonb),
        creditledger.account_id(text),
        creditledger.balance(bigint),
        creditledger.account_state(bigint),
        creditledger.transfer(text, bigint, bigint, bigint, text, jsonb),
        creditledger.post_entry(text, jsonb, text, jsonb),
        creditledger.reverse(text, text, text),
        creditledger.lock_accounts(bigint[]),
        creditledger.credit_line_id(text),
        creditledger.credit_line_state(bigint),
        creditledger.credit_freeze(bigint, bigint, text, timestamptz),
        creditledger.credit_unfreeze(text, text, bigint),
        creditledger.credit_use(text, text, bigint, boolean),
        creditledger.credit_use_direct(bigint, bigint, text),
        creditledger.credit_return(text, text, bigint)
        TO creditledger_app;

    -- Auditors: read everything (views and ledger tables, for BCP rules),
    -- verify chains and digests, run BCP; never write.
    GRANT SELECT ON ALL TABLES IN SCHEMA creditledger TO creditledger_auditor;
    GRANT EXECUTE ON FUNCTION
        creditledger.account_id(text),
        creditledger.balance(bigint),
        creditledger.account_state(bigint),
        creditledger.verify_chain(bigint),
        creditledger.credit_line_id(text),
        creditledger.credit_line_state(bigint),
        creditledger.bcp_run(text[], boolean),
        creditledger._bcp_new_run(),
        creditledger._bcp_record(bigint, text, text, text, bigint, jsonb, double precision),
        creditledger.verify_digest(bigint, bytea),
        creditledger.stat_workers(),
        creditledger.stat_latency_bounds(),
        creditledger.stat_operations_raw(),
        creditledger.stat_errors_raw(),
        creditledger.stat_hot_accounts_raw(),
        creditledger.stat_quantile(bigint[], float8[], float8, float8),
        creditledger._metrics_core(),
        creditledger._metrics_bcp(),
        creditledger.metrics()
        TO creditledger_auditor;

    -- Administrators: everything the others may do, plus administration.
    FOREACH r IN ARRAY ARRAY['creditledger_app', 'creditledger_auditor'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m
                        WHERE m.roleid = r::regrole AND m.member = 'creditledger_admin'::regrole) THEN
            EXECUTE format('GRANT %I TO creditledger_admin', r);
        END IF;
    END LOOP;
    GRANT EXECUTE ON FUNCTION
        creditledger.set_hot_mode(bigint, text, int),
        creditledger.close_account(bigint),
        creditledger.flush(bigint),
        creditledger.stat_reset(),
        creditledger.create_credit_line(text, text, bigint, bigint[], boolean, timestamptz, timestamptz, jsonb),
        creditledger.link_credit_line(bigint, bigint),
        creditledger.set_credit_limit(bigint, bigint),
        creditledger.suspend_credit_line(bigint, text),
        creditledger.resume_credit_line(bigint),
        creditledger.close_credit_line(bigint),
        creditledger.set_credit_line_hot(bigint, int),
        creditledger.credit_expire_holds(),
        creditledger.bcp_add_rule(text, text, text, text),
        creditledger.bcp_enable_rule(text, boolean),
        creditledger.bcp_drop_rule(text),
        creditledger.ledger_digest()
        TO creditledger_admin;
END
$$;

--------------------------------------------------------------------------
-- Privileges: nothing for PUBLIC; monitoring for pg_monitor.
--------------------------------------------------------------------------

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA creditledger FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA creditledger FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA creditledger FROM PUBLIC;
GRANT EXECUTE ON FUNCTION creditledger.metrics(), creditledger._metrics_core(),
    creditledger._metrics_bcp() TO pg_monitor;
GRANT SELECT ON creditledger.credit_alerts, creditledger.bcp_results TO pg_monitor;
GRANT SELECT (name, enabled) ON creditledger.bcp_rules TO pg_monitor;
