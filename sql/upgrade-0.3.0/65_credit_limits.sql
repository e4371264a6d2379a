--------------------------------------------------------------------------
-- Credit lines: more of the seeds' limit system (CONTRACT.md, "Credit
-- lines, more of the seeds' limit system"): temporary limits (临额) with
-- validity windows, and link control usage / grant / both (控制用信 /
-- 控制授信).
--
-- Data the credit data path reads:
--   * ledger_credit_lines.temporary_limit = the sum of the line's ACTIVE
--     temporary limits; a node's effective limit is limit_amount +
--     temporary_limit, and that is all the freeze/use path needs to know
--     (line_limit() in credit_engine.c, the credit_lines view's
--     available);
--   * credit_line_links.control: 'usage' (as before: the child's frozen and
--     used count at the parent), 'grant' (the child's limit is carved from
--     the parent's: Σ granted children's limit_amount <= the parent's
--     limit_amount; the child's usage does NOT count at the parent), 'both'.
--     Walks of the usage DAG (_credit_nodes, _credit_subtree, the
--     credit_totals rule) follow usage and both edges only; the cycle check
--     of link_credit_line follows every edge.
--
-- Temporary limits: a row per 临额 in ledger_credit_temporary_limits,
-- status scheduled -> active -> expired (its valid_until passed: ended by
-- the worker or credit_apply_temporary_limits()) or ended (end_temporary_
-- limit); a scheduled one can also go straight to ended or expired.  Every
-- change is an entry of the line's own credit chain (slice 0, zero deltas,
-- ref = the temporary limit's ref): op 'temp_limit' when it starts,
-- 'temp_limit_end' when an active one ends, 'temp_limit_cancel' when a
-- scheduled one ends without having started.  A start or an end goes
-- through credit_limit_changed (C), as set_credit_limit does: an end records
-- limit_decreased_at (the line then behaves as after a limit decrease:
-- allowed below utilisation, new freezes refused) and a hot line's
-- headroom is spread again over its slices.
--
-- Locking (every function here, as link_credit_line and set_credit_limit):
--   1. the credit graph lock EXCLUSIVE (advisory (17228, -1)): no freeze,
--      unfreeze, use, return or expiry (all take it shared) runs while a
--      limit, a temporary limit or a link changes, so hot-line slices are
--      spread again without locking them one by one;
--   2. the rows of the lines whose limits change (the line, its grant
--      parents) FOR NO KEY UPDATE in ascending line id order;
--   3. the temporary limit rows, ascending id.
-- The worker's periodic task takes 1 only when something is due (two
-- probes of partial indexes otherwise).
--
-- The functions are C (src/credit_limits.c, whose header states the same
-- lock order), SECURITY DEFINER with a pinned search_path, counted in
-- stat_operations, and granted to creditledger_admin only.
--------------------------------------------------------------------------

ALTER TABLE creditledger.ledger_credit_lines
    ADD COLUMN temporary_limit bigint NOT NULL DEFAULT 0 CHECK (temporary_limit >= 0);
COMMENT ON COLUMN creditledger.ledger_credit_lines.temporary_limit IS
    'Sum of the line''s active temporary limits (ledger_credit_temporary_limits, status active); the effective limit is limit_amount + temporary_limit.';

ALTER TABLE creditledger.credit_line_links
    ADD COLUMN control text NOT NULL DEFAULT 'usage' CHECK (control IN ('usage', 'grant', 'both'));
COMMENT ON COLUMN creditledger.credit_line_links.control IS
    'usage (控制用信: the child''s frozen/used count at the parent), grant (控制授信: the child''s limit is carved from the parent''s, its usage does not count there) or both.';

