--------------------------------------------------------------------------
-- Money holds (CONTRACT.md, "Money holds: pending transfers, funds holds,
-- account blocks"; issue 13).  The logic is C (holds.c, posting.c); this
-- file declares the state, the chained record and the views.
--
-- State.  A reservation (an open pending transfer's remaining amount on an
-- account it decreases, or an open funds hold's remaining amount) sits on
-- one chain of the account: the main chain (sub-account 0) or, for a split
-- account, one sub-account.  Each chain head (ledger_accounts for 0,
-- sub_accounts for 1..N) keeps `held`, the sum of the reservations on it,
-- next to its balance, so a decrease checks balance - held against the
-- floor under the same row lock it already takes.  ledger_accounts.block
-- is the account's block ('none', 'debits' 止付, 'credits' 止收, 'all').
--
-- Record.  Every reservation change, post, void, release, expiry, block and
-- unblock is one entry of the account's hold chain (hold_entries), chained
-- per (account, sub-account) like the money journal but with its own
-- encoding, CLH1 (README): versions 1, 2, ... without gaps, each entry's
-- held_after = the previous held_after + held_delta, hash = SHA-256 over
-- the previous hash and the entry's fields.  The head (hold_version,
-- hold_hash, held) lives in the chain's row.  verify_chain(), ledger_digest()
-- (kind H) and the critical BCP rules below cover them.
--
-- The pending transfer and funds hold rows carry the current state
-- (posted/released, status) and are updated under their row lock; the
-- append-only hold chain is the history, and the rules tie both together.
--------------------------------------------------------------------------

ALTER TABLE creditledger.ledger_accounts
    ADD COLUMN held bigint NOT NULL DEFAULT 0,
    ADD COLUMN block text NOT NULL DEFAULT 'none'
        CHECK (block IN ('none', 'debits', 'credits', 'all')),
    ADD COLUMN hold_version bigint NOT NULL DEFAULT 0,
    ADD COLUMN hold_hash bytea NOT NULL
        DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000';
COMMENT ON COLUMN creditledger.ledger_accounts.held IS
    'Sum of the reservations (open pending transfers that decrease the account, open funds holds) on the main chain; a decrease checks balance - held against min_balance.';
COMMENT ON COLUMN creditledger.ledger_accounts.block IS
    'none, debits (止付: no debit legs), credits (止收: no credit legs) or all; changed by set_account_block() and recorded in the hold chain.';
COMMENT ON COLUMN creditledger.ledger_accounts.hold_version IS
    'Version of the last hold_entries entry of the main chain''s hold chain (0: none).';
COMMENT ON COLUMN creditledger.ledger_accounts.hold_hash IS
    'Hash (CLH1) of the last hold_entries entry of the main chain''s hold chain (32 zero bytes: none).';

ALTER TABLE creditledger.sub_accounts
    ADD COLUMN held bigint NOT NULL DEFAULT 0,
    ADD COLUMN hold_version bigint NOT NULL DEFAULT 0,
    ADD COLUMN hold_hash bytea NOT NULL
        DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000';
COMMENT ON COLUMN creditledger.sub_accounts.held IS
    'Sum of the reservations on this sub-account (a split account''s reservation sits in one sub-account).';
COMMENT ON COLUMN creditledger.sub_accounts.hold_version IS
    'Version of the last entry of this sub-account''s hold chain (0: none).';
COMMENT ON COLUMN creditledger.sub_accounts.hold_hash IS
    'Hash (CLH1) of the last entry of this sub-account''s hold chain.';

CREATE SEQUENCE creditledger.pending_id_seq;
CREATE TABLE creditledger.ledger_pending_transfers (
    pending_id     bigint PRIMARY KEY DEFAULT nextval('creditledger.pending_id_seq'),
    voucher        text NOT NULL UNIQUE,
    debit_account  bigint NOT NULL,
    credit_account bigint NOT NULL,
    amount         bigint NOT NULL CHECK (amount > 0),
    debit_sub      int,
    credit_sub     int,
    posted         bigint NOT NULL DEFAULT 0,
    status         text NOT NULL DEFAULT 'pending'
                   CHECK (status IN ('pending', 'posted', 'voided', 'expired')),
    expires_at     timestamptz,
    memo           text,
    metadata       jsonb,
    payload_hash   bytea NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    closed_at      timestamptz,
    CHECK (posted >= 0 AND posted <= amount)
);
ALTER SEQUENCE creditledger.pending_id_seq OWNED BY creditledger.ledger_pending_transfers.pending_id;
CREATE INDEX ledger_pending_transfers_due_idx ON creditledger.ledger_pending_transfers (expires_at)
    WHERE status = 'pending' AND expires_at IS NOT NULL;
CREATE INDEX ledger_pending_transfers_debit_idx ON creditledger.ledger_pending_transfers (debit_account)
    WHERE status = 'pending';
CREATE INDEX ledger_pending_transfers_credit_idx ON creditledger.ledger_pending_transfers (credit_account)
    WHERE status = 'pending';
COMMENT ON TABLE creditledger.ledger_pending_transfers IS
    'Pending transfers (transfer_pending): the voucher is the idempotency key; debit_sub/credit_sub name the chain holding the reservation on an account the transfer decreases (NULL: that account is not decreased, nothing reserved there); posted and status change under the row lock (transfer_post, transfer_void, expiry); the history is the hold chain.';

CREATE SEQUENCE creditledger.funds_hold_id_seq;
CREATE TABLE creditledger.ledger_funds_holds (
    hold_id      bigint PRIMARY KEY DEFAULT nextval('creditledger.funds_hold_id_seq'),
    ref          text NOT NULL UNIQUE,
    account_id   bigint NOT NULL,
    sub_account  int NOT NULL,
    amount       bigint NOT NULL CHECK (amount > 0),
    released     bigint NOT NULL DEFAULT 0,
    status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'released', 'expired')),
    reason       text,
    expires_at   timestamptz,
    payload_hash bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz,
    CHECK (released >= 0 AND released <= amount)
);
ALTER SEQUENCE creditledger.funds_hold_id_seq OWNED BY creditledger.ledger_funds_holds.hold_id;
CREATE INDEX ledger_funds_holds_due_idx ON creditledger.ledger_funds_holds (expires_at)
    WHERE status = 'open' AND expires_at IS NOT NULL;
