-- Money holds: pending transfers, funds holds, account blocks: views and SQL-language functions (created after the tables and functions they read).
-- Part of the current install script (sql/creditledger--0.3.0.sql, assembled by
-- the Makefile from sql/src/ in path order: tables, functions, triggers,
-- views, data, grants).

-- The CLH1 entry hash in SQL (verify_chain, digests, BCP and auditors
-- recompute with it; holds.c computes the same bytes in C when it appends
-- an entry, and the regression test holds compares the two).
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
