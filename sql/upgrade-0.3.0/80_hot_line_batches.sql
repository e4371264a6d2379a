--------------------------------------------------------------------------
-- Batched hot lines (issue 12): a hot line's slice journal written in
-- batches by the background worker (CONTRACT "Hot lines": "written in
-- batches by the worker (as buffered accounts are)"); journal_chains says
-- batched.  A change under such a line adds to its slice's pending
-- columns; credit_settle_hot_lines() appends one chained entry per slice.
--------------------------------------------------------------------------

ALTER TABLE creditledger.ledger_credit_lines ADD COLUMN hot_batched boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN creditledger.ledger_credit_lines.hot_batched IS
    'A hot line whose slices'' journal is written in batches (credit_lines.journal_chains = batched): a change adds to its slice''s pending_* columns, and credit_settle_hot_lines() (the background worker) appends one chained entry per slice for them. false: one entry per change on the slice (per_slice).';

-- The slices table is rebuilt with the pending columns, in the column order
-- of the current script (sql/src/10_tables/40_credit.sql: the order a
-- change writes them, which keeps a slice update's WAL record short; adding
-- the columns would append them).  The old table is renamed with its
-- constraints, copied and dropped once credit_lines, the one view on it, is
-- replaced below.  No function or view outside this script reads it by
-- column position.
ALTER TABLE creditledger.credit_line_slices RENAME TO credit_line_slices_0_2;
ALTER TABLE creditledger.credit_line_slices_0_2
    RENAME CONSTRAINT credit_line_slices_pkey TO credit_line_slices_0_2_pkey;
ALTER TABLE creditledger.credit_line_slices_0_2
    RENAME CONSTRAINT credit_line_slices_line_id_fkey TO credit_line_slices_0_2_line_id_fkey;
ALTER TABLE creditledger.credit_line_slices_0_2
    RENAME CONSTRAINT credit_line_slices_slice_check TO credit_line_slices_0_2_slice_check;
CREATE TABLE creditledger.credit_line_slices (
    line_id    bigint NOT NULL REFERENCES creditledger.ledger_credit_lines,
    slice      int NOT NULL CHECK (slice >= 1),
    version    bigint NOT NULL DEFAULT 0,
    last_hash  bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000',
    pending_since    timestamptz,
    returned   bigint NOT NULL DEFAULT 0,
    pending_returned bigint NOT NULL DEFAULT 0,
    used       bigint NOT NULL DEFAULT 0,
    pending_used     bigint NOT NULL DEFAULT 0,
    headroom   bigint NOT NULL DEFAULT 0,
    frozen     bigint NOT NULL DEFAULT 0,
    pending_frozen   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (line_id, slice)
) WITH (fillfactor = 10);
INSERT INTO creditledger.credit_line_slices
       (line_id, slice, version, last_hash, returned, used, headroom, frozen)
SELECT line_id, slice, version, last_hash, returned, used, headroom, frozen
  FROM creditledger.credit_line_slices_0_2;
COMMENT ON TABLE creditledger.credit_line_slices IS
    'Slices 1..hot_slices of a hot credit line: each holds part of the line''s headroom (their sum is the line''s available amount, less what expiries freed since the last gather) and is the head of its own credit-journal chain. Taken with FOR NO KEY UPDATE SKIP LOCKED; gathered under locks on all slices when none has enough.';
SELECT pg_catalog.pg_extension_config_dump('creditledger.credit_line_slices', '');
COMMENT ON COLUMN creditledger.credit_line_slices.pending_frozen IS
    'Of frozen, what no journal entry has recorded yet (a batched hot line: settled by credit_settle_hot_lines); frozen - pending_frozen is the chain head''s frozen_after. Likewise pending_used and pending_returned.';
COMMENT ON COLUMN creditledger.credit_line_slices.pending_since IS
    'When the oldest change not yet journaled was made (NULL: none); the hot_slices_journaled BCP rule warns past creditledger.bcp_slice_journal_max_age.';

DROP FUNCTION creditledger.set_credit_line_hot(bigint, int);
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
-- Out of the extension first: that also takes it out of the tables pg_dump
-- dumps the rows of (pg_extension.extconfig), which a DROP TABLE leaves.
ALTER EXTENSION creditledger DROP TABLE creditledger.credit_line_slices_0_2;
DROP TABLE creditledger.credit_line_slices_0_2;

UPDATE creditledger.bcp_rules SET
    description = 'Every chain head (account, sub-account, credit line, hot slice) has the balance (or frozen/used/returned; a batched hot line''s slice: less its pending amounts), version and hash of its chain''s last entry.',
    check_sql = $r$WITH heads AS (
    SELECT 'account' AS chain, account_id AS id, 0 AS sub, balance AS a, 0::bigint AS b, 0::bigint AS c, version, last_hash
      FROM creditledger.ledger_accounts
    UNION ALL
    SELECT 'account', account_id, sub_account, balance, 0, 0, version, last_hash FROM creditledger.sub_accounts
    UNION ALL
    SELECT 'line', line_id, 0, frozen, used, returned, version, last_hash FROM creditledger.ledger_credit_lines
    UNION ALL
    -- a batched hot line's slice: its journaled amounts (what is pending is not in the chain yet)
    SELECT 'line', line_id, slice, frozen - pending_frozen, used - pending_used, returned - pending_returned,
           version, last_hash FROM creditledger.credit_line_slices
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
    OR h.last_hash <> coalesce(t.hash, '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)$r$
 WHERE name = 'balance_equals_chain_head' AND builtin;

-- Batched hot lines (credit_settle_hot_lines): a slice's changes wait in
-- its pending columns until the worker journals them.
INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('hot_slices_journaled', 'warning', true,
 'No slice of a batched hot line keeps a change out of its journal longer than creditledger.bcp_slice_journal_max_age (is the worker settling hot lines?), and only a batched line''s slices have anything pending.',
 $r$SELECT x.line_id, x.slice, x.pending_frozen, x.pending_used, x.pending_returned,
       now() - x.pending_since AS age, l.hot_batched
  FROM creditledger.credit_line_slices x
  JOIN creditledger.ledger_credit_lines l ON l.line_id = x.line_id
 WHERE x.pending_since < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_slice_journal_max_age', true), '')::interval,
                                          interval '1 minute')
    OR (x.pending_since IS NULL AND (x.pending_frozen, x.pending_used, x.pending_returned) <> (0, 0, 0))
    OR (NOT l.hot_batched AND x.pending_since IS NOT NULL)$r$);