CREATE SEQUENCE creditledger.credit_temporary_limit_id_seq;
CREATE TABLE creditledger.ledger_credit_temporary_limits (
    temporary_limit_id bigint PRIMARY KEY
                       DEFAULT pg_catalog.nextval('creditledger.credit_temporary_limit_id_seq'),
    ref                text NOT NULL UNIQUE,
    line_id            bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    amount             bigint NOT NULL CHECK (amount > 0),
    valid_from         timestamptz NOT NULL,
    valid_until        timestamptz NOT NULL,
    valid_from_given   boolean NOT NULL,
    status             text NOT NULL DEFAULT 'scheduled'
                       CHECK (status IN ('scheduled', 'active', 'ended', 'expired')),
    started_at         timestamptz,
    ended_at           timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    CHECK (valid_until > valid_from)
);
ALTER SEQUENCE creditledger.credit_temporary_limit_id_seq
    OWNED BY creditledger.ledger_credit_temporary_limits.temporary_limit_id;
CREATE INDEX ledger_credit_temporary_limits_line_idx
    ON creditledger.ledger_credit_temporary_limits (line_id);
CREATE INDEX ledger_credit_temporary_limits_start_idx
    ON creditledger.ledger_credit_temporary_limits (valid_from) WHERE status = 'scheduled';
CREATE INDEX ledger_credit_temporary_limits_end_idx
    ON creditledger.ledger_credit_temporary_limits (valid_until) WHERE status = 'active';
COMMENT ON TABLE creditledger.ledger_credit_temporary_limits IS
    'Temporary limits (临额): amount added to a line''s limit from valid_from until valid_until. status scheduled|active|ended (end_temporary_limit)|expired (its window passed); started_at/ended_at when that happened. The ref is the idempotency key; valid_from_given tells whether valid_from was passed (an omitted one replays as omitted).';
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_credit_temporary_limits', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_temporary_limit_id_seq', '');

CREATE VIEW creditledger.credit_temporary_limits AS
SELECT t.temporary_limit_id, t.ref, t.line_id, t.amount, t.valid_from, t.valid_until,
       t.status, t.started_at, t.ended_at, t.created_at
  FROM creditledger.ledger_credit_temporary_limits t;
COMMENT ON VIEW creditledger.credit_temporary_limits IS
    'Temporary limits (临额) with their windows and status: scheduled (valid_from not reached), active (counted in the line''s temporary_limit), ended (by end_temporary_limit) or expired (its window passed).';

--------------------------------------------------------------------------
-- The usage DAG follows usage and both edges only.
--------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION creditledger._credit_nodes(line bigint)
RETURNS bigint[] LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE up(id) AS (
        SELECT line
        UNION
        SELECT k.parent_id FROM creditledger.credit_line_links k JOIN up ON k.child_id = up.id
         WHERE k.control <> 'grant'
    )
    SELECT array_agg(id ORDER BY id) FROM up
$$;
COMMENT ON FUNCTION creditledger._credit_nodes(bigint) IS
    'The line and all its usage ancestors (over usage and both links), each once, in ascending id order.';

CREATE OR REPLACE FUNCTION creditledger._credit_subtree(line bigint)
RETURNS bigint[] LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH RECURSIVE down(id) AS (
        SELECT line
        UNION
        SELECT k.child_id FROM creditledger.credit_line_links k JOIN down ON k.parent_id = down.id
         WHERE k.control <> 'grant'
    )
    SELECT array_agg(id ORDER BY id) FROM down
$$;
COMMENT ON FUNCTION creditledger._credit_subtree(bigint) IS
    'The line and all its usage descendants (over usage and both links), each once, in ascending id order.';

CREATE OR REPLACE VIEW creditledger.credit_lines AS
SELECT l.line_id, l.code, l.currency, l.limit_amount,
       l.frozen + coalesce(s.frozen, 0) AS frozen,
       l.used + coalesce(s.used, 0) AS used,
       l.returned + coalesce(s.returned, 0) AS returned,
       l.limit_amount + l.temporary_limit
           - (l.frozen + coalesce(s.frozen, 0)) - (l.used + coalesce(s.used, 0))
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
       l.status_reason, l.limit_decreased_at, l.metadata, l.created_at,
       l.temporary_limit,
       (SELECT coalesce(sum(c.limit_amount), 0)
          FROM creditledger.credit_line_links k
          JOIN creditledger.ledger_credit_lines c ON c.line_id = k.child_id
         WHERE k.parent_id = l.line_id AND k.control IN ('grant', 'both'))::bigint AS granted
  FROM creditledger.ledger_credit_lines l
  LEFT JOIN LATERAL (SELECT sum(x.frozen)::bigint AS frozen, sum(x.used)::bigint AS used,
                            sum(x.returned)::bigint AS returned
                       FROM creditledger.credit_line_slices x
                      WHERE x.line_id = l.line_id) s ON true;