CREATE INDEX ledger_funds_holds_account_idx ON creditledger.ledger_funds_holds (account_id)
    WHERE status = 'open';
COMMENT ON TABLE creditledger.ledger_funds_holds IS
    'Funds holds (hold_funds: 金额冻结, e.g. a court''s freeze, 司法冻结): the ref is the idempotency key; the reservation sits on (account_id, sub_account); released and status change under the row lock (release_funds, expiry); the history is the hold chain.';

CREATE SEQUENCE creditledger.hold_operation_id_seq;
CREATE TABLE creditledger.hold_operations (
    operation_id bigint PRIMARY KEY DEFAULT nextval('creditledger.hold_operation_id_seq'),
    kind         text NOT NULL CHECK (kind IN ('void', 'release')),
    ref          text NOT NULL,
    target_id    bigint NOT NULL,
    payload_hash bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, ref)
);
ALTER SEQUENCE creditledger.hold_operation_id_seq OWNED BY creditledger.hold_operations.operation_id;
COMMENT ON TABLE creditledger.hold_operations IS
    'The reference namespaces of transfer_void (kind void; target: the pending id) and release_funds (kind release; target: the funds hold id), each with the SHA-256 of the call''s arguments. Append-only (guard triggers).';

CREATE SEQUENCE creditledger.hold_entry_id_seq;
CREATE TABLE creditledger.hold_entries (
    entry_id     bigint PRIMARY KEY DEFAULT nextval('creditledger.hold_entry_id_seq'),
    account_id   bigint NOT NULL,
    sub_account  int NOT NULL,
    version      bigint NOT NULL,
    op           text NOT NULL,
    target       "char" NOT NULL,
    target_id    bigint NOT NULL,
    ref          text NOT NULL,
    transfer_id  bigint,
    amount       bigint NOT NULL,
    held_delta   bigint NOT NULL,
    held_after   bigint NOT NULL,
    block        text NOT NULL,
    actor        text NOT NULL,
    reason       text,
    prev_hash    bytea NOT NULL,
    hash         bytea NOT NULL,
    created_at   timestamptz NOT NULL,
    UNIQUE (account_id, sub_account, version)
) USING heap;
ALTER SEQUENCE creditledger.hold_entry_id_seq OWNED BY creditledger.hold_entries.entry_id;
CREATE INDEX hold_entries_target_idx ON creditledger.hold_entries (target, target_id);
COMMENT ON TABLE creditledger.hold_entries IS
    'The hold chain: one entry per reservation change or block change, chained per (account_id, sub_account) by version and SHA-256 (CLH1, README). op: pending, post, post_final, void (target P: a pending transfer), hold, release, release_final (target F: a funds hold), expire (P or F), block (target A: the account; block = the new block). Append-only (guard triggers).';

