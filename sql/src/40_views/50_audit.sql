-- Verification, digests and BCP reconciliation: views and SQL-language functions (created after the tables and functions they read).
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE VIEW creditledger.bcp_results AS
SELECT run_id, rule, status, mismatches, sample, ran_at, severity, duration_ms
  FROM creditledger.bcp_result_rows;
COMMENT ON VIEW creditledger.bcp_results IS
    'BCP run history: run_id, rule, status (pass|fail|error), mismatches, sample (up to 5 mismatching rows, or the error), ran_at, severity, duration_ms.';

CREATE FUNCTION creditledger._digest_leaf(kind "char", chain_id bigint, sub int, version bigint, hash bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT sha256('\x00'::bytea || convert_to('CLD1', 'UTF8') || convert_to(kind::text, 'UTF8')
                  || int8send(chain_id) || int4send(sub) || int8send(version) || hash)
$$;
COMMENT ON FUNCTION creditledger._digest_leaf("char", bigint, int, bigint, bytea) IS
    'CLD1 leaf of one chain head: SHA-256(0x00 || ''CLD1'' || kind || id || sub || version || hash).';

CREATE FUNCTION creditledger._digest_leaf(kind "char", chain_id bigint, sub int, version bigint,
        hash bytea, transfers bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT sha256('\x00'::bytea || convert_to('CLD2', 'UTF8') || convert_to(kind::text, 'UTF8')
                  || int8send(chain_id) || int4send(sub) || int8send(version) || hash || transfers)
$$;
COMMENT ON FUNCTION creditledger._digest_leaf("char", bigint, int, bigint, bytea, bytea) IS
    'CLD2 leaf of one chain head: SHA-256(0x00 || ''CLD2'' || kind || id || sub || version || hash || transfers).';

CREATE FUNCTION creditledger._hold_chain_problems(account bigint)
RETURNS TABLE(account_id bigint, sub_account int, version bigint, problem text)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    WITH e AS (
        SELECT h.*, lag(h.hash) OVER w AS lag_hash, lag(h.held_after) OVER w AS lag_held,
               lag(h.version) OVER w AS lag_version
          FROM creditledger.hold_entries h
         WHERE $1 IS NULL OR h.account_id = $1
        WINDOW w AS (PARTITION BY h.account_id, h.sub_account ORDER BY h.version)
    ), heads AS (
        SELECT a.account_id, 0 AS sub_account, a.held, a.hold_version, a.hold_hash
          FROM creditledger.ledger_accounts a WHERE $1 IS NULL OR a.account_id = $1
        UNION ALL
        SELECT s.account_id, s.sub_account, s.held, s.hold_version, s.hold_hash
          FROM creditledger.sub_accounts s WHERE $1 IS NULL OR s.account_id = $1
    ), last AS (
        SELECT DISTINCT ON (e.account_id, e.sub_account) e.account_id, e.sub_account,
               e.version, e.hash, e.held_after
          FROM e ORDER BY e.account_id, e.sub_account, e.version DESC
    )
    SELECT e.account_id, e.sub_account, e.version, p.problem
      FROM e CROSS JOIN LATERAL unnest(ARRAY[
          CASE WHEN e.version <> coalesce(e.lag_version, 0) + 1
               THEN format('hold chain: version %s follows %s', e.version, coalesce(e.lag_version, 0)) END,
          CASE WHEN e.prev_hash <> coalesce(e.lag_hash,
                   '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
               THEN 'hold chain: prev_hash differs from the previous entry''s hash' END,
          CASE WHEN e.held_after IS DISTINCT FROM coalesce(e.lag_held, 0) + e.held_delta
               THEN format('hold chain: held_after %s is not %s + %s', e.held_after, coalesce(e.lag_held, 0), e.held_delta) END,
          CASE WHEN e.hash IS DISTINCT FROM creditledger._hold_entry_hash(e.prev_hash, e.account_id,
                   e.sub_account, e.version, e.op, e.target, e.target_id, e.ref, e.transfer_id, e.amount,
                   e.held_delta, e.held_after, e.block, e.actor, e.reason, e.created_at)
               THEN 'hold chain: hash differs from the hash of the entry''s fields (CLH1)' END]) AS p(problem)
     WHERE p.problem IS NOT NULL
    UNION ALL
    SELECT h.account_id, h.sub_account, h.hold_version,
           format('hold chain: head (version %s, held %s) differs from the last entry (version %s, held %s)',
                  h.hold_version, h.held, coalesce(l.version, 0), coalesce(l.held_after, 0))
      FROM heads h LEFT JOIN last l ON l.account_id = h.account_id AND l.sub_account = h.sub_account
     WHERE h.hold_version <> coalesce(l.version, 0) OR h.held <> coalesce(l.held_after, 0)
        OR h.hold_hash <> coalesce(l.hash,
               '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
$$;
COMMENT ON FUNCTION creditledger._hold_chain_problems(bigint) IS
    'verify_chain()''s check of the hold chains of one account (NULL: all): versions contiguous, prev_hash links, held_after sums, CLH1 hashes recomputed, and each head (held, hold_version, hold_hash) equal to its last entry. Owner only.';

CREATE FUNCTION creditledger._hold_digest_recompute(digest_id bigint)
RETURNS TABLE(chain_id bigint, sub int, version bigint, hash bytea)
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
    -- a recorded hold chain head recomputes to the CLH1 hash of its entry
    -- `version` when entries 1..version are all there, link and hash right
    SELECT h.chain_id, h.sub, h.version,
           CASE WHEN count(e.entry_id) = h.version AND bool_and(e.ok) THEN
                (array_agg(e.computed) FILTER (WHERE e.version = h.version))[1] END
      FROM creditledger.bcp_digest_heads h
      LEFT JOIN LATERAL (
          SELECT x.entry_id, x.version, x.computed,
                 x.prev_hash = coalesce(lag(x.computed) OVER (ORDER BY x.version),
                     '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea)
                 AND x.version = row_number() OVER (ORDER BY x.version) AS ok
            FROM (SELECT j.entry_id, j.version, j.prev_hash,
                         creditledger._hold_entry_hash(j.prev_hash, j.account_id, j.sub_account,
                             j.version, j.op, j.target, j.target_id, j.ref, j.transfer_id, j.amount,
                             j.held_delta, j.held_after, j.block, j.actor, j.reason, j.created_at) AS computed
                    FROM creditledger.hold_entries j
                   WHERE j.account_id = h.chain_id AND j.sub_account = h.sub
                     AND j.version <= h.version) x) e ON true
     WHERE h.digest_id = $1 AND h.kind = 'H'
     GROUP BY h.chain_id, h.sub, h.version
$$;
COMMENT ON FUNCTION creditledger._hold_digest_recompute(bigint) IS
    'For each hold chain (kind H) recorded in a digest: its head hash recomputed from today''s entries 1..recorded version (NULL if an entry is missing, out of order or does not link). Owner only.';