COMMENT ON VIEW creditledger.credit_lines IS
    'Every credit line with its totals (own and usage descendants''): frozen, used, returned, available = limit + temporary_limit - frozen - used - (revolving ? 0 : returned); status active|suspended|closed|expired|not_yet_valid; parents (every link, whatever its control); journal_chains says whether its credit journal is one chain (line) or one per hot slice (per_slice); temporary_limit = its active temporary limits; granted = the limits of its children linked with control grant or both (never above limit_amount).';

CREATE OR REPLACE VIEW creditledger.credit_alerts AS
WITH cfg AS (
    SELECT coalesce(nullif(pg_catalog.current_setting('creditledger.credit_alert_utilization', true), '')::float8, 0.9) AS util,
           coalesce(nullif(pg_catalog.current_setting('creditledger.credit_alert_expiring_within', true), '')::interval,
                    interval '7 days') AS horizon,
           coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                    interval '1 minute') AS overdue
), l AS (
    SELECT c.*, c.frozen + c.used + CASE WHEN c.revolving THEN 0 ELSE c.returned END AS consumed,
           c.limit_amount + c.temporary_limit AS effective_limit
      FROM creditledger.credit_lines c
)
SELECT l.line_id, l.code, 'utilization_high'::text AS kind,
       format('%s of %s consumed (%s%%), threshold %s%%', l.consumed, l.effective_limit,
              round(100.0 * l.consumed / l.effective_limit, 1), round(100 * cfg.util::numeric, 1)) AS detail
  FROM l, cfg
 WHERE l.effective_limit > 0 AND l.consumed >= cfg.util * l.effective_limit
   AND l.consumed <= l.effective_limit AND l.status <> 'closed'
UNION ALL
SELECT l.line_id, l.code, 'over_limit',
       format('%s consumed over a limit of %s', l.consumed, l.effective_limit)
  FROM l WHERE l.consumed > l.effective_limit
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
  FROM l WHERE l.status = 'suspended' AND l.frozen <> 0
UNION ALL
SELECT t.line_id, c.code, 'temporary_limit_overdue',
       CASE WHEN t.status = 'active'
            THEN format('temporary limit "%s" of %s still active, its window ended at %s', t.ref, t.amount, t.valid_until)
            ELSE format('temporary limit "%s" of %s not started, its window began at %s', t.ref, t.amount, t.valid_from) END
  FROM creditledger.ledger_credit_temporary_limits t
  JOIN creditledger.ledger_credit_lines c ON c.line_id = t.line_id, cfg
 WHERE (t.status = 'active' AND t.valid_until < now() - cfg.overdue)
    OR (t.status = 'scheduled' AND t.valid_from < now() - cfg.overdue);
COMMENT ON VIEW creditledger.credit_alerts IS
    'Lines needing attention: utilization_high (consumed >= creditledger.credit_alert_utilization of the limit, temporary limits included), over_limit, expiring_soon (valid_until within creditledger.credit_alert_expiring_within), expired_with_outstanding, suspended_with_holds, temporary_limit_overdue (a temporary limit still active after its window, or not started after its valid_from, by more than creditledger.bcp_hold_overdue: is the worker running?).';

--------------------------------------------------------------------------
-- Functions (C, credit_limits.c): set_credit_limit, link_credit_line with
-- its control, temporary limits.  SECURITY DEFINER with a pinned
-- search_path; administrators only (90_privileges.sql).
--------------------------------------------------------------------------

