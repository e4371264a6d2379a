-- Verification, digests and BCP reconciliation: functions (C declarations and PL/pgSQL/SQL bodies) and their comments.
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

CREATE FUNCTION creditledger.verify_chain(account bigint DEFAULT NULL)
RETURNS TABLE(account_id bigint, sub_account int, version bigint, problem text, line_id bigint)
AS 'MODULE_PATHNAME', 'cl_verify_chain'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.verify_chain(bigint) IS
    'Recomputes chains (all, or one account''s) and returns one row per problem; no rows = intact.';

CREATE FUNCTION creditledger._bcp_apply_switch() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    UPDATE creditledger.bcp_rules SET enabled = NEW.enabled WHERE name = NEW.name AND builtin;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION creditledger._bcp_apply_switch() IS
    'Trigger function: applies a built-in rule''s enabled flag from bcp_builtin_switches to bcp_rules.';

CREATE FUNCTION creditledger.bcp_add_rule(name text, check_sql text,
        description text DEFAULT NULL, severity text DEFAULT 'critical')
RETURNS void AS 'MODULE_PATHNAME', 'cl_bcp_add_rule'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.bcp_add_rule(text, text, text, text) IS
    'Adds (or replaces) a user BCP rule: check_sql must parse as exactly one read-only SELECT or VALUES and plan with the caller''s rights (22023 if not); 42710 for a built-in name.';

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

CREATE FUNCTION creditledger.bcp_run(rules text[] DEFAULT NULL, record boolean DEFAULT true)
RETURNS TABLE(rule text, severity text, status text, mismatches bigint, sample jsonb,
              duration_ms double precision)
AS 'MODULE_PATHNAME', 'cl_bcp_run'
LANGUAGE C VOLATILE SET search_path = pg_catalog, pg_temp SET jit = off;
COMMENT ON FUNCTION creditledger.bcp_run(text[], boolean) IS
    'Runs the enabled BCP rules (or the named ones) against one snapshot, read-only, each under creditledger.bcp_rule_timeout, with the caller''s rights (user rules as creditledger_bcp_runner when the caller is a superuser); one NOTICE per rule as progress; an erroring rule has status error. record => true appends the results to bcp_results; record => false writes nothing (works on a hot standby).';

CREATE FUNCTION creditledger._merkle_root(leaves bytea[])
RETURNS bytea AS 'MODULE_PATHNAME', 'cl_merkle_root'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION creditledger._merkle_root(bytea[]) IS
    'CLD1 Merkle root over 32-byte leaves in array order (node = SHA-256(0x01 || left || right), odd node moves up); NULL if a leaf is missing.';