CREATE TRIGGER hold_entries_append_only
    BEFORE UPDATE OR DELETE ON creditledger.hold_entries
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();
CREATE TRIGGER hold_entries_no_truncate
    BEFORE TRUNCATE ON creditledger.hold_entries
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();
CREATE TRIGGER hold_operations_append_only
    BEFORE UPDATE OR DELETE ON creditledger.hold_operations
    FOR EACH ROW EXECUTE FUNCTION creditledger.refuse_journal_change();
CREATE TRIGGER hold_operations_no_truncate
    BEFORE TRUNCATE ON creditledger.hold_operations
    FOR EACH STATEMENT EXECUTE FUNCTION creditledger.refuse_journal_change();

SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_pending_transfers', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.ledger_funds_holds', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.hold_operations', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.hold_entries', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.pending_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.funds_hold_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.hold_operation_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('creditledger.hold_entry_id_seq', '');

--------------------------------------------------------------------------
-- The CLH1 entry hash in SQL (verify_chain, digests, BCP and auditors
-- recompute with it; holds.c computes the same bytes in C when it appends
-- an entry, and the regression test holds compares the two).
--------------------------------------------------------------------------

CREATE FUNCTION creditledger._hold_entry_hash(prev_hash bytea, account_id bigint, sub_account int,
        version bigint, op text, target "char", target_id bigint, ref text, transfer_id bigint,
        amount bigint, held_delta bigint, held_after bigint, block text, actor text, reason text,
        created_at timestamptz)
RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE SET search_path = pg_catalog, pg_temp AS $$
    SELECT sha256(prev_hash || 'CLH1'::bytea || int8send(account_id) || int4send(sub_account)
        || int8send(version)
        || int4send(octet_length(op)) || convert_to(op, 'UTF8')
        || convert_to(target::text, 'UTF8') || int8send(target_id)
        || int4send(octet_length(ref)) || convert_to(ref, 'UTF8')
        || CASE WHEN transfer_id IS NULL THEN '\x00'::bytea ELSE '\x01'::bytea || int8send(transfer_id) END
        || int8send(amount) || int8send(held_delta) || int8send(held_after)
        || int4send(octet_length(block)) || convert_to(block, 'UTF8')
        || int4send(octet_length(actor)) || convert_to(actor, 'UTF8')
        || CASE WHEN reason IS NULL THEN int4send(-1)
                ELSE int4send(octet_length(reason)) || convert_to(reason, 'UTF8') END
        || int8send((extract(epoch FROM created_at) * 1000000)::bigint))
$$;
COMMENT ON FUNCTION creditledger._hold_entry_hash(bytea, bigint, int, bigint, text, "char", bigint, text, bigint, bigint, bigint, bigint, text, text, text, timestamptz) IS
    'CLH1 hash of one hold chain entry: SHA-256(prev_hash || ''CLH1'' || account || sub || version || len+op || target || target_id || len+ref || (0x00 | 0x01 || transfer_id) || amount || held_delta || held_after || len+block || len+actor || (-1 | len+reason) || created_at usecs), integers big-endian.';