-- set_credit_limit: the same public function, now C (credit_limits.c):
-- grant control checks, and every limit change, temporary ones included,
-- goes through one C path (credit_limit_changed: limit_decreased_at, hot
-- slices spread again).  Its PL/pgSQL body is gone.
CREATE OR REPLACE FUNCTION creditledger.set_credit_limit(line bigint, limit_amount bigint)
RETURNS void AS 'MODULE_PATHNAME', 'cl_set_credit_limit'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.set_credit_limit(bigint, bigint) IS
    'Changes a line''s limit; a limit below current utilisation is allowed and blocks new freezes until the line is back within it. Under grant control a parent''s limit must cover its granting children''s limits and a granting child''s raise must fit in its parents (LD002).';
DROP FUNCTION creditledger._set_credit_limit(bigint, bigint);

-- The public 2-argument function becomes the 3-argument one (a 2-argument
-- call takes the default).  DROP takes its grants along: setup_roles()
-- grants it again (run it after every upgrade, as the README says).  The
-- script does not copy the old grants itself: a GRANT inside an extension
-- script is recorded in pg_init_privs as the extension's own, so pg_dump
-- would leave it out of dumps and, on PostgreSQL 15, a later DROP ROLE of
-- the grantee would leave a dangling entry that breaks pg_restore.
DROP FUNCTION creditledger.link_credit_line(bigint, bigint);
CREATE FUNCTION creditledger.link_credit_line(child bigint, parent bigint, control text DEFAULT 'usage')
RETURNS void AS 'MODULE_PATHNAME', 'cl_link_credit_line'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.link_credit_line(bigint, bigint, text) IS
    'Puts child under parent. control usage (default, 控制用信): carries the child''s frozen/used/returned to the new ancestors (LD002 if they do not fit); grant (控制授信): the child''s limit is carved from the parent''s (LD002 if the granted limits would exceed it), its usage is not counted there; both. LD011 on a cycle, LD009 across currencies, LD004 if already linked with another control.';


--------------------------------------------------------------------------
-- Temporary limits
--------------------------------------------------------------------------

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

CREATE FUNCTION creditledger.credit_apply_temporary_limits()
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_credit_apply_temporary_limits'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.credit_apply_temporary_limits() IS
    'Starts the temporary limits whose valid_from has come and ends those whose valid_until has passed (the background worker does it every creditledger.hold_expiry_interval); returns how many changed.';

--------------------------------------------------------------------------
-- credit_line_state: temporary_limit and granted appended (re-created:
-- setup_roles() grants it again, see link_credit_line above)
--------------------------------------------------------------------------

DROP FUNCTION creditledger.credit_line_state(bigint);
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

--------------------------------------------------------------------------
-- Built-in BCP rules
--------------------------------------------------------------------------

