--------------------------------------------------------------------------
-- Transfer integrity (issue 10 item 5; CONTRACT.md, "Security model":
-- tampering behind the guard with any ledger table, transfers included, is
-- found by verify_chain() or a critical built-in rule, and a digest taken
-- before the change no longer verifies).
--
-- Journal entries are chained; transfer rows (voucher, kind, reverses, memo,
-- metadata) were not, so a superuser behind the guard could rename, redirect
-- or delete them unseen.  Now:
--   * every ledger_transfers row carries row_hash, the SHA-256 of its CLT1
--     encoding (journal.c, README), set by a BEFORE INSERT trigger whatever
--     code inserts the row; rows of 0.2.0 are hashed by this upgrade;
--   * the critical rule transfers_consistent ties legs and transfers
--     together (every leg's transfer exists, with the leg's voucher and
--     kind; every transfer has legs; row hashes match; a reversal's payload
--     names the transfer it reverses; internal moves look like ones);
--   * ledger digests become CLD2: each money chain's leaf also commits to
--     the CLT1 row hashes (recomputed from the rows) of the transfers of its
--     entries 1..version.  Digests taken by 0.2.0 (CLD1) verify as before.
--------------------------------------------------------------------------

-- The CLT1 row hash.  The same expression is the rule's (below) and the
-- README's, so an auditor can recompute it without the C code:
--   sha256('CLT1' || transfer_id || len+voucher || len+kind
--          || (0x00 | 0x01 || reverses) || (-1 | len+memo)
--          || (-1 | len+metadata::text) || len+payload_hash || created_at usecs)
ALTER TABLE creditledger.ledger_transfers ADD COLUMN row_hash bytea;
-- Hash the rows 0.2.0 wrote in one table rewrite (ALTER TYPE ... USING may
-- read the other columns, and fires no row trigger, so the append-only guard
-- stays as it is).  A row edited behind the guard before this upgrade is
-- hashed as it is now: only digests taken before the edit can show it.
ALTER TABLE creditledger.ledger_transfers ALTER COLUMN row_hash TYPE bytea USING
    sha256('CLT1'::bytea || int8send(transfer_id)
        || int4send(octet_length(voucher)) || convert_to(voucher, 'UTF8')
        || int4send(octet_length(kind)) || convert_to(kind, 'UTF8')
        || CASE WHEN reverses IS NULL THEN '\x00'::bytea ELSE '\x01'::bytea || int8send(reverses) END
        || CASE WHEN memo IS NULL THEN int4send(-1)
                ELSE int4send(octet_length(memo)) || convert_to(memo, 'UTF8') END
        || CASE WHEN metadata IS NULL THEN int4send(-1)
                ELSE int4send(octet_length(metadata::text)) || convert_to(metadata::text, 'UTF8') END
        || int4send(octet_length(payload_hash)) || payload_hash
        || int8send((extract(epoch FROM created_at) * 1000000)::bigint));
COMMENT ON COLUMN creditledger.ledger_transfers.row_hash IS
    'SHA-256 of the row''s CLT1 encoding (README), set on insert by the trigger ledger_transfers_seal; the BCP rule transfers_consistent recomputes it. NULL only for a row inserted behind the guard.';
COMMENT ON TABLE creditledger.ledger_transfers IS
    'One row per transfer, multi-leg entry or reversal (kind transfer|entry|reversal; reverses set exactly for reversals); the voucher is the idempotency key, payload_hash the SHA-256 of the call''s arguments and row_hash the SHA-256 of the row itself (CLT1). Append-only (guard triggers). No CHECK constraints on the posting path: the functions are the only writers.';

CREATE FUNCTION creditledger._transfer_seal() RETURNS trigger
AS 'MODULE_PATHNAME', 'cl_transfer_seal' LANGUAGE C;
COMMENT ON FUNCTION creditledger._transfer_seal() IS
    'Trigger function: sets a new ledger_transfers row''s row_hash to its CLT1 hash (unless the row brings one, as a restore does).';
CREATE TRIGGER ledger_transfers_seal
    BEFORE INSERT ON creditledger.ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION creditledger._transfer_seal();