--------------------------------------------------------------------------
-- Views
--------------------------------------------------------------------------

CREATE VIEW creditledger.pending_transfers AS
SELECT p.pending_id, p.voucher, p.debit_account, p.credit_account, p.amount, p.posted,
       CASE WHEN p.status = 'pending' THEN p.amount - p.posted ELSE 0 END::bigint AS remaining,
       p.status, p.expires_at, p.created_at, p.memo, p.metadata, p.closed_at
  FROM creditledger.ledger_pending_transfers p;
COMMENT ON VIEW creditledger.pending_transfers IS
    'Pending transfers: amount, posted so far, remaining (what is still reserved; 0 once posted, voided or expired), status pending|posted|voided|expired. A pending row past its expires_at counts as released and is expired by the worker or expire_pending().';

CREATE VIEW creditledger.funds_holds AS
SELECT h.hold_id, h.ref, h.account_id, h.amount, h.released,
       CASE WHEN h.status = 'open' THEN h.amount - h.released ELSE 0 END::bigint AS remaining,
       h.status, h.reason, h.expires_at, h.created_at, h.sub_account, h.closed_at
  FROM creditledger.ledger_funds_holds h;
COMMENT ON VIEW creditledger.funds_holds IS
    'Funds holds: amount, released so far, remaining (still reserved), status open|released|expired; sub_account is the chain holding the reservation.';

CREATE VIEW creditledger.hold_journal AS
SELECT e.entry_id, e.account_id, e.sub_account, e.version, e.op, e.target::text AS target,
       e.target_id, e.ref, e.transfer_id, e.amount, e.held_delta, e.held_after, e.block,
       e.actor, e.reason, e.prev_hash, e.hash, e.created_at
  FROM creditledger.hold_entries e;
COMMENT ON VIEW creditledger.hold_journal IS
    'The hold chain, one row per reservation or block change; columns come straight from creditledger.hold_entries.';

CREATE OR REPLACE VIEW creditledger.accounts AS
SELECT a.account_id, a.code, a.currency, a.normal_side,
       (a.balance + coalesce(s.balance, 0) + coalesce(b.amount, 0))::bigint AS balance,
       (a.balance + coalesce(s.balance, 0))::bigint AS posted_balance,
       coalesce(b.amount, 0)::bigint AS buffered_amount,
       coalesce(b.count, 0)::bigint AS buffered_count,
       a.version, a.min_balance, a.hot_mode, a.shards, a.status,
       (a.held + coalesce(s.held, 0))::bigint AS held,
       (a.balance + coalesce(s.balance, 0) + coalesce(b.amount, 0)
        - a.held - coalesce(s.held, 0))::bigint AS available,
       a.block
  FROM creditledger.ledger_accounts a
  LEFT JOIN LATERAL (SELECT sum(sa.balance) AS balance, sum(sa.held) AS held
                       FROM creditledger.sub_accounts sa
                      WHERE sa.account_id = a.account_id) s ON true
  LEFT JOIN LATERAL (SELECT sum(pb.amount) AS amount, count(*) AS count
                       FROM creditledger.posting_buffer pb
                      WHERE pb.account_id = a.account_id) b ON true;
COMMENT ON VIEW creditledger.accounts IS
    'One row per account with the columns of account_state(): balance = posted + committed buffered postings; held = open reservations (pending transfers that decrease the account, funds holds); available = balance - held; block = none|debits|credits|all.';

DROP FUNCTION creditledger.account_state(bigint);
CREATE FUNCTION creditledger.account_state(account bigint)
RETURNS TABLE(account_id bigint, code text, currency text, normal_side text,
              balance bigint, posted_balance bigint, buffered_amount bigint,
              buffered_count bigint, version bigint, min_balance bigint,
              hot_mode text, shards int, status text,
              held bigint, available bigint, block text)