-- credit_totals walks the usage DAG only (a grant link carves limits, it
-- does not carry amounts).
UPDATE creditledger.bcp_rules SET
    description = 'Every credit line''s frozen, used and returned equal what the open holds and the drawdowns of the line and its usage descendants (over usage and both links, each once) add up to.',
    check_sql = $r$WITH RECURSIVE down(top, id) AS (
    SELECT line_id, line_id FROM creditledger.ledger_credit_lines
    UNION
    SELECT d.top, k.child_id FROM creditledger.credit_line_links k JOIN down d ON k.parent_id = d.id
     WHERE k.control <> 'grant'
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
 WHERE (c.frozen, c.used, c.returned) <> (e.frozen, e.used, e.returned)$r$
 WHERE name = 'credit_totals' AND builtin;

INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('credit_granted_within_limit', 'critical', true,
 'Under grant control (控制授信) the limits of a parent''s granting children (links with control grant or both) add up to at most the parent''s limit.',
 $r$SELECT p.line_id, p.code, p.limit_amount, sum(c.limit_amount) AS granted,
       array_agg(c.line_id ORDER BY c.line_id) AS children
  FROM creditledger.credit_line_links k
  JOIN creditledger.ledger_credit_lines c ON c.line_id = k.child_id
  JOIN creditledger.ledger_credit_lines p ON p.line_id = k.parent_id
 WHERE k.control IN ('grant', 'both')
 GROUP BY p.line_id, p.code, p.limit_amount
HAVING sum(c.limit_amount) > p.limit_amount$r$),
('credit_temporary_limits_consistent', 'critical', true,
 'Every line''s temporary_limit equals the sum of its active temporary limits; no temporary limit started before its valid_from, and each one''s journal entries on its line''s chain (temp_limit when it started, temp_limit_end when an active one ended, temp_limit_cancel when a scheduled one ended) match its status.',
 $r$WITH s AS (
    SELECT t.line_id, sum(t.amount) AS active
      FROM creditledger.ledger_credit_temporary_limits t WHERE t.status = 'active' GROUP BY t.line_id
), j AS (
    SELECT t.temporary_limit_id,
           count(*) FILTER (WHERE e.op = 'temp_limit') AS starts,
           count(*) FILTER (WHERE e.op = 'temp_limit_end') AS ends,
           count(*) FILTER (WHERE e.op = 'temp_limit_cancel') AS cancels
      FROM creditledger.ledger_credit_temporary_limits t
      LEFT JOIN creditledger.credit_journal_entries e
        ON e.line_id = t.line_id AND e.slice = 0 AND e.ref = t.ref
       AND e.op IN ('temp_limit', 'temp_limit_end', 'temp_limit_cancel')
     GROUP BY t.temporary_limit_id
)
SELECT 'line' AS what, l.line_id AS id, l.code AS ref,
       format('temporary_limit %s, active temporary limits %s', l.temporary_limit, coalesce(s.active, 0)) AS problem
  FROM creditledger.ledger_credit_lines l LEFT JOIN s ON s.line_id = l.line_id
 WHERE l.temporary_limit <> coalesce(s.active, 0)
UNION ALL
SELECT 'temporary limit', t.temporary_limit_id, t.ref,
       format('status %s, started_at %s, ended_at %s, journal: %s start, %s end, %s cancel',
              t.status, t.started_at, t.ended_at, j.starts, j.ends, j.cancels)
  FROM creditledger.ledger_credit_temporary_limits t
  JOIN j ON j.temporary_limit_id = t.temporary_limit_id
 WHERE (t.status = 'scheduled' AND (t.started_at IS NOT NULL OR t.ended_at IS NOT NULL))
    OR (t.status = 'active' AND (t.started_at IS NULL OR t.ended_at IS NOT NULL))
    OR (t.status IN ('ended', 'expired') AND t.ended_at IS NULL)
    OR t.started_at < t.valid_from
    OR j.starts <> (t.started_at IS NOT NULL)::int
    OR j.ends <> (t.started_at IS NOT NULL AND t.status IN ('ended', 'expired'))::int
    OR j.cancels <> (t.started_at IS NULL AND t.status IN ('ended', 'expired'))::int$r$),
('credit_temporary_limits_on_time', 'warning', true,
 'No temporary limit stays active past its valid_until, or scheduled past its valid_from, longer than creditledger.bcp_hold_overdue (is the worker running?).',
 $r$SELECT temporary_limit_id, ref, line_id, status, valid_from, valid_until,
       now() - CASE WHEN status = 'active' THEN valid_until ELSE valid_from END AS overdue
  FROM creditledger.ledger_credit_temporary_limits
 WHERE ((status = 'active' AND valid_until < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                                                             interval '1 minute'))
     OR (status = 'scheduled' AND valid_from < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                                                               interval '1 minute')))$r$);

REVOKE ALL ON FUNCTION
    creditledger.set_temporary_limit(bigint, text, bigint, timestamptz, timestamptz),
    creditledger.end_temporary_limit(text),
    creditledger.credit_apply_temporary_limits(),
    creditledger.link_credit_line(bigint, bigint, text),
    creditledger.credit_line_state(bigint)
    FROM PUBLIC;
REVOKE ALL ON creditledger.credit_temporary_limits, creditledger.ledger_credit_temporary_limits FROM PUBLIC;
