-- Credit lines: views and SQL-language functions (created after the tables and functions they read).
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

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

CREATE VIEW creditledger.credit_temporary_limits AS
SELECT t.temporary_limit_id, t.ref, t.line_id, t.amount, t.valid_from, t.valid_until,
       t.status, t.started_at, t.ended_at, t.created_at
  FROM creditledger.ledger_credit_temporary_limits t;
COMMENT ON VIEW creditledger.credit_temporary_limits IS
    'Temporary limits (临额) with their windows and status: scheduled (valid_from not reached), active (counted in the line''s temporary_limit), ended (by end_temporary_limit) or expired (its window passed).';

-- The usage DAG follows usage and both edges only.
CREATE FUNCTION creditledger._credit_nodes(line bigint)
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

CREATE FUNCTION creditledger._credit_subtree(line bigint)
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

CREATE VIEW creditledger.credit_lines AS
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
       CASE WHEN l.hot_slices = 0 THEN 'line' WHEN l.hot_batched THEN 'batched' ELSE 'per_slice' END AS journal_chains,
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
    'Every credit line with its totals (own and usage descendants''): frozen, used, returned, available = limit + temporary_limit - frozen - used - (revolving ? 0 : returned); status active|suspended|closed|expired|not_yet_valid; parents (every link, whatever its control); journal_chains says whether its credit journal is one chain (line), one per hot slice with an entry per change (per_slice) or one per hot slice written in batches by the worker (batched; the totals include what is not journaled yet); temporary_limit = its active temporary limits; granted = the limits of its children linked with control grant or both (never above limit_amount).';