CREATE FUNCTION creditledger.ledger_digest()
RETURNS TABLE(digest_id bigint, digest bytea, chains bigint, entries bigint, taken_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    kinds "char"[];
    ids bigint[];
    subs int[];
    versions bigint[];
    hashes bytea[];
    ts bytea[];
    broken text;
    root bytea;
    id bigint;
BEGIN
    -- one statement, one snapshot: money, credit and hold heads as of the same instant
    WITH chains AS (
        SELECT 'A'::"char" AS kind, account_id AS chain_id, 0 AS sub FROM creditledger.ledger_accounts
        UNION ALL
        SELECT 'A', account_id, sub_account FROM creditledger.sub_accounts
        UNION ALL
        SELECT 'L', line_id, 0 FROM creditledger.ledger_credit_lines
        UNION ALL
        SELECT 'L', line_id, slice FROM creditledger.credit_line_slices
    ), heads AS (
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
        UNION ALL
        SELECT 'H'::"char", c.chain_id, c.sub, e.version, e.hash
          FROM chains c
          CROSS JOIN LATERAL (
              SELECT j.version, j.hash FROM creditledger.hold_entries j
               WHERE c.kind = 'A' AND j.account_id = c.chain_id AND j.sub_account = c.sub
               ORDER BY j.version DESC LIMIT 1) e
    )
    SELECT array_agg(h.kind ORDER BY h.kind, h.chain_id, h.sub),
           array_agg(h.chain_id ORDER BY h.kind, h.chain_id, h.sub),
           array_agg(h.sub ORDER BY h.kind, h.chain_id, h.sub),
           array_agg(h.version ORDER BY h.kind, h.chain_id, h.sub),
           array_agg(h.hash ORDER BY h.kind, h.chain_id, h.sub)
      INTO kinds, ids, subs, versions, hashes
      FROM heads h;

    SELECT array_agg(CASE WHEN u.k = 'A' THEN r.transfers
                          ELSE '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea END
                     ORDER BY u.n),
           min(format('%s/%s', u.i, u.s)) FILTER (WHERE u.k = 'A' AND r.transfers IS NULL)
      INTO ts, broken
      FROM unnest(kinds, ids, subs, versions) WITH ORDINALITY AS u(k, i, s, v, n)
      LEFT JOIN creditledger._digest_transfers(kinds, ids, subs, versions) r
        ON u.k = 'A' AND r.chain_id = u.i AND r.sub = u.s;
    IF broken IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'data_corrupted',
            MESSAGE = 'cannot take a digest of a broken ledger',
            DETAIL = format('The chain of account/sub-account %s lacks versions or has entries whose transfer does not exist.', broken),
            HINT = 'Run verify_chain() and bcp_run() to find the damage.';
    END IF;

    SELECT creditledger._merkle_root(coalesce(array_agg(
               creditledger._digest_leaf(u.k, u.i, u.s, u.v, u.h, u.t) ORDER BY u.n), '{}'))
      INTO root
      FROM unnest(kinds, ids, subs, versions, hashes, ts) WITH ORDINALITY AS u(k, i, s, v, h, t, n);

    INSERT INTO creditledger.bcp_digests (digest, chains, entries, format)
    VALUES (root, coalesce(cardinality(ids), 0),
            coalesce((SELECT sum(v) FROM unnest(versions) v), 0), 'CLD2')
    RETURNING bcp_digests.digest_id INTO id;
    INSERT INTO creditledger.bcp_digest_heads (digest_id, kind, chain_id, sub, version, hash, transfers)
    SELECT id, u.k, u.i, u.s, u.v, u.h, u.t
      FROM unnest(kinds, ids, subs, versions, hashes, ts) AS u(k, i, s, v, h, t);
    RETURN QUERY SELECT d.digest_id, d.digest, d.chains, d.entries, d.taken_at
                   FROM creditledger.bcp_digests d WHERE d.digest_id = id;
END
$$;
COMMENT ON FUNCTION creditledger.ledger_digest() IS
    'Records the head (version, hash) of every money, credit and hold chain and the running hash of the transfer rows the money entries reference, and returns the CLD2 Merkle root over them in key order (one pass over the journal); keep the digest outside the database. XX001 if a chain lacks versions or references a missing transfer.';

CREATE FUNCTION creditledger.verify_digest(digest_id bigint, digest bytea)
RETURNS boolean LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    fmt text;
    root bytea;
BEGIN
    PERFORM creditledger._credit_require(digest_id, 'digest_id');
    PERFORM creditledger._credit_require(digest, 'digest');
    SELECT d.format INTO fmt FROM creditledger.bcp_digests d WHERE d.digest_id = verify_digest.digest_id;
    IF NOT FOUND THEN
        PERFORM creditledger._credit_raise('22023', format('digest %s does not exist', digest_id));
    END IF;
    IF fmt = 'CLD1' THEN
        SELECT creditledger._merkle_root(coalesce(array_agg(
                   creditledger._digest_leaf(h.kind, h.chain_id, h.sub, h.version, r.hash)
                   ORDER BY h.kind, h.chain_id, h.sub), '{}'))
          INTO root
          FROM creditledger.bcp_digest_heads h
          LEFT JOIN creditledger._digest_recompute(verify_digest.digest_id, false) r
            ON r.kind = h.kind AND r.chain_id = h.chain_id AND r.sub = h.sub AND r.version = h.version
         WHERE h.digest_id = verify_digest.digest_id;
    ELSE
        SELECT creditledger._merkle_root(coalesce(array_agg(
                   creditledger._digest_leaf(h.kind, h.chain_id, h.sub, h.version,
                       coalesce(r.hash, x.hash),
                       CASE WHEN h.kind = 'H'
                            THEN '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
                            ELSE r.transfers END)
                   ORDER BY h.kind, h.chain_id, h.sub), '{}'))
          INTO root
          FROM creditledger.bcp_digest_heads h
          LEFT JOIN creditledger._digest_recompute(verify_digest.digest_id, true) r
            ON h.kind <> 'H' AND r.kind = h.kind AND r.chain_id = h.chain_id AND r.sub = h.sub
           AND r.version = h.version
          LEFT JOIN creditledger._hold_digest_recompute(verify_digest.digest_id) x
            ON h.kind = 'H' AND x.chain_id = h.chain_id AND x.sub = h.sub AND x.version = h.version
         WHERE h.digest_id = verify_digest.digest_id;
    END IF;
    RETURN root IS NOT NULL AND root = digest;
END
$$;
COMMENT ON FUNCTION creditledger.verify_digest(bigint, bytea) IS
    'Recomputes every chain recorded in the digest from today''s journals (hashes from the entries'' fields, not the stored ones): money chains with, for a CLD2 digest, the transfer rows their entries reference; credit chains; hold chains (kind H); true only if that yields exactly the given digest.';

CREATE FUNCTION creditledger._transfer_seal() RETURNS trigger
AS 'MODULE_PATHNAME', 'cl_transfer_seal' LANGUAGE C;
COMMENT ON FUNCTION creditledger._transfer_seal() IS
    'Trigger function: sets a new ledger_transfers row''s row_hash to its CLT1 hash (unless the row brings one, as a restore does).';

CREATE FUNCTION creditledger._digest_recompute(digest_id bigint, with_transfers boolean)
RETURNS TABLE(kind "char", chain_id bigint, sub int, version bigint, hash bytea, transfers bytea)
AS 'MODULE_PATHNAME', 'cl_digest_recompute_clt'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION creditledger._digest_recompute(bigint, boolean) IS
    'For each chain recorded in a digest: its head hash recomputed from today''s entries 1..recorded version and, with with_transfers, T (CLD2) recomputed from the transfer rows those entries reference (NULLs if versions or transfers are missing).';

CREATE FUNCTION creditledger._digest_transfers(kinds "char"[], chain_ids bigint[], subs int[],
        versions bigint[])
RETURNS TABLE(chain_id bigint, sub int, version bigint, hash bytea, transfers bytea)
AS 'MODULE_PATHNAME', 'cl_digest_transfers'
LANGUAGE C STABLE STRICT;
COMMENT ON FUNCTION creditledger._digest_transfers("char"[], bigint[], int[], bigint[]) IS
    'For the money chains (kind A) among the given ones: head hash and T (CLD2) recomputed in one pass over the journal, as ledger_digest() records them (NULLs if versions or transfers are missing).';