--------------------------------------------------------------------------
-- The critical rule transfers_consistent.  One row per mismatch:
--   journal entries and buffered postings (source journal|buffer, id =
--   entry_id|buffer_id) whose transfer does not exist, has another voucher,
--   or whose is_reversal disagrees with the transfer's kind;
--   transfers (source transfer) whose row_hash is not their CLT1 hash, that
--   have neither journal entries nor buffered postings, of kind transfer
--   without exactly one debit and one credit leg, of an unknown kind, a
--   reversal whose payload_hash is not that of reverse(<the voucher of the
--   transfer it reverses>, reason => memo) (reverses redirected, or the
--   original renamed), or with the internal moves' zero payload_hash but
--   not their shape (kind entry, no reverses, voucher
--   'creditledger:<what>:<account>:<transfer id>').
-- reversals_exact keeps checking existence, kind and mirror legs of the
-- original.  Cost: two scans of the journal (one hash-joined with
-- ledger_transfers, one grouped by transfer) and one SHA-256 per
-- transfer; a transfer's checks are one array unnested (a LATERAL VALUES
-- list costs twice as much).  The legs are counted per table, journal and
-- buffer apart, not over their UNION ALL: grouped so, the journal's
-- statistics tell the planner how many transfers there are, and it
-- streams the count in transfer_id order next to ledger_transfers instead
-- of building the whole count again in every parallel worker and spilling
-- it to disk (1,000,000 entries of 500,000 transfers: 3.1 s against
-- 4.5-4.9 s on this 2-core machine, work_mem 4MB).
--------------------------------------------------------------------------

INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('transfers_consistent', 'critical', true,
 'Legs and transfers agree: every journal entry and buffered posting belongs to an existing transfer with its voucher and kind; every transfer has legs, a row_hash equal to the hash of its fields (CLT1), a transfer kind has one debit and one credit leg, and a reversal''s payload names the transfer it reverses.',
 $r$SELECT l.source, l.id, l.transfer_id, l.voucher,
       CASE WHEN t.transfer_id IS NULL THEN 'transfer does not exist'
            WHEN l.voucher <> t.voucher THEN format('the transfer''s voucher is %L', t.voucher)
            ELSE format('is_reversal is %s but the transfer''s kind is %L', l.is_reversal, t.kind) END AS problem
  FROM (SELECT 'journal' AS source, entry_id AS id, transfer_id, voucher, is_reversal
          FROM creditledger.journal_entries
        UNION ALL
        SELECT 'buffer', buffer_id, transfer_id, voucher, is_reversal
          FROM creditledger.posting_buffer) l
  LEFT JOIN creditledger.ledger_transfers t ON t.transfer_id = l.transfer_id
 WHERE t.transfer_id IS NULL OR l.voucher <> t.voucher OR l.is_reversal <> (t.kind = 'reversal')
UNION ALL
SELECT * FROM (
SELECT 'transfer' AS source, t.transfer_id AS id, t.transfer_id, t.voucher, unnest(ARRAY[
    CASE WHEN t.row_hash IS DISTINCT FROM sha256('CLT1'::bytea || int8send(t.transfer_id)
              || int4send(octet_length(t.voucher)) || convert_to(t.voucher, 'UTF8')
              || int4send(octet_length(t.kind)) || convert_to(t.kind, 'UTF8')
              || CASE WHEN t.reverses IS NULL THEN '\x00'::bytea ELSE '\x01'::bytea || int8send(t.reverses) END
              || CASE WHEN t.memo IS NULL THEN int4send(-1)
                      ELSE int4send(octet_length(t.memo)) || convert_to(t.memo, 'UTF8') END
              || CASE WHEN t.metadata IS NULL THEN int4send(-1)
                      ELSE int4send(octet_length(t.metadata::text)) || convert_to(t.metadata::text, 'UTF8') END
              || int4send(octet_length(t.payload_hash)) || t.payload_hash
              || int8send((extract(epoch FROM t.created_at) * 1000000)::bigint))
          THEN 'row_hash differs from the hash of the row''s fields (CLT1)' END,
    CASE WHEN n.legs = 0 THEN 'no journal entry and no buffered posting' END,
    CASE WHEN t.kind = 'transfer' AND n.legs > 0 AND (n.legs <> 2 OR n.debits <> 1)
          THEN format('kind transfer with %s legs, %s of them debits', n.legs, n.debits) END,
    CASE WHEN t.kind NOT IN ('transfer', 'entry', 'reversal') THEN format('unknown kind %L', t.kind) END,
    CASE WHEN t.kind = 'reversal' AND o.transfer_id IS NOT NULL
           AND t.payload_hash <> sha256(int4send(8) || 'reversal'::bytea
                   || int4send(octet_length(o.voucher)) || convert_to(o.voucher, 'UTF8')
                   || CASE WHEN t.memo IS NULL THEN int4send(-1)
                           ELSE int4send(octet_length(t.memo)) || convert_to(t.memo, 'UTF8') END
                   || int4send(-1))
          THEN format('payload_hash is not that of a reversal of %L (transfer %s)', o.voucher, o.transfer_id) END,
    CASE WHEN t.payload_hash = '\x0000000000000000000000000000000000000000000000000000000000000000'::bytea
           AND NOT (t.kind = 'entry' AND t.reverses IS NULL
                    AND t.voucher LIKE 'creditledger:%:' || t.transfer_id::text)
          THEN 'the zero payload_hash of an internal move on a transfer that is not one' END]) AS problem
  FROM creditledger.ledger_transfers t
  LEFT JOIN (SELECT transfer_id, count(*) AS legs, count(*) FILTER (WHERE side = 'D') AS debits
               FROM creditledger.journal_entries GROUP BY transfer_id) j ON j.transfer_id = t.transfer_id
  LEFT JOIN (SELECT transfer_id, count(*) AS legs, count(*) FILTER (WHERE side = 'D') AS debits
               FROM creditledger.posting_buffer GROUP BY transfer_id) b ON b.transfer_id = t.transfer_id
  CROSS JOIN LATERAL (SELECT coalesce(j.legs, 0) + coalesce(b.legs, 0) AS legs,
                             coalesce(j.debits, 0) + coalesce(b.debits, 0) AS debits) n
  LEFT JOIN creditledger.ledger_transfers o ON o.transfer_id = t.reverses
) s
 WHERE s.problem IS NOT NULL$r$);