AS 'MODULE_PATHNAME', 'cl_account_state'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.account_state(bigint) IS
    'One row describing the account (the columns of the accounts view, held, available and block included); LD003 if unknown.';

--------------------------------------------------------------------------
-- Functions (C, holds.c)
--------------------------------------------------------------------------

CREATE FUNCTION creditledger.transfer_pending(voucher text, debit_account bigint,
        credit_account bigint, amount bigint, expires_at timestamptz DEFAULT NULL,
        memo text DEFAULT NULL, metadata jsonb DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_transfer_pending'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.transfer_pending(text, bigint, bigint, bigint, timestamptz, text, jsonb) IS
    'Authorises a transfer: reserves amount on each account the transfer would decrease (checked against available = balance - held and min_balance, LD001) and changes no balance; returns the pending id. Idempotent on voucher (its own namespace).';

CREATE FUNCTION creditledger.transfer_post(voucher text, pending_voucher text,
        amount bigint DEFAULT NULL, final boolean DEFAULT true)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_transfer_post'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.transfer_post(text, text, bigint, boolean) IS
    'Captures amount (default: all that remains) of a pending transfer as a real transfer under voucher (the transfers namespace) and returns its transfer id; final releases the rest, otherwise it stays pending. LD013 if the pending transfer is unknown, not pending any more (posted, voided, expired or due) or has less left.';

CREATE FUNCTION creditledger.transfer_void(voucher text, pending_voucher text)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_transfer_void'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.transfer_void(text, text) IS
    'Voids a pending transfer: releases what remains; returns the pending id. Idempotent on voucher (the voids'' namespace). Works on blocked accounts.';

CREATE FUNCTION creditledger.hold_funds(ref text, account bigint, amount bigint,
        reason text DEFAULT NULL, expires_at timestamptz DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_hold_funds'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.hold_funds(text, bigint, bigint, text, timestamptz) IS
    'Holds amount of the account''s available balance (金额冻结, 司法冻结): the money stays owned but cannot be spent (LD001 if available is short); returns the funds hold id. Idempotent on ref.';

CREATE FUNCTION creditledger.release_funds(ref text, hold_ref text, amount bigint DEFAULT NULL)
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_release_funds'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.release_funds(text, text, bigint) IS
    'Releases amount (default: all that remains) of a funds hold; returns the funds hold id. Idempotent on ref (the releases'' namespace). LD013 for an unknown, released, expired or due hold or more than remains.';

CREATE FUNCTION creditledger.expire_pending()
RETURNS bigint AS 'MODULE_PATHNAME', 'cl_expire_pending'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.expire_pending() IS
    'Releases every pending transfer and funds hold past its expires_at (the background worker does it every creditledger.hold_expiry_interval); returns how many. Rows another transaction is working on are left for the next run.';

CREATE FUNCTION creditledger.set_account_block(account bigint, block text, reason text DEFAULT NULL)
RETURNS void AS 'MODULE_PATHNAME', 'cl_set_account_block'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION creditledger.set_account_block(bigint, text, text) IS
    'Blocks an account for debits (止付), credits (止收), all, or unblocks it (none): new postings in that direction, posting a pending transfer included, get LD012; voids, releases and expiries still work. Recorded in the hold chain (who, when, reason). Waits for the postings in flight on the account.';

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

--------------------------------------------------------------------------
-- Digests: hold chains are kind H (CLD2 leaf with T = 32 zero bytes).
--------------------------------------------------------------------------

ALTER TABLE creditledger.bcp_digest_heads DROP CONSTRAINT bcp_digest_heads_kind_check;
ALTER TABLE creditledger.bcp_digest_heads ADD CONSTRAINT bcp_digest_heads_kind_check
    CHECK (kind IN ('A', 'L', 'H'));
COMMENT ON TABLE creditledger.bcp_digest_heads IS
    'The chain heads a digest covers: kind A (account, sub-account), L (credit line, slice) or H (hold chain of an account, sub-account), the head version and hash, and (CLD2) the running hash of the transfers the chain references. Append-only (guard triggers).';

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

CREATE OR REPLACE FUNCTION creditledger.ledger_digest()
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

CREATE OR REPLACE FUNCTION creditledger.verify_digest(digest_id bigint, digest bytea)
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

--------------------------------------------------------------------------
-- Built-in BCP rules (critical)
--------------------------------------------------------------------------

INSERT INTO creditledger.bcp_rules (name, severity, builtin, description, check_sql) VALUES
('held_equals_open_reservations', 'critical', true,
 'Every chain''s held (account main chain and each sub-account) equals the remaining amounts of the open pending transfers and funds holds whose reservation sits on it.',
 $r$WITH r AS (
    SELECT p.debit_account AS account_id, p.debit_sub AS sub_account, p.amount - p.posted AS remaining
      FROM creditledger.ledger_pending_transfers p
     WHERE p.status = 'pending' AND p.debit_sub IS NOT NULL
    UNION ALL
    SELECT p.credit_account, p.credit_sub, p.amount - p.posted
      FROM creditledger.ledger_pending_transfers p
     WHERE p.status = 'pending' AND p.credit_sub IS NOT NULL
    UNION ALL
    SELECT h.account_id, h.sub_account, h.amount - h.released
      FROM creditledger.ledger_funds_holds h WHERE h.status = 'open'
), s AS (
    SELECT r.account_id, r.sub_account, sum(r.remaining) AS reserved FROM r GROUP BY 1, 2
), c AS (
    SELECT a.account_id, 0 AS sub_account, a.held FROM creditledger.ledger_accounts a
    UNION ALL
    SELECT x.account_id, x.sub_account, x.held FROM creditledger.sub_accounts x
)
SELECT coalesce(c.account_id, s.account_id) AS account_id,
       coalesce(c.sub_account, s.sub_account) AS sub_account,
       c.held, coalesce(s.reserved, 0) AS open_reservations
  FROM c FULL JOIN s ON s.account_id = c.account_id AND s.sub_account = c.sub_account
 WHERE coalesce(c.held, 0) <> coalesce(s.reserved, 0) OR c.account_id IS NULL$r$),
('pending_posted_within_amount', 'critical', true,
 'No pending transfer has posted more than its amount: its posted equals the sum of its post entries, each post is a transfer of that amount between its accounts, and the sum does not exceed the amount.',
 $r$WITH posts AS (
    SELECT e.target_id AS pending_id, e.transfer_id, e.ref, e.amount
      FROM creditledger.hold_entries e
      JOIN creditledger.ledger_pending_transfers p ON p.pending_id = e.target_id
     WHERE e.target = 'P' AND e.op IN ('post', 'post_final')
       AND e.account_id = p.debit_account AND e.sub_account = coalesce(p.debit_sub, 0)
), legs AS (
    SELECT j.transfer_id, sum(j.amount) FILTER (WHERE j.side = 'D') AS debited
      FROM (SELECT transfer_id, side, amount FROM creditledger.journal_entries
            UNION ALL
            SELECT transfer_id, side, amount FROM creditledger.posting_buffer) j
     WHERE j.transfer_id IN (SELECT transfer_id FROM posts)
     GROUP BY j.transfer_id
)
SELECT p.pending_id, p.voucher, p.amount, p.posted, coalesce(sum(x.amount), 0) AS post_entries,
       'posted differs from its post entries or exceeds the amount' AS problem
  FROM creditledger.ledger_pending_transfers p
  LEFT JOIN posts x ON x.pending_id = p.pending_id
 GROUP BY p.pending_id
HAVING p.posted <> coalesce(sum(x.amount), 0) OR coalesce(sum(x.amount), 0) > p.amount
UNION ALL
SELECT x.pending_id, x.ref, x.amount, NULL, l.debited, 'post entry whose transfer does not move its amount'
  FROM posts x LEFT JOIN legs l ON l.transfer_id = x.transfer_id
 WHERE l.debited IS DISTINCT FROM x.amount$r$),
('pending_single_outcome', 'critical', true,
 'No pending transfer is both posted and voided (or expired): at most one final outcome (post_final, void, expire) per pending transfer, nothing after it, and its status agrees with it.',
 $r$WITH ev AS (
    SELECT p.pending_id, p.voucher, p.status,
           count(*) FILTER (WHERE e.op IN ('post_final', 'void', 'expire')) AS outcomes,
           max(e.op) FILTER (WHERE e.op IN ('post_final', 'void', 'expire')) AS outcome,
           max(e.version) FILTER (WHERE e.op IN ('post_final', 'void', 'expire')) AS outcome_version,
           max(e.version) AS last_version
      FROM creditledger.ledger_pending_transfers p
      LEFT JOIN creditledger.hold_entries e
        ON e.target = 'P' AND e.target_id = p.pending_id
       AND e.account_id = p.debit_account AND e.sub_account = coalesce(p.debit_sub, 0)
     GROUP BY p.pending_id
)
SELECT pending_id, voucher, status, outcomes, outcome
  FROM ev
 WHERE outcomes > 1
    OR (outcomes = 1 AND outcome_version <> last_version)
    OR status <> CASE outcome WHEN 'post_final' THEN 'posted' WHEN 'void' THEN 'voided'
                              WHEN 'expire' THEN 'expired' ELSE 'pending' END$r$),
('pending_not_overdue', 'warning', true,
 'No pending transfer or funds hold stays past its expires_at longer than creditledger.bcp_hold_overdue (is the worker expiring them?).',
 $r$SELECT 'pending' AS kind, pending_id AS id, voucher AS ref, expires_at, now() - expires_at AS overdue
  FROM creditledger.ledger_pending_transfers
 WHERE status = 'pending'
   AND expires_at < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                                     interval '1 minute')
UNION ALL
SELECT 'funds_hold', hold_id, ref, expires_at, now() - expires_at
  FROM creditledger.ledger_funds_holds
 WHERE status = 'open'
   AND expires_at < now() - coalesce(nullif(pg_catalog.current_setting('creditledger.bcp_hold_overdue', true), '')::interval,
                                     interval '1 minute')$r$);

--------------------------------------------------------------------------
-- Monitoring: pending counts and amounts, expiries, oldest pending age.
--------------------------------------------------------------------------

CREATE VIEW creditledger.stat_holds AS
SELECT a.currency,
       count(p.pending_id) FILTER (WHERE p.status = 'pending')::bigint AS pending_count,
       coalesce(sum(p.amount - p.posted) FILTER (WHERE p.status = 'pending'), 0)::bigint AS pending_amount,
       coalesce(max(now() - p.created_at) FILTER (WHERE p.status = 'pending'), interval '0') AS oldest_pending_age,
       count(p.pending_id) FILTER (WHERE p.status = 'pending' AND p.expires_at <= now())::bigint AS pending_overdue,
       count(p.pending_id) FILTER (WHERE p.status = 'expired' AND p.closed_at > now() - interval '1 minute')::bigint
           AS pending_expired_last_minute,
       (SELECT count(*) FROM creditledger.ledger_funds_holds h
          JOIN creditledger.ledger_accounts b ON b.account_id = h.account_id
         WHERE h.status = 'open' AND b.currency = a.currency)::bigint AS funds_holds_count,
       (SELECT coalesce(sum(h.amount - h.released), 0) FROM creditledger.ledger_funds_holds h
          JOIN creditledger.ledger_accounts b ON b.account_id = h.account_id
         WHERE h.status = 'open' AND b.currency = a.currency)::bigint AS funds_holds_amount,
       (SELECT count(*) FROM creditledger.ledger_funds_holds h
          JOIN creditledger.ledger_accounts b ON b.account_id = h.account_id
         WHERE h.status = 'expired' AND h.closed_at > now() - interval '1 minute'
           AND b.currency = a.currency)::bigint AS funds_holds_expired_last_minute,
       (SELECT count(*) FROM creditledger.ledger_accounts b
         WHERE b.block <> 'none' AND b.currency = a.currency)::bigint AS blocked_accounts
  FROM (SELECT DISTINCT currency FROM creditledger.ledger_accounts) a
  LEFT JOIN creditledger.ledger_accounts d ON d.currency = a.currency
  LEFT JOIN creditledger.ledger_pending_transfers p ON p.debit_account = d.account_id
 GROUP BY a.currency;
COMMENT ON VIEW creditledger.stat_holds IS
    'Money holds per currency: open pending transfers (count, remaining amount, oldest age, past expires_at), pending transfers and funds holds expired in the last minute (expiries per minute), open funds holds (count, amount), blocked accounts.';

CREATE FUNCTION creditledger._metrics_holds() RETURNS text
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
    SELECT '# HELP creditledger_pending_transfers Open pending transfers.' || E'\n'
        || '# TYPE creditledger_pending_transfers gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_pending_transfers{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.pending_count), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_pending_amount Remaining (reserved) amount of open pending transfers, minor units.' || E'\n'
        || '# TYPE creditledger_pending_amount gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_pending_amount{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.pending_amount), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_pending_oldest_age_seconds Age of the oldest open pending transfer.' || E'\n'
        || '# TYPE creditledger_pending_oldest_age_seconds gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_pending_oldest_age_seconds{currency="%s"} %s',
               creditledger._prom_label(s.currency), extract(epoch FROM s.oldest_pending_age)::float8),
               E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_pending_expired_last_minute Pending transfers expired in the last minute.' || E'\n'
        || '# TYPE creditledger_pending_expired_last_minute gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_pending_expired_last_minute{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.pending_expired_last_minute), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_funds_holds Open funds holds.' || E'\n'
        || '# TYPE creditledger_funds_holds gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_funds_holds{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.funds_holds_count), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_funds_held_amount Remaining amount of open funds holds, minor units.' || E'\n'
        || '# TYPE creditledger_funds_held_amount gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_funds_held_amount{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.funds_holds_amount), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_funds_holds_expired_last_minute Funds holds expired in the last minute.' || E'\n'
        || '# TYPE creditledger_funds_holds_expired_last_minute gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_funds_holds_expired_last_minute{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.funds_holds_expired_last_minute), E'\n' ORDER BY s.currency) || E'\n', '')
        || '# HELP creditledger_blocked_accounts Accounts blocked for debits, credits or both.' || E'\n'
        || '# TYPE creditledger_blocked_accounts gauge' || E'\n'
        || coalesce(string_agg(format('creditledger_blocked_accounts{currency="%s"} %s',
               creditledger._prom_label(s.currency), s.blocked_accounts), E'\n' ORDER BY s.currency) || E'\n', '')
      FROM creditledger.stat_holds s
$$;
COMMENT ON FUNCTION creditledger._metrics_holds() IS
    'The money-holds part of metrics(): creditledger_pending_* and creditledger_funds_* gauges per currency and blocked accounts.';

CREATE OR REPLACE FUNCTION creditledger.metrics() RETURNS text
LANGUAGE sql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
    SELECT creditledger._metrics_core() || creditledger._metrics_bcp() || creditledger._metrics_holds()
$$;
COMMENT ON FUNCTION creditledger.metrics() IS
    'All creditledger statistics (operations, latency histogram, errors by kind and by SQLSTATE with their alert thresholds, hot accounts, background workers, credit alerts, BCP results, money holds) in the Prometheus text exposition format, every label value escaped; every operation''s counters exist from startup (0); needs the library preloaded (55000 with a hint otherwise).';

REVOKE ALL ON FUNCTION creditledger._hold_chain_problems(bigint),
    creditledger._hold_digest_recompute(bigint),
    creditledger._hold_entry_hash(bytea, bigint, int, bigint, text, "char", bigint, text, bigint, bigint, bigint, bigint, text, text, text, timestamptz)
    FROM PUBLIC;