--------------------------------------------------------------------------
-- Ledger digests, format CLD2 (bcp.c, verify_scan.c, README):
--   leaf = SHA-256(0x00 || 'CLD2' || kind || id || sub || version || head hash || T)
-- where T, for a money chain, is T(version) with T(0) = 32 zero bytes and
-- T(v) = SHA-256(T(v-1) || CLT1 row hash of entry v's transfer), recomputed
-- from the ledger_transfers rows; 32 zero bytes for a credit chain.  Nodes
-- and tree as CLD1.  A digest keeps the format it was taken in.
--------------------------------------------------------------------------

ALTER TABLE creditledger.bcp_digests
    ADD COLUMN format text NOT NULL DEFAULT 'CLD1' CHECK (format IN ('CLD1', 'CLD2'));
-- digests of 0.2.0 are CLD1; ledger_digest() names the format of every new one
ALTER TABLE creditledger.bcp_digests ALTER COLUMN format DROP DEFAULT;
COMMENT ON COLUMN creditledger.bcp_digests.format IS
    'Leaf encoding of the digest: CLD1 (chain heads; digests of release 0.2.0) or CLD2 (chain heads and the transfers their entries reference).';
COMMENT ON TABLE creditledger.bcp_digests IS
    'Ledger digests taken by ledger_digest(): the Merkle root over the recorded chain heads (and, format CLD2, the transfers their entries reference). Append-only (guard triggers).';

ALTER TABLE creditledger.bcp_digest_heads ADD COLUMN transfers bytea;
COMMENT ON COLUMN creditledger.bcp_digest_heads.transfers IS
    'CLD2: T(version), the running SHA-256 over the CLT1 row hashes of the transfers of the chain''s entries 1..version (32 zero bytes for a credit chain); NULL in CLD1 digests.';
COMMENT ON TABLE creditledger.bcp_digest_heads IS
    'The chain heads a digest covers: kind A (account, sub-account) or L (credit line, slice), the head version and hash, and (CLD2) the running hash of the transfers the chain references. Append-only (guard triggers).';

CREATE FUNCTION creditledger._digest_leaf(kind "char", chain_id bigint, sub int, version bigint,
        hash bytea, transfers bytea)
RETURNS bytea LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT sha256('\x00'::bytea || convert_to('CLD2', 'UTF8') || convert_to(kind::text, 'UTF8')
                  || int8send(chain_id) || int4send(sub) || int8send(version) || hash || transfers)
$$;
COMMENT ON FUNCTION creditledger._digest_leaf("char", bigint, int, bigint, bytea, bytea) IS
    'CLD2 leaf of one chain head: SHA-256(0x00 || ''CLD2'' || kind || id || sub || version || hash || transfers).';

-- replaced by the two-argument form (the C entry point of the old one stays
-- in the library for schemas not yet updated)
DROP FUNCTION creditledger._digest_recompute(bigint);
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

-- ledger_digest() and verify_digest() take and check CLD2 digests with
-- these helpers; they are (re)defined once, in 50_money_holds.sql, since
-- they record and recompute the hold chains (kind H) as well.

REVOKE ALL ON FUNCTION creditledger._transfer_seal(),
    creditledger._digest_leaf("char", bigint, int, bigint, bytea, bytea),
    creditledger._digest_recompute(bigint, boolean),
    creditledger._digest_transfers("char"[], bigint[], int[], bigint[])
    FROM PUBLIC;
