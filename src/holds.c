/*
 * holds.c: money holds: transfer_pending, transfer_post, transfer_void,
 * hold_funds, release_funds, expire_pending and set_account_block, and the
 * release of due reservations (registered with posting.c, below, which
 * calls it when a chain is short).  The hold chain's entries are written
 * by hold_chain.c.
 *
 * A reservation (an open pending transfer's remaining amount on an account
 * it decreases, or an open funds hold's remaining amount) sits on one chain
 * of its account: the main chain, or one sub-account of a split account.
 * The chain's row keeps `held`; posting.c checks every decrease against
 * balance - held under the chain's row lock, so reservations and decreases
 * are serialised exactly as decreases are among themselves.  Every change
 * of held and every block change is an entry of the chain's hold chain
 * (hold_entries, CLH1), and the head (held, hold_version, hold_hash) is
 * written with the chain's balance head.  hold_append (hold_chain.c)
 * appends the entry through chain.c's one ChainWriter with the hold chain
 * kind (CLH1, hold_entry_hash), as journal and credit entries are appended;
 * creditledger._hold_entry_hash is the same encoding in SQL, which
 * verification, digests and auditors use (the regression test holds
 * checks that both give the same bytes for every entry).  A
 * pending transfer's record (pending, post, post_final, void, expire) is
 * always on its debit account's chain (the reservation's chain, or the main
 * chain when the debit does not decrease it), and on the credit account's
 * reservation chain too when the credit decreases that account.
 *
 * References.  Pending vouchers: ledger_pending_transfers.voucher; post
 * vouchers: the transfers namespace (a post is a real transfer, claimed
 * through transfers.c); voids and releases: hold_operations (kind, ref);
 * funds holds: ledger_funds_holds.ref.  Each claim is INSERT ... ON
 * CONFLICT DO NOTHING on a unique index (a pending voucher's in C,
 * heapwrite.c's direct_claim, with the executor's speculative insertion),
 * so the same reference in two sessions waits for the first and then
 * replays (same payload: the first id) or conflicts (LD004).  The claim
 * comes before any state is looked at, so checks run in the contract's
 * order.  transfer_post and transfer_void find the pending row once, by
 * its voucher, before their claim, lock that row by TID after it and write
 * its new version directly (see "Pending transfers read, locked and
 * written in C" below).
 *
 * Locking order (waiting locks), which every function here follows:
 *   1. the reference's unique index entry (the claim),
 *   2. the pending transfer's or funds hold's row (FOR UPDATE): post, void,
 *      release and expiry of one record are serialised on it,
 *   3. the accounts' mode locks, shared, ascending (set_account_block and
 *      set_hot_mode take them exclusively),
 *   4. chain rows in ascending (account, sub-account) order (locking.c).
 * A posting that finds a chain short and releases the due reservations on
 * it (holds_release_due) already holds step 4 and takes step 2 only with
 * SKIP LOCKED: a record another transaction is posting, voiding or
 * expiring is left to it.  Expiry (worker, expire_pending) takes each due
 * record with SKIP LOCKED too, so it never waits for an application call;
 * and since one expiry transaction releases many records, whose chains
 * come in no particular order, it waits for mode locks and chain rows only
 * while it holds none: after the first, a record whose locks are taken is
 * left for the next pass (apply_changes), so expiry never closes a
 * deadlock with a posting.
 *
 * A pending transfer that is a disbursement in transit (lending.c) changes
 * its credit in the same transaction: transfer_post and transfer_void take
 * the credit graph lock before their claim and the credit lines after the
 * pending row, before the accounts; expiry does both halves in a
 * subtransaction, trying the credit locks (lending.c's hooks, which it
 * registers at load: PendingTransitHooks).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "mb/pg_wchar.h"
#include "common/int.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/itemptr.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "chain.h"
#include "errcodes.h"
#include "heapwrite.h"
#include "hold_chain.h"
#include "holds.h"
#include "hot_internal.h"
#include "journal.h"
#include "locking.h"
#include "lockorder.h"
#include "opstats.h"
#include "posting.h"
#include "spi_plans.h"
#include "validate.h"

CL_TRACKED_FUNCTION_SHARED(cl_transfer_pending, CL_OP_TRANSFER_PENDING, cl_transfer_pending_impl)
CL_TRACKED_FUNCTION_SHARED(cl_transfer_post, CL_OP_TRANSFER_POST, cl_transfer_post_impl)
CL_TRACKED_FUNCTION_SHARED(cl_transfer_void, CL_OP_TRANSFER_VOID, cl_transfer_void_impl)
CL_TRACKED_FUNCTION(cl_hold_funds, CL_OP_HOLD_FUNDS, hold_funds_impl)
CL_TRACKED_FUNCTION(cl_release_funds, CL_OP_RELEASE_FUNDS, release_funds_impl)
CL_TRACKED_FUNCTION(cl_expire_pending, CL_OP_EXPIRE_PENDING, expire_pending_impl)
CL_TRACKED_FUNCTION(cl_set_account_block, CL_OP_SET_ACCOUNT_BLOCK, set_account_block_impl)

/* Most due records one expiry pass takes (the next pass takes the rest). */
#define CL_EXPIRE_BATCH 10000

static ClPlan claim_pending_plan = {
	"INSERT INTO creditledger.ledger_pending_transfers (voucher, debit_account, credit_account,"
	"   amount, expires_at, memo, metadata, payload_hash, debit_sub, credit_sub)"
	" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
	" ON CONFLICT (voucher) DO NOTHING RETURNING pending_id, ctid",
	10, {TEXTOID, INT8OID, INT8OID, INT8OID, TIMESTAMPTZOID, TEXTOID, JSONBOID, BYTEAOID,
	INT4OID, INT4OID}
};

static ClPlan find_pending_plan = {
	"SELECT pending_id, payload_hash, memo, metadata"
	"  FROM creditledger.ledger_pending_transfers WHERE voucher OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

static ClPlan set_pending_subs_plan = {
	"UPDATE creditledger.ledger_pending_transfers SET debit_sub = $2, credit_sub = $3"
	" WHERE pending_id OPERATOR(pg_catalog.=) $1",
	3, {INT8OID, INT4OID, INT4OID}
};

/* columns of the lock plans below, in this order */
#define PENDING_COLUMNS \
	"SELECT pending_id, voucher, debit_account, credit_account, amount, posted, status," \
	"       expires_at IS NOT NULL AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now(),"\
	"       debit_sub, credit_sub, expires_at::pg_catalog.text" \
	"  FROM creditledger.ledger_pending_transfers"

static ClPlan lock_due_pending_plan = {
	PENDING_COLUMNS " WHERE pending_id OPERATOR(pg_catalog.=) $1"
	"   AND status OPERATOR(pg_catalog.=) 'pending'::pg_catalog.text"
	"   AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" FOR UPDATE SKIP LOCKED",
	1, {INT8OID}
};

static ClPlan update_pending_plan = {
	"UPDATE creditledger.ledger_pending_transfers SET posted = $2, status = $3,"
	"       closed_at = CASE WHEN $3 OPERATOR(pg_catalog.=) 'pending'::pg_catalog.text"
	"                        THEN NULL ELSE pg_catalog.now() END"
	" WHERE pending_id OPERATOR(pg_catalog.=) $1",
	3, {INT8OID, INT8OID, TEXTOID}
};

static ClPlan due_pendings_plan = {
	"SELECT pending_id FROM creditledger.ledger_pending_transfers"
	" WHERE status OPERATOR(pg_catalog.=) 'pending'::pg_catalog.text"
	"   AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" ORDER BY expires_at, pending_id LIMIT $1",
	1, {INT8OID}
};

/* due pending transfers whose every chain is (account, sub): the debit one */
static ClPlan due_on_chain_pending_plan = {
	PENDING_COLUMNS " WHERE debit_account OPERATOR(pg_catalog.=) $1"
	"   AND debit_sub OPERATOR(pg_catalog.=) $2 AND credit_sub IS NULL"
	"   AND status OPERATOR(pg_catalog.=) 'pending'::pg_catalog.text"
	"   AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" FOR UPDATE SKIP LOCKED",
	2, {INT8OID, INT4OID}
};

static ClPlan claim_op_plan = {
	"INSERT INTO creditledger.hold_operations (kind, ref, target_id, payload_hash)"
	" VALUES ($1, $2, $3, $4) ON CONFLICT (kind, ref) DO NOTHING RETURNING operation_id",
	4, {TEXTOID, TEXTOID, INT8OID, BYTEAOID}
};

static ClPlan find_op_plan = {
	"SELECT target_id, payload_hash FROM creditledger.hold_operations"
	" WHERE kind OPERATOR(pg_catalog.=) $1 AND ref OPERATOR(pg_catalog.=) $2",
	2, {TEXTOID, TEXTOID}
};

static ClPlan claim_hold_plan = {
	"INSERT INTO creditledger.ledger_funds_holds (ref, account_id, sub_account, amount, reason,"
	"   expires_at, payload_hash)"
	" VALUES ($1, $2, 0, $3, $4, $5, $6) ON CONFLICT (ref) DO NOTHING RETURNING hold_id",
	6, {TEXTOID, INT8OID, INT8OID, TEXTOID, TIMESTAMPTZOID, BYTEAOID}
};

static ClPlan find_hold_plan = {
	"SELECT hold_id, payload_hash FROM creditledger.ledger_funds_holds"
	" WHERE ref OPERATOR(pg_catalog.=) $1",
	1, {TEXTOID}
};

static ClPlan set_hold_sub_plan = {
	"UPDATE creditledger.ledger_funds_holds SET sub_account = $2"
	" WHERE hold_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, INT4OID}
};

#define HOLD_COLUMNS \
	"SELECT hold_id, ref, account_id, sub_account, amount, released, status," \
	"       expires_at IS NOT NULL AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()," \
	"       expires_at::pg_catalog.text" \
	"  FROM creditledger.ledger_funds_holds"

static ClPlan lock_hold_plan = {
	HOLD_COLUMNS " WHERE ref OPERATOR(pg_catalog.=) $1 FOR UPDATE",
	1, {TEXTOID}
};

static ClPlan lock_due_hold_plan = {
	HOLD_COLUMNS " WHERE hold_id OPERATOR(pg_catalog.=) $1"
	"   AND status OPERATOR(pg_catalog.=) 'open'::pg_catalog.text"
	"   AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" FOR UPDATE SKIP LOCKED",
	1, {INT8OID}
};

static ClPlan due_on_chain_hold_plan = {
	HOLD_COLUMNS " WHERE account_id OPERATOR(pg_catalog.=) $1"
	"   AND sub_account OPERATOR(pg_catalog.=) $2"
	"   AND status OPERATOR(pg_catalog.=) 'open'::pg_catalog.text"
	"   AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" FOR UPDATE SKIP LOCKED",
	2, {INT8OID, INT4OID}
};

static ClPlan update_hold_plan = {
	"UPDATE creditledger.ledger_funds_holds SET released = $2, status = $3,"
	"       closed_at = CASE WHEN $3 OPERATOR(pg_catalog.=) 'open'::pg_catalog.text"
	"                        THEN NULL ELSE pg_catalog.now() END"
	" WHERE hold_id OPERATOR(pg_catalog.=) $1",
	3, {INT8OID, INT8OID, TEXTOID}
};

static ClPlan due_holds_plan = {
	"SELECT hold_id FROM creditledger.ledger_funds_holds"
	" WHERE status OPERATOR(pg_catalog.=) 'open'::pg_catalog.text"
	"   AND expires_at OPERATOR(pg_catalog.<=) pg_catalog.now()"
	" ORDER BY expires_at, hold_id LIMIT $1",
	1, {INT8OID}
};

static ClPlan set_block_plan = {
	"UPDATE creditledger.ledger_accounts SET block = $2"
	" WHERE account_id OPERATOR(pg_catalog.=) $1",
	2, {INT8OID, TEXTOID}
};

/* A pending transfer row as locked (PENDING_COLUMNS). */
typedef struct PendingRow
{
	int64		pending_id;
	char	   *voucher;
	int64		debit_account;
	int64		credit_account;
	int64		amount;
	int64		posted;
	char	   *status;
	bool		due;
	bool		has_debit_sub;
	int32		debit_sub;
	bool		has_credit_sub;
	int32		credit_sub;
	char	   *expires_at;
} PendingRow;

/* A funds hold row as locked (HOLD_COLUMNS). */
typedef struct HoldRow
{
	int64		hold_id;
	char	   *ref;
	int64		account_id;
	int32		sub_account;
	int64		amount;
	int64		released;
	char	   *status;
	bool		due;
	char	   *expires_at;
} HoldRow;

/* One chain a release (void, release, expiry) changes. */
typedef struct ChainChange
{
	int64		account_id;
	int32		sub_account;
	int64		held_delta;
} ChainChange;

/*
 * The pending-disbursement hooks (lending.c's, registered at load by
 * cl_lending_init): what transfer_post, transfer_void and expiry call for a
 * pending transfer that may be a disbursement in transit.
 */
static const PendingTransitHooks *transit = NULL;

/*
 * holds_set_transit_hooks: register the pending-disbursement hooks (once,
 * from _PG_init through cl_lending_init).
 */
void
holds_set_transit_hooks(const PendingTransitHooks *hooks)
{
	transit = hooks;
}

static bool holds_release_due(ChainHead *head, char block);

/*
 * cl_holds_init: give the posting engine the release of due reservations
 * (holds_release_due), which posting.c, below this module, calls through
 * the pointer when a chain is short (called from _PG_init).
 */
void
cl_holds_init(void)
{
	posting_set_release_due(holds_release_due);
}

/*
 * payload_hash: SHA-256 of a call's canonical argument encoding.
 */
static bytea *
payload_hash(StringInfo args)
{
	pg_cryptohash_ctx *ctx = cl_hash_ctx_create();
	bytea	   *h = palloc(VARHDRSZ + CL_HASH_LEN);

	SET_VARSIZE(h, VARHDRSZ + CL_HASH_LEN);
	cl_sha256(ctx, (const uint8 *) args->data, args->len, (uint8 *) VARDATA(h));
	pg_cryptohash_free(ctx);
	return h;
}

/*
 * put_optional_text / put_optional_int64 / put_optional_time: an optional
 * argument, NULL encoded apart from every value.
 */
static void
put_optional_text(StringInfo buf, FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		cl_put_int32(buf, -1);
	else
	{
		text	   *t = PG_GETARG_TEXT_PP(argno);

		cl_put_bytes(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
	}
}

static void
put_optional_int64(StringInfo buf, FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		appendStringInfoChar(buf, 0);
	else
	{
		appendStringInfoChar(buf, 1);
		cl_put_int64(buf, PG_GETARG_INT64(argno));
	}
}

static void
put_optional_time(StringInfo buf, FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		appendStringInfoChar(buf, 0);
	else
	{
		appendStringInfoChar(buf, 1);
		cl_put_int64(buf, cl_unix_usecs(PG_GETARG_TIMESTAMPTZ(argno)));
	}
}

/*
 * check_expires_at: 22023 unless an expires_at argument is in the future.
 */
static void
check_expires_at(FunctionCallInfo fcinfo, int argno)
{
	if (!PG_ARGISNULL(argno) &&
		PG_GETARG_TIMESTAMPTZ(argno) <= GetCurrentTransactionStartTimestamp())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("expires_at must be in the future"),
				 errdetail("The value given is %s.",
						   timestamptz_to_str(PG_GETARG_TIMESTAMPTZ(argno)))));
}

/*
 * same_hash: whether a stored payload hash equals h.
 */
static bool
same_hash(Datum stored, const bytea *h)
{
	bytea	   *s = DatumGetByteaPP(stored);

	return VARSIZE_ANY_EXHDR(s) == CL_HASH_LEN &&
		memcmp(VARDATA_ANY(s), VARDATA_ANY(h), CL_HASH_LEN) == 0;
}

/*
 * conflict: raise LD004 for a reference used with another payload.
 */
static void
conflict(const char *what, const char *ref, int64 id)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_IDEMPOTENCY_CONFLICT),
			 errmsg("%s \"%s\" was already used with a different payload", what, ref),
			 errdetail("It belongs to id " INT64_FORMAT ".", id),
			 errhint("Use a new reference for a new operation, or repeat the original call exactly.")));
}

/*
 * pending_state_error: raise LD013 about a pending transfer.
 */
static void
pending_state_error(const char *voucher, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_PENDING_STATE),
			 errmsg("pending transfer \"%s\" cannot be used", voucher),
			 errdetail_internal("%s", detail)));
}

/*
 * hold_state_error: raise LD013 about a funds hold.
 */
static void
hold_state_error(const char *ref, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_CL_PENDING_STATE),
			 errmsg("funds hold \"%s\" cannot be used", ref),
			 errdetail_internal("%s", detail)));
}

/*
 * fetch_pending: row `row` of the last PENDING_COLUMNS result.
 */
static void
fetch_pending(int row, PendingRow *p)
{
	bool		isnull;

	p->pending_id = cl_getint64(row, 1, NULL);
	p->voucher = TextDatumGetCString(cl_getdatum(row, 2, &isnull));
	p->debit_account = cl_getint64(row, 3, NULL);
	p->credit_account = cl_getint64(row, 4, NULL);
	p->amount = cl_getint64(row, 5, NULL);
	p->posted = cl_getint64(row, 6, NULL);
	p->status = TextDatumGetCString(cl_getdatum(row, 7, &isnull));
	p->due = DatumGetBool(cl_getdatum(row, 8, &isnull));
	p->debit_sub = DatumGetInt32(cl_getdatum(row, 9, &p->has_debit_sub));
	p->has_debit_sub = !p->has_debit_sub;
	p->credit_sub = DatumGetInt32(cl_getdatum(row, 10, &p->has_credit_sub));
	p->has_credit_sub = !p->has_credit_sub;
	{
		Datum		d = cl_getdatum(row, 11, &isnull);

		p->expires_at = isnull ? NULL : TextDatumGetCString(d);
	}
}

/*
 * fetch_hold: row `row` of the last HOLD_COLUMNS result.
 */
static void
fetch_hold(int row, HoldRow *h)
{
	bool		isnull;

	h->hold_id = cl_getint64(row, 1, NULL);
	h->ref = TextDatumGetCString(cl_getdatum(row, 2, &isnull));
	h->account_id = cl_getint64(row, 3, NULL);
	h->sub_account = DatumGetInt32(cl_getdatum(row, 4, &isnull));
	h->amount = cl_getint64(row, 5, NULL);
	h->released = cl_getint64(row, 6, NULL);
	h->status = TextDatumGetCString(cl_getdatum(row, 7, &isnull));
	h->due = DatumGetBool(cl_getdatum(row, 8, &isnull));
	{
		Datum		d = cl_getdatum(row, 9, &isnull);

		h->expires_at = isnull ? NULL : TextDatumGetCString(d);
	}
}

/*
 * Pending transfers read, locked and written in C (transfer_post and
 * transfer_void, the calls a card processor makes once per authorisation):
 * the row is found once through the voucher's unique index before the
 * claim (its memo and metadata go on the post's transfer), locked after
 * the claim by the TID found (following the update chain to the newest
 * version, as SELECT ... FOR UPDATE does), and its new version written
 * through the direct heap writer (heapwrite.c).  The lock is the same
 * tuple lock FOR UPDATE takes (LockTupleExclusive), so these calls, the
 * SQL paths (expiry, holds_release_due) and each other are serialised on
 * the row exactly as before.  ledger_pending_transfers has no triggers;
 * its CHECK constraints (status, 0 <= posted <= amount) hold because the
 * values are computed here under the row lock.
 */
static const char *const pending_columns[] = {
	"pending_id", "voucher", "debit_account", "credit_account", "amount", "posted",
	"status", "expires_at", "debit_sub", "credit_sub", "memo", "metadata", "closed_at",
	"payload_hash", "created_at"
};
enum
{
	PC_PENDING_ID, PC_VOUCHER, PC_DEBIT, PC_CREDIT, PC_AMOUNT, PC_POSTED, PC_STATUS,
	PC_EXPIRES_AT, PC_DEBIT_SUB, PC_CREDIT_SUB, PC_MEMO, PC_METADATA, PC_CLOSED_AT,
	PC_PAYLOAD_HASH, PC_CREATED_AT, PC_COUNT
};

StaticAssertDecl(lengthof(pending_columns) == PC_COUNT, "pending_columns and PC_* differ");
StaticAssertDecl(PC_COUNT <= CL_MAX_MAPPED_COLUMNS, "pending_columns do not fit a ColumnMap");

/*
 * ledger_pending_transfers opened once for finding, locking and writing a
 * row: the direct heap writer's table (its indexes open for the row's new
 * version), of which the voucher index serves the lookup.
 */
typedef struct PendingAccess
{
	DirectTable t;
	Relation	rel;			/* t.rel */
	Relation	voucher_idx;	/* one of t's indexes */
	TupleTableSlot *slot;
	const AttrNumber *att;
	ItemPointerData tid;		/* the version found, then the one locked */
} PendingAccess;

static ColumnMap pending_column_map;

/*
 * statement_snapshot: the snapshot an SQL statement issued here would use
 * (a new one in READ COMMITTED, the transaction's otherwise), seeing this
 * transaction's own writes up to now; pushed as the active snapshot, the
 * caller pops it (PopActiveSnapshot).
 */
static Snapshot
statement_snapshot(void)
{
	PushCopiedSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();
	return GetActiveSnapshot();
}

/*
 * pending_open: open ledger_pending_transfers for the direct heap writer
 * (RowExclusiveLock, every index: the row will be updated), once for the
 * whole call; the voucher index is one of them.
 */
static void
pending_open(PendingAccess *pa)
{
	Oid			voucher_key = cl_relation_oid("ledger_pending_transfers_voucher_key");

	direct_open(&pa->t, "ledger_pending_transfers");
	pa->rel = pa->t.rel;
	pa->voucher_idx = direct_index(&pa->t, voucher_key);
	if (pa->voucher_idx == NULL)
		elog(ERROR, "creditledger: ledger_pending_transfers has no voucher index");
	pa->slot = table_slot_create(pa->rel, NULL);
	pa->att = cl_column_map(&pending_column_map, pa->rel, pending_columns, PC_COUNT);
	ItemPointerSetInvalid(&pa->tid);
}

/*
 * pending_close: release what pending_open took (the table lock stays).
 */
static void
pending_close(PendingAccess *pa)
{
	ExecDropSingleTupleTableSlot(pa->slot);
	direct_close(&pa->t);
}

/*
 * pending_find: find the pending transfer with this voucher as the
 * statement's snapshot sees it (no lock); remember its TID and return its
 * id, memo and metadata (copies; NULL when absent) when asked.  False if
 * none.
 */
static bool
pending_find(PendingAccess *pa, const char *voucher, int64 *pending_id, text **memo,
			 Jsonb **metadata)
{
	Snapshot	snapshot = statement_snapshot();
	IndexScanDesc scan;
	ScanKeyData key;
	bool		found;

	/* the index's collation, so the search follows the index's order */
	ScanKeyEntryInitialize(&key, 0, 1, BTEqualStrategyNumber, InvalidOid,
						   pa->voucher_idx->rd_indcollation[0], F_TEXTEQ,
						   CStringGetTextDatum(voucher));
	scan = index_beginscan(pa->rel, pa->voucher_idx, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, pa->slot);
	if (found)
	{
		bool		isnull;
		Datum		d;

		pa->tid = pa->slot->tts_tid;
		if (pending_id != NULL)
			*pending_id = DatumGetInt64(slot_getattr(pa->slot, pa->att[PC_PENDING_ID], &isnull));
		if (memo != NULL)
		{
			d = slot_getattr(pa->slot, pa->att[PC_MEMO], &isnull);
			*memo = isnull ? NULL : DatumGetTextPCopy(d);
		}
		if (metadata != NULL)
		{
			d = slot_getattr(pa->slot, pa->att[PC_METADATA], &isnull);
			*metadata = isnull ? NULL : DatumGetJsonbPCopy(d);
		}
	}
	ExecClearTuple(pa->slot);
	index_endscan(scan);
	PopActiveSnapshot();
	return found;
}

/*
 * pending_lock: lock the newest version of the row pending_find found
 * (waiting, as FOR UPDATE), read it into p and check that it is still
 * pending and not due (LD013); pv names it in errors.
 */
static void
pending_lock(PendingAccess *pa, const char *pv, PendingRow *p)
{
	Snapshot	snapshot = statement_snapshot();
	TM_FailureData tmfd;
	TM_Result	result;
	TupleTableSlot *s = pa->slot;
	const AttrNumber *att = pa->att;
	bool		isnull;
	Datum		d;

	result = table_tuple_lock(pa->rel, &pa->tid, snapshot, s, GetCurrentCommandId(true),
							  LockTupleExclusive, LockWaitBlock,
							  IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	PopActiveSnapshot();
	if (result == TM_Updated && IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent update")));
	if (result == TM_Deleted)
		pending_state_error(pv, psprintf("No pending transfer has voucher \"%s\".", pv));
	if (result != TM_Ok)
		elog(ERROR, "creditledger: unexpected result %d locking pending transfer \"%s\"",
			 (int) result, pv);
	pa->tid = s->tts_tid;

	p->pending_id = DatumGetInt64(slot_getattr(s, att[PC_PENDING_ID], &isnull));
	p->voucher = TextDatumGetCString(slot_getattr(s, att[PC_VOUCHER], &isnull));
	p->debit_account = DatumGetInt64(slot_getattr(s, att[PC_DEBIT], &isnull));
	p->credit_account = DatumGetInt64(slot_getattr(s, att[PC_CREDIT], &isnull));
	p->amount = DatumGetInt64(slot_getattr(s, att[PC_AMOUNT], &isnull));
	p->posted = DatumGetInt64(slot_getattr(s, att[PC_POSTED], &isnull));
	p->status = TextDatumGetCString(slot_getattr(s, att[PC_STATUS], &isnull));
	d = slot_getattr(s, att[PC_DEBIT_SUB], &isnull);
	p->has_debit_sub = !isnull;
	p->debit_sub = isnull ? 0 : DatumGetInt32(d);
	d = slot_getattr(s, att[PC_CREDIT_SUB], &isnull);
	p->has_credit_sub = !isnull;
	p->credit_sub = isnull ? 0 : DatumGetInt32(d);
	d = slot_getattr(s, att[PC_EXPIRES_AT], &isnull);
	/* due: expires_at <= now(), the transaction's start, as in SQL */
	p->due = !isnull && DatumGetTimestampTz(d) <= GetCurrentTransactionStartTimestamp();
	p->expires_at = isnull ? NULL : DatumGetCString(DirectFunctionCall1(timestamptz_out, d));
	ExecClearTuple(s);

	if (strcmp(p->status, "pending") != 0)
		pending_state_error(pv, psprintf("It is %s, not pending any more.", p->status));
	if (p->due)
		pending_state_error(pv, psprintf("It expired at %s and counts as released.", p->expires_at));
}

/*
 * pending_write: the locked row's new version: posted, and, when status
 * is not 'pending' any more, status and closed_at = now().
 */
static void
pending_write(PendingAccess *pa, int64 posted, const char *status)
{
	int			attnums[3];
	Datum		values[3];
	int			n = 0;

	attnums[n] = pa->att[PC_POSTED];
	values[n++] = Int64GetDatum(posted);
	if (strcmp(status, "pending") != 0)
	{
		attnums[n] = pa->att[PC_STATUS];
		values[n++] = CStringGetTextDatum(status);
		attnums[n] = pa->att[PC_CLOSED_AT];
		values[n++] = TimestampTzGetDatum(GetCurrentTransactionStartTimestamp());
	}
	pa->tid = direct_update_columns(&pa->t, &pa->tid, n, attnums, values);
}

/*
 * known_columns: whether ledger_pending_transfers (open as rel) has exactly
 * the columns pending_columns names (so a row written from them leaves no
 * column to a default); remembered per table incarnation.
 */
static bool
known_columns(Relation rel)
{
	static Oid	checked = InvalidOid;
	static bool known = false;
	TupleDesc	desc = RelationGetDescr(rel);
	int			n = 0;

	if (checked == RelationGetRelid(rel))
		return known;
	for (int i = 0; i < desc->natts; i++)
		if (!TupleDescAttr(desc, i)->attisdropped)
			n++;
	known = (n == PC_COUNT);
	checked = RelationGetRelid(rel);
	return known;
}

/*
 * pending_claim: claim a pending transfer's voucher: INSERT ... ON
 * CONFLICT (voucher) DO NOTHING of its row, with the columns' defaults
 * (pending_id from its sequence, posted 0, status 'pending', created_at
 * now()) filled in here.  The arguments are the claim plan's ($1..$10:
 * voucher, debit, credit, amount, expires_at, memo, metadata, payload
 * hash, debit_sub, credit_sub; nulls ' ' or 'n').  Returns the new id and
 * the row's TID, or 0 when the voucher is taken.  Written through
 * direct_claim() (the executor's speculative insertion, without its
 * per-statement setup), or through SQL when the table has columns this
 * library does not know.  Inside SPI.
 */
static int64
pending_claim(Datum *args, const char *argnulls, ItemPointer tid)
{
	static Oid	seq_relid = InvalidOid;
	static Oid	seq = InvalidOid;
	static const int arg_column[10] = {
		PC_VOUCHER, PC_DEBIT, PC_CREDIT, PC_AMOUNT, PC_EXPIRES_AT, PC_MEMO, PC_METADATA,
		PC_PAYLOAD_HASH, PC_DEBIT_SUB, PC_CREDIT_SUB
	};
	DirectTable t;
	const AttrNumber *att;
	Datum	   *values;
	bool	   *nulls;
	int64		id;
	int			natts;

	direct_open_claim(&t, "ledger_pending_transfers");
	if (!known_columns(t.rel))
	{
		direct_close(&t);
		cl_exec(&claim_pending_plan, args, argnulls, 1);
		if (SPI_processed == 0)
			return 0;
		{
			bool		isnull;

			*tid = *(ItemPointer) DatumGetPointer(cl_getdatum(0, 2, &isnull));
		}
		return cl_getint64(0, 1, NULL);
	}
	att = cl_column_map(&pending_column_map, t.rel, pending_columns, PC_COUNT);
	if (seq_relid != RelationGetRelid(t.rel))
	{
		seq = cl_relation_oid("pending_id_seq");
		seq_relid = RelationGetRelid(t.rel);
	}
	natts = RelationGetDescr(t.rel)->natts;
	values = palloc0(sizeof(Datum) * natts);
	nulls = palloc(sizeof(bool) * natts);
	memset(nulls, true, sizeof(bool) * natts);
	for (int a = 0; a < 10; a++)
		if (argnulls[a] != 'n')
		{
			values[att[arg_column[a]] - 1] = args[a];
			nulls[att[arg_column[a]] - 1] = false;
		}
	id = nextval_internal(seq, false);
#define PC_SET(col, v) (values[att[col] - 1] = (v), nulls[att[col] - 1] = false)
	PC_SET(PC_PENDING_ID, Int64GetDatum(id));
	PC_SET(PC_POSTED, Int64GetDatum(0));
	PC_SET(PC_STATUS, CStringGetTextDatum("pending"));
	PC_SET(PC_CREATED_AT, TimestampTzGetDatum(GetCurrentTransactionStartTimestamp()));
#undef PC_SET
	if (!direct_claim(&t, cl_relation_oid("ledger_pending_transfers_voucher_key"),
					  values, nulls, tid))
		id = 0;
	direct_close(&t);
	return id;
}

/*
 * pending_set_subs: correct the sub-accounts a claimed pending row (at
 * tid, written by this transaction) names when the claim's guess was
 * wrong, through the direct heap writer (a HOT update: no index covers
 * them).  Only a chain that holds a reservation can be wrong: an account
 * the transfer does not decrease was guessed so (its normal side never
 * changes), and its column is NULL already.
 */
static void
pending_set_subs(int64 id, ItemPointer tid, bool has_debit, int32 debit_sub,
				 bool has_credit, int32 credit_sub)
{
	DirectTable t;
	int			attnums[2];
	Datum		values[2];
	int			n = 0;

	direct_open(&t, "ledger_pending_transfers");
	if (pending_column_map.relid == RelationGetRelid(t.rel))
	{
		if (has_debit)
		{
			attnums[n] = pending_column_map.attnum[PC_DEBIT_SUB];
			values[n++] = Int32GetDatum(debit_sub);
		}
		if (has_credit)
		{
			attnums[n] = pending_column_map.attnum[PC_CREDIT_SUB];
			values[n++] = Int32GetDatum(credit_sub);
		}
		if (n > 0)
			(void) direct_update_columns(&t, tid, n, attnums, values);
		direct_close(&t);
		return;
	}
	direct_close(&t);
	/* the claim went through SQL (pending_claim): so does the correction */
	{
		Datum		v[3] = {Int64GetDatum(id), Int32GetDatum(debit_sub), Int32GetDatum(credit_sub)};
		char		nn[3] = {' ', has_debit ? ' ' : 'n', has_credit ? ' ' : 'n'};

		cl_exec(&set_pending_subs_plan, v, nn, 0);
	}
}

/*
 * pending_chains: the chains a pending transfer's record and reservations
 * are on, with the change of held a release of `release` makes on each
 * (the debit account's chain first; at most two); returns the count.
 */
static int
pending_chains(const PendingRow *p, int64 release, ChainChange *out)
{
	int			n = 0;

	out[n].account_id = p->debit_account;
	out[n].sub_account = p->has_debit_sub ? p->debit_sub : 0;
	out[n++].held_delta = p->has_debit_sub ? -release : 0;
	if (p->has_credit_sub)
	{
		out[n].account_id = p->credit_account;
		out[n].sub_account = p->credit_sub;
		out[n++].held_delta = -release;
	}
	return n;
}

/*
 * lock_chain_head: lock chain (account, sub) of an account whose mode lock
 * is held, waiting unless nowait; reads the account's attributes too.
 * Returns false only with nowait, when another transaction holds the row.
 */
static bool
lock_chain_head(LockContext *lc, int64 account_id, int32 sub, AccountInfo *info,
				ChainHead *head, bool nowait)
{
	LockWaitPolicy wait = nowait ? LockWaitSkip : LockWaitBlock;
	LockOutcome o;

	if (sub == 0)
	{
		o = cl_lock_main(lc, account_id, wait, LockTupleNoKeyExclusive, info, head);
		if (o == LOCK_NOT_FOUND)
			elog(ERROR, "creditledger: account " INT64_FORMAT " vanished", account_id);
		return o == LOCK_OK;
	}
	if (!cl_read_account(lc, account_id, info))
		elog(ERROR, "creditledger: account " INT64_FORMAT " vanished", account_id);
	o = cl_lock_sub(lc, info, sub, wait, head);
	if (o == LOCK_NOT_FOUND)
		elog(ERROR, "creditledger: account " INT64_FORMAT " has no sub-account %d",
			 account_id, sub);
	return o == LOCK_OK;
}

/*
 * apply_changes: lock the given chains (mode locks, then rows, each in
 * ascending order), change their held and write rec to each hold chain.
 * Never checks blocks or floors: releasing is always allowed.
 *
 * *locked is in and out: true once this transaction holds a mode lock or
 * chain row taken here.  From then on (an expiry batch releasing its second
 * record) nothing is waited for: a lock another transaction holds makes
 * this return false with nothing changed (the record is left for the next
 * pass), since waiting while holding chains taken out of ascending order
 * could close a deadlock with a posting.  The first record, holding no
 * chain, waits as any posting does.
 */
static bool
apply_changes(ChainChange *c, int n, const HoldRecord *rec, bool *locked)
{
	LockContext lc;
	ChainHead	heads[2];
	ChainHead  *hp[2];
	AccountInfo info[2];
	bool		nowait = *locked;

	Assert(n >= 1 && n <= 2);
	if (n == 2 && (c[1].account_id < c[0].account_id))
	{
		ChainChange t = c[0];

		c[0] = c[1];
		c[1] = t;
	}
	for (int i = 0; i < n; i++)
	{
		if (!nowait)
			cl_mode_lock(c[i].account_id, false);
		else if (!cl_mode_lock_try(c[i].account_id))
			return false;
		*locked = true;
	}
	lock_context_open(&lc);
	for (int i = 0; i < n; i++)
	{
		if (!lock_chain_head(&lc, c[i].account_id, c[i].sub_account, &info[i], &heads[i], nowait))
		{
			lock_context_close(&lc);
			return false;
		}
		hp[i] = &heads[i];
	}
	for (int i = 0; i < n; i++)
		hold_append(&heads[i], rec, c[i].held_delta, info[i].block);
	chain_heads_write(hp, n);
	lock_context_close(&lc);
	return true;
}

/*
 * expire_pending_money: release what remains of a locked, due pending
 * transfer (entry 'expire' on its chains) and mark it expired; false when
 * apply_changes left it for the next pass (nothing changed).
 */
static bool
expire_pending_money(const PendingRow *p, bool *locked)
{
	ChainChange c[2];
	int64		remaining = p->amount - p->posted;
	HoldRecord	rec = {"expire", 'P', p->pending_id, p->voucher, 0, remaining, NULL};
	Datum		values[3];
	int			n = pending_chains(p, remaining, c);

	if (!apply_changes(c, n, &rec, locked))
		return false;
	values[0] = Int64GetDatum(p->pending_id);
	values[1] = Int64GetDatum(p->posted);
	values[2] = CStringGetTextDatum("expired");
	cl_exec(&update_pending_plan, values, NULL, 0);
	return true;
}

/* expire_disbursement_try's arguments */
typedef struct ExpireDisbursement
{
	const PendingRow *p;
	const LendingPending *lp;
	bool	   *locked;
} ExpireDisbursement;

/*
 * expire_disbursement_try: both halves of a due disbursement in transit
 * (lending.c the credit half, then the money half), or neither (false).
 */
static bool
expire_disbursement_try(void *arg)
{
	ExpireDisbursement *e = arg;

	if (!transit->expire(e->lp, *e->locked))
		return false;
	*e->locked = true;
	return expire_pending_money(e->p, e->locked);
}

/*
 * expire_pending_row: expire_pending_money, for a disbursement in transit
 * with its credit half, in a subtransaction (a lock found taken leaves
 * both halves to the next pass).
 */
static bool
expire_pending_row(const PendingRow *p, bool *locked)
{
	LendingPending lp;
	ExpireDisbursement e = {p, &lp, locked};

	if (!transit->lookup(p->pending_id, &lp))
		return expire_pending_money(p, locked);
	return cl_in_subxact(expire_disbursement_try, &e);
}

/*
 * expire_hold_row: release what remains of a locked, due funds hold and
 * mark it expired; false when apply_changes left it for the next pass.
 */
static bool
expire_hold_row(const HoldRow *h, bool *locked)
{
	int64		remaining = h->amount - h->released;
	HoldRecord	rec = {"expire", 'F', h->hold_id, h->ref, 0, remaining, NULL};
	ChainChange c = {h->account_id, h->sub_account, -remaining};
	Datum		values[3];

	if (!apply_changes(&c, 1, &rec, locked))
		return false;
	values[0] = Int64GetDatum(h->hold_id);
	values[1] = Int64GetDatum(h->released);
	values[2] = CStringGetTextDatum("expired");
	cl_exec(&update_hold_plan, values, NULL, 0);
	return true;
}

/*
 * holds_release_due: a posting holding head's chain lock found it short:
 * release the due reservations on exactly that chain (funds holds, and
 * pending transfers whose every chain it is), each record taken with SKIP
 * LOCKED (one being posted, voided or expired elsewhere is left to that
 * transaction).  Returns whether any was released; the entries and the
 * new held are in head (written back with the posting).  Inside SPI.
 */
static bool
holds_release_due(ChainHead *head, char block)
{
	Datum		values[2] = {Int64GetDatum(head->account_id), Int32GetDatum(head->sub_account)};
	Datum		upd[3];
	bool		any = false;
	uint64		n;
	PendingRow *pend;
	HoldRow    *holds;

	cl_exec(&due_on_chain_pending_plan, values, NULL, 0);
	n = SPI_processed;
	pend = palloc(sizeof(PendingRow) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
		fetch_pending(i, &pend[i]);
	for (uint64 i = 0; i < n; i++)
	{
		int64		remaining = pend[i].amount - pend[i].posted;
		HoldRecord	rec = {"expire", 'P', pend[i].pending_id, pend[i].voucher, 0, remaining, NULL};

		hold_append(head, &rec, -remaining, block);
		upd[0] = Int64GetDatum(pend[i].pending_id);
		upd[1] = Int64GetDatum(pend[i].posted);
		upd[2] = CStringGetTextDatum("expired");
		cl_exec(&update_pending_plan, upd, NULL, 0);
		any = true;
	}

	cl_exec(&due_on_chain_hold_plan, values, NULL, 0);
	n = SPI_processed;
	holds = palloc(sizeof(HoldRow) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
		fetch_hold(i, &holds[i]);
	for (uint64 i = 0; i < n; i++)
	{
		int64		remaining = holds[i].amount - holds[i].released;
		HoldRecord	rec = {"expire", 'F', holds[i].hold_id, holds[i].ref, 0, remaining, NULL};

		hold_append(head, &rec, -remaining, block);
		upd[0] = Int64GetDatum(holds[i].hold_id);
		upd[1] = Int64GetDatum(holds[i].released);
		upd[2] = CStringGetTextDatum("expired");
		cl_exec(&update_hold_plan, upd, NULL, 0);
		any = true;
	}
	return any;
}

/*
 * fetch_ids: the bigint first column of the last result.
 */
static int64 *
fetch_ids(uint64 *n)
{
	int64	   *ids;

	*n = SPI_processed;
	ids = palloc(sizeof(int64) * Max(*n, 1));
	for (uint64 i = 0; i < *n; i++)
		ids[i] = cl_getint64(i, 1, NULL);
	return ids;
}

/*
 * cl_expire_due_holds: release every due pending transfer and funds hold
 * (up to CL_EXPIRE_BATCH of each), each record taken with SKIP LOCKED;
 * returns how many were released.  Inside SPI.
 */
int64
cl_expire_due_holds(void)
{
	Datum		limit[1] = {Int64GetDatum(CL_EXPIRE_BATCH)};
	int64		count = 0;
	uint64		n;
	int64	   *ids;
	bool		locked = false; /* see apply_changes */

	cl_exec(&due_pendings_plan, limit, NULL, 0);
	ids = fetch_ids(&n);
	for (uint64 i = 0; i < n; i++)
	{
		Datum		v[1] = {Int64GetDatum(ids[i])};
		PendingRow	p;

		cl_exec(&lock_due_pending_plan, v, NULL, 1);
		if (SPI_processed == 0)
			continue;
		fetch_pending(0, &p);
		if (expire_pending_row(&p, &locked))
			count++;
	}

	cl_exec(&due_holds_plan, limit, NULL, 0);
	ids = fetch_ids(&n);
	for (uint64 i = 0; i < n; i++)
	{
		Datum		v[1] = {Int64GetDatum(ids[i])};
		HoldRow		h;

		cl_exec(&lock_due_hold_plan, v, NULL, 1);
		if (SPI_processed == 0)
			continue;
		fetch_hold(0, &h);
		if (expire_hold_row(&h, &locked))
			count++;
	}
	return count;
}

/*
 * The claim's guess of an account's chains (transfer_pending) needs only
 * the account's normal side, which never changes, and its hot mode and
 * shards, which rarely do; it is only a guess (a wrong one costs the
 * pending row a HOT update, see transfer_pending).  So each backend keeps
 * what it last read of those three for the accounts it met, in a small
 * direct-mapped table, instead of reading the accounts' rows a second time
 * before the claim: after the claim every account is read again under its
 * mode lock, and that read, which every check uses, refreshes the entry.
 * Entries name the ledger_accounts incarnation they were read from (a
 * dropped and re-created extension reuses account ids).  1024 slots (32 kB
 * per backend that calls transfer_pending), by account id modulo 1024.
 */
#define GUESS_SLOTS 1024

typedef struct GuessEntry
{
	Oid			relid;			/* ledger_accounts; InvalidOid: empty */
	int64		account_id;
	bool		normal_credit;
	HotMode		hot_mode;
	int32		shards;
} GuessEntry;

static GuessEntry *guess_cache = NULL;

/*
 * guess_slot: the slot of account id in the guess table (allocated on
 * first use), and the current ledger_accounts OID in *relid.
 */
static GuessEntry *
guess_slot(int64 id, Oid *relid)
{
	if (guess_cache == NULL)
		guess_cache = MemoryContextAllocZero(TopMemoryContext, sizeof(GuessEntry) * GUESS_SLOTS);
	*relid = cl_relation_oid("ledger_accounts");
	return &guess_cache[(uint64) id % GUESS_SLOTS];
}

/*
 * guess_remember: keep what info (read under the account's mode lock)
 * says about the account's chains for the next guess.
 */
static void
guess_remember(const AccountInfo *info)
{
	Oid			relid;
	GuessEntry *e = guess_slot(info->account_id, &relid);

	e->relid = relid;
	e->account_id = info->account_id;
	e->normal_credit = info->normal_credit;
	e->hot_mode = info->hot_mode;
	e->shards = info->shards;
}

/*
 * guess_account: the normal side, hot mode and shards of account id for
 * the claim's guess (only those fields of *g are set): what this backend
 * last read of them, or else the row read now without a lock.  False if
 * there is no such account (as far as an unlocked read can tell).
 */
static bool
guess_account(LockContext *lc, int64 id, AccountInfo *g)
{
	Oid			relid;
	GuessEntry *e = guess_slot(id, &relid);

	if (e->relid == relid && e->account_id == id)
	{
		g->account_id = id;
		g->normal_credit = e->normal_credit;
		g->hot_mode = e->hot_mode;
		g->shards = e->shards;
		return true;
	}
	if (!cl_read_account(lc, id, g))
		return false;
	guess_remember(g);
	return true;
}

/*
 * Set while lending.c's pending disbursement runs transfer_pending
 * (cl_transfer_pending_lending): the one pending transfer allowed on a
 * receivable account (posting.h: cl_refuse_receivables).
 */
static bool pending_for_lending = false;

/*
 * cl_transfer_pending_lending: transfer_pending for a pending disbursement
 * (lending.c), whose debit is the line's receivable account.
 */
Datum
cl_transfer_pending_lending(FunctionCallInfo fcinfo)
{
	Datum		result;

	pending_for_lending = true;
	PG_TRY();
	{
		result = cl_transfer_pending_impl(fcinfo);
	}
	PG_FINALLY();
	{
		pending_for_lending = false;
	}
	PG_END_TRY();
	return result;
}

/*
 * transfer_pending(voucher, debit_account, credit_account, amount,
 * expires_at, memo, metadata): reserve amount on each account the transfer
 * would decrease; returns the pending id.
 */
Datum
cl_transfer_pending_impl(PG_FUNCTION_ARGS)
{
	char	   *voucher;
	int64		debit,
				credit,
				amount;
	StringInfoData args;
	bytea	   *hash;
	Datum		values[10];
	char		nulls[10];
	int64		id;
	int64		ids[2];
	AccountInfo info[2];
	bool		decreases[2];
	bool		has_sub[2] = {false, false};
	int32		sub[2] = {0, 0};
	bool		guess_has[2] = {false, false};	/* by debit (0), credit (1) */
	int32		guess_sub[2] = {0, 0};
	bool		guess_split[2] = {false, false};
	int32		prev_start = -1;	/* the guessed start of the split account before */
	LockContext lc;
	ItemPointerData claim_tid;
	ChainHead	locked_head[2];
	bool		row_locked[2] = {false, false};	/* by ids[] */

	CL_REQUIRE_ARGS("voucher", "debit_account", "credit_account", "amount");
	voucher = cl_voucher_arg(fcinfo, 0, "voucher");
	debit = PG_GETARG_INT64(1);
	credit = PG_GETARG_INT64(2);
	amount = cl_amount_arg(fcinfo, 3, "amount");
	if (debit == credit)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("debit and credit account are the same account " INT64_FORMAT, debit),
				 errdetail("A transfer moves money between two different accounts.")));
	check_expires_at(fcinfo, 4);
	if (!PG_ARGISNULL(6))
		cl_check_metadata(PG_GETARG_JSONB_P(6), "metadata");

	initStringInfo(&args);
	cl_put_bytes(&args, "pending", 7);
	cl_put_int64(&args, debit);
	cl_put_int64(&args, credit);
	cl_put_int64(&args, amount);
	put_optional_time(&args, fcinfo, 4);
	put_optional_text(&args, fcinfo, 5);
	if (PG_ARGISNULL(6))
		cl_put_int32(&args, -1);
	else
	{
		Jsonb	   *md = PG_GETARG_JSONB_P(6);
		StringInfoData js;

		initStringInfo(&js);
		JsonbToCString(&js, &md->root, VARSIZE(md));
		cl_put_bytes(&args, js.data, js.len);
	}
	hash = payload_hash(&args);

	cl_spi_connect();

	/*
	 * The chains the reservations will sit on, guessed from the accounts'
	 * rows read without locks, go into the claim: for an account the
	 * transfer decreases (its normal side never changes), sub-account 0, or
	 * for a split account the sub-account its search will try first
	 * (hot_next_first_sub; the searches run in ascending account order, and
	 * a second one starts where the first one ended), which it takes unless
	 * another transaction holds it.  The hot mode may change and a split
	 * account's sub-account is chosen only under its locks, so the row is
	 * corrected by an update after the reservation when the guess was
	 * wrong; usually it is written once.  What the guess needs of an
	 * account this backend met before comes from its guess table
	 * (guess_account), of others from their rows.  Nothing is checked
	 * here: the reference comes first.
	 */
	lock_context_open(&lc);
	for (int k = 0; k < 2; k++)
	{
		int			i = (k == 0) == (debit < credit) ? 0 : 1;	/* ascending ids */
		AccountInfo g;

		if (!guess_account(&lc, i == 0 ? debit : credit, &g))
			continue;
		guess_has[i] = (i == 0) == g.normal_credit;
		guess_split[i] = HOT_MODE_IS_SPLIT(g.hot_mode);
		if (guess_has[i] && guess_split[i] && g.shards > 0)
		{
			int32		start = prev_start >= 0 ? prev_start % g.shards
				: hot_next_first_sub(g.shards) - 1;

			guess_sub[i] = start + 1;
			prev_start = start;
		}
	}
	/* (lc stays open for step 2: the relations are locked to the end anyway) */

	/* 1. the reference */
	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(voucher);
	values[1] = Int64GetDatum(debit);
	values[2] = Int64GetDatum(credit);
	values[3] = Int64GetDatum(amount);
	for (int a = 4; a <= 6; a++)
	{
		values[a] = PG_ARGISNULL(a) ? (Datum) 0 : PG_GETARG_DATUM(a);
		if (PG_ARGISNULL(a))
			nulls[a] = 'n';
	}
	values[7] = PointerGetDatum(hash);
	values[8] = Int32GetDatum(guess_sub[0]);
	values[9] = Int32GetDatum(guess_sub[1]);
	if (!guess_has[0])
		nulls[8] = 'n';
	if (!guess_has[1])
		nulls[9] = 'n';
	id = pending_claim(values, nulls, &claim_tid);
	if (id == 0)
	{
		bool		isnull;

		cl_exec(&find_pending_plan, values, NULL, 1);
		if (SPI_processed == 0)
			elog(ERROR, "creditledger: pending voucher \"%s\" vanished", voucher);
		id = cl_getint64(0, 1, NULL);
		if (!same_hash(cl_getdatum(0, 2, &isnull), hash))
			conflict("pending voucher", voucher, id);
		lock_context_close(&lc);
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}

	/* 2. the accounts: mode locks and reads, ascending */
	ids[0] = Min(debit, credit);
	ids[1] = Max(debit, credit);
	/* a receivable takes lending's pending disbursements alone */
	if (!pending_for_lending)
	{
		PostingLeg	legs[2] = {{debit, 'D', amount}, {credit, 'C', amount}};

		cl_refuse_receivables(legs, 2);
	}
	for (int i = 0; i < 2; i++)
	{
		cl_mode_lock(ids[i], false);
		if (guess_has[ids[i] == debit ? 0 : 1] && !guess_split[ids[i] == debit ? 0 : 1])
		{
			/*
			 * The reservation will most likely sit on the account row (the
			 * guess above): lock it now, reading the account under the lock,
			 * in this ascending order, as a posting does for accounts it
			 * knows in mode 'none' (cl_reserve_chain then uses the head).
			 */
			if (cl_lock_main(&lc, ids[i], LockWaitBlock, LockTupleNoKeyExclusive, &info[i],
							 &locked_head[i]) != LOCK_OK)
				cl_raise_account_missing(ids[i]);
			if (!info[i].open)
				cl_raise_account_closed(ids[i]);
			row_locked[i] = true;
		}
		else
			cl_require_open_account(&lc, ids[i], &info[i]);
		guess_remember(&info[i]);
	}
	for (int i = 0; i < 2; i++)
	{
		char		side = ids[i] == debit ? 'D' : 'C';

		if (CL_BLOCKS_SIDE(&info[i], side))
			ereport(ERROR,
					(errcode(ERRCODE_CL_ACCOUNT_BLOCKED),
					 errmsg("account " INT64_FORMAT " is blocked for %s", ids[i],
							side == 'D' ? "debits" : "credits"),
					 errdetail("The account's block is \"%s\".", cl_block_name(info[i].block)),
					 errhint("An administrator lifts it with set_account_block(account, 'none').")));
		/* a debit decreases a credit-normal account, a credit a debit-normal one */
		decreases[i] = (side == 'D') == info[i].normal_credit;
	}
	if (strcmp(info[0].currency, info[1].currency) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_CL_CURRENCY_MISMATCH),
				 errmsg("accounts " INT64_FORMAT " and " INT64_FORMAT " have different currencies",
						ids[0], ids[1]),
				 errdetail("Account " INT64_FORMAT " is in %s, account " INT64_FORMAT " in %s.",
						   ids[0], info[0].currency, ids[1], info[1].currency)));

	/* 3. reserve (or, for a debit account it does not decrease, record) */
	for (int i = 0; i < 2; i++)
	{
		ChainHead	head;
		HoldRecord	rec = {"pending", 'P', id, voucher, 0, amount, NULL};
		ChainHead  *hp = &head;

		if (decreases[i])
		{
			cl_reserve_chain(&lc, &info[i], amount, row_locked[i] ? &locked_head[i] : NULL,
							 &head);
			hold_append(&head, &rec, amount, info[i].block);
			has_sub[i] = true;
			sub[i] = head.sub_account;
		}
		else if (ids[i] == debit)
		{
			/* (row_locked only for an account guessed decreased, which it is) */
			if (row_locked[i])
				head = locked_head[i];
			else
				(void) lock_chain_head(&lc, ids[i], 0, &info[i], &head, false);
			hold_append(&head, &rec, 0, info[i].block);
		}
		else
			continue;
		chain_heads_write(&hp, 1);
	}
	lock_context_close(&lc);

	{
		int			d = ids[0] == debit ? 0 : 1;

		/* only when the claim's guess was wrong */
		if (has_sub[d] != guess_has[0] || (has_sub[d] && sub[d] != guess_sub[0]) ||
			has_sub[1 - d] != guess_has[1] || (has_sub[1 - d] && sub[1 - d] != guess_sub[1]))
			pending_set_subs(id, &claim_tid, has_sub[d], sub[d], has_sub[1 - d], sub[1 - d]);
	}
	cl_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * transfer_post(voucher, pending_voucher, amount, final): post amount
 * (default: all that remains) of a pending transfer as a transfer under
 * voucher; returns the transfer id.
 */
Datum
cl_transfer_post_impl(PG_FUNCTION_ARGS)
{
	char	   *voucher;
	char	   *pv;
	bool		final;
	StringInfoData args;
	bytea	   *hash;
	int64		id;
	bool		replayed;
	PendingRow	p;
	int64		remaining,
				amount;
	bool		closes;
	PostingLeg	legs[2];
	PostingRelease rel[2];
	ChainChange c[2];
	int			nrel;
	text	   *memo = NULL;
	Jsonb	   *metadata = NULL;
	PendingAccess pa;
	bool		found;
	int64		pid = 0;
	LendingPending lp;
	bool		lending = false;

	CL_REQUIRE_ARGS("voucher", "pending_voucher", NULL, "final");
	voucher = cl_voucher_arg(fcinfo, 0, "voucher");
	pv = cl_voucher_arg(fcinfo, 1, "pending_voucher");
	if (!PG_ARGISNULL(2))
		(void) cl_amount_arg(fcinfo, 2, "amount");
	final = PG_GETARG_BOOL(3);

	initStringInfo(&args);
	cl_put_bytes(&args, "post", 4);
	cl_put_bytes(&args, pv, strlen(pv));
	put_optional_int64(&args, fcinfo, 2);
	appendStringInfoChar(&args, final ? 1 : 0);
	hash = payload_hash(&args);

	cl_spi_connect();
	/* the pending transfer's memo and metadata (fixed at its creation) go on the transfer */
	pending_open(&pa);
	found = pending_find(&pa, pv, &pid, &memo, &metadata);
	/* a disbursement in transit: the credit graph lock first (lending.c) */
	if (found)
		lending = transit->begin(pid, true, memo, &lp);
	/* 1. the reference, in the transfers' namespace */
	id = cl_claim_transfer_voucher(voucher, "transfer", (const uint8 *) VARDATA(hash),
								   memo, metadata, &replayed);
	if (replayed)
	{
		pending_close(&pa);
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}

	/* 2. the pending transfer's state, under its row lock */
	if (!found)
	{
		if (!pending_find(&pa, pv, &pid, NULL, NULL))
			pending_state_error(pv, psprintf("No pending transfer has voucher \"%s\".", pv));
		lending = transit->begin(pid, false, NULL, &lp);
	}
	pending_lock(&pa, pv, &p);
	remaining = p.amount - p.posted;
	amount = PG_ARGISNULL(2) ? remaining : PG_GETARG_INT64(2);
	if (amount > remaining)
		pending_state_error(pv, psprintf("It has " INT64_FORMAT " left to post, less than " INT64_FORMAT ".",
										 remaining, amount));
	closes = final || amount == remaining;
	/* the credit half of a disbursement in transit: lines before accounts */
	if (lending)
		transit->post(&lp, amount, closes);

	/* 3. post, releasing what the post takes (and, final, the rest) */
	nrel = pending_chains(&p, closes ? remaining : amount, c);
	for (int i = 0; i < nrel; i++)
	{
		rel[i].account_id = c[i].account_id;
		rel[i].sub_account = c[i].sub_account;
		rel[i].release = -c[i].held_delta;
		rel[i].rec = (HoldRecord) {closes ? "post_final" : "post", 'P', p.pending_id, voucher, id,
		amount, NULL};
	}
	legs[0] = (PostingLeg) {p.debit_account, 'D', amount};
	legs[1] = (PostingLeg) {p.credit_account, 'C', amount};
	post_legs(id, voucher, POSTING_TRANSFER, legs, 2, rel, nrel);

	pending_write(&pa, p.posted + amount, closes ? "posted" : "pending");
	pending_close(&pa);
	cl_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * claim_operation: claim (kind, ref) for a void or release of target_id
 * (0: the target does not exist; the state check then refuses).  Returns
 * true for a new claim; false for a replay, with *replay_id the first
 * call's target; LD004 for another payload.
 */
static bool
claim_operation(const char *kind, const char *ref, int64 target_id, bytea *hash,
				int64 *replay_id)
{
	Datum		v[4];
	bool		isnull;

	v[0] = CStringGetTextDatum(kind);
	v[1] = CStringGetTextDatum(ref);
	v[2] = Int64GetDatum(target_id);
	v[3] = PointerGetDatum(hash);
	cl_exec(&claim_op_plan, v, NULL, 1);
	if (SPI_processed == 1)
		return true;
	cl_exec(&find_op_plan, v, NULL, 1);
	if (SPI_processed == 0)
		elog(ERROR, "creditledger: %s reference \"%s\" vanished", kind, ref);
	*replay_id = cl_getint64(0, 1, NULL);
	if (!same_hash(cl_getdatum(0, 2, &isnull), hash))
		conflict(strcmp(kind, "void") == 0 ? "void voucher" : "release ref", ref, *replay_id);
	return false;
}

/*
 * transfer_void(voucher, pending_voucher): release what remains of a
 * pending transfer; returns the pending id.
 */
Datum
cl_transfer_void_impl(PG_FUNCTION_ARGS)
{
	char	   *voucher;
	char	   *pv;
	StringInfoData args;
	bytea	   *hash;
	int64		target = 0;
	int64		replay_id;
	PendingRow	p;
	ChainChange c[2];
	int			n;
	PendingAccess pa;
	bool		found;
	LendingPending lp;
	bool		lending = false;
	text	   *memo = NULL;

	CL_REQUIRE_ARGS("voucher", "pending_voucher");
	voucher = cl_voucher_arg(fcinfo, 0, "voucher");
	pv = cl_voucher_arg(fcinfo, 1, "pending_voucher");
	initStringInfo(&args);
	cl_put_bytes(&args, "void", 4);
	cl_put_bytes(&args, pv, strlen(pv));
	hash = payload_hash(&args);

	cl_spi_connect();
	pending_open(&pa);
	found = pending_find(&pa, pv, &target, &memo, NULL);
	/* a disbursement in transit: the credit graph lock first (lending.c) */
	if (found)
		lending = transit->begin(target, true, memo, &lp);
	if (!claim_operation("void", voucher, target, hash, &replay_id))
	{
		pending_close(&pa);
		cl_spi_finish();
		PG_RETURN_INT64(replay_id);
	}
	if (!found)
	{
		if (!pending_find(&pa, pv, &target, NULL, NULL))
			pending_state_error(pv, psprintf("No pending transfer has voucher \"%s\".", pv));
		lending = transit->begin(target, false, NULL, &lp);
	}
	pending_lock(&pa, pv, &p);
	/* the credit half of a disbursement in transit: lines before accounts */
	if (lending)
		transit->cancel(&lp, voucher);
	n = pending_chains(&p, p.amount - p.posted, c);
	{
		HoldRecord	rec = {"void", 'P', p.pending_id, voucher, 0, p.amount - p.posted, NULL};
		bool		locked = false;

		(void) apply_changes(c, n, &rec, &locked);
		pending_write(&pa, p.posted, "voided");
	}
	pending_close(&pa);
	cl_spi_finish();
	PG_RETURN_INT64(p.pending_id);
}

/*
 * hold_funds(ref, account, amount, reason, expires_at): hold amount of the
 * account's available balance; returns the funds hold id.
 */
static Datum
hold_funds_impl(PG_FUNCTION_ARGS)
{
	char	   *ref;
	int64		account,
				amount;
	StringInfoData args;
	bytea	   *hash;
	Datum		values[6];
	char		nulls[6];
	int64		id;
	AccountInfo info;
	ChainHead	head;
	ChainHead  *hp = &head;
	LockContext lc;

	CL_REQUIRE_ARGS("ref", "account", "amount");
	ref = cl_voucher_arg(fcinfo, 0, "ref");
	account = PG_GETARG_INT64(1);
	amount = cl_amount_arg(fcinfo, 2, "amount");
	check_expires_at(fcinfo, 4);

	initStringInfo(&args);
	cl_put_bytes(&args, "hold", 4);
	cl_put_int64(&args, account);
	cl_put_int64(&args, amount);
	put_optional_text(&args, fcinfo, 3);
	put_optional_time(&args, fcinfo, 4);
	hash = payload_hash(&args);

	cl_spi_connect();
	memset(nulls, ' ', sizeof(nulls));
	values[0] = CStringGetTextDatum(ref);
	values[1] = Int64GetDatum(account);
	values[2] = Int64GetDatum(amount);
	values[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	if (PG_ARGISNULL(3))
		nulls[3] = 'n';
	values[4] = PG_ARGISNULL(4) ? (Datum) 0 : PG_GETARG_DATUM(4);
	if (PG_ARGISNULL(4))
		nulls[4] = 'n';
	values[5] = PointerGetDatum(hash);
	cl_exec(&claim_hold_plan, values, nulls, 1);
	if (SPI_processed == 0)
	{
		bool		isnull;

		cl_exec(&find_hold_plan, values, NULL, 1);
		if (SPI_processed == 0)
			elog(ERROR, "creditledger: funds hold ref \"%s\" vanished", ref);
		id = cl_getint64(0, 1, NULL);
		if (!same_hash(cl_getdatum(0, 2, &isnull), hash))
			conflict("funds hold ref", ref, id);
		cl_spi_finish();
		PG_RETURN_INT64(id);
	}
	id = cl_getint64(0, 1, NULL);

	/*
	 * a hold on a receivable could only stop its repayments (audit 0.3):
	 * cl_refuse_receivables takes the account's mode lock (shared), then
	 * looks it up
	 */
	{
		PostingLeg	leg = {account, 'D', amount};

		cl_refuse_receivables(&leg, 1);
	}
	lock_context_open(&lc);
	cl_require_open_account(&lc, account, &info);
	cl_reserve_chain(&lc, &info, amount, NULL, &head);
	{
		HoldRecord	rec = {"hold", 'F', id, ref, 0, amount,
		PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3))};

		hold_append(&head, &rec, amount, info.block);
	}
	chain_heads_write(&hp, 1);
	lock_context_close(&lc);
	/* the claim wrote sub-account 0: correct it only for a split account */
	if (head.sub_account != 0)
	{
		Datum		v[2] = {Int64GetDatum(id), Int32GetDatum(head.sub_account)};

		cl_exec(&set_hold_sub_plan, v, NULL, 0);
	}
	cl_spi_finish();
	PG_RETURN_INT64(id);
}

/*
 * release_funds(ref, hold_ref, amount): release amount (default: all that
 * remains) of a funds hold; returns the funds hold id.
 */
static Datum
release_funds_impl(PG_FUNCTION_ARGS)
{
	char	   *ref;
	char	   *hold_ref;
	StringInfoData args;
	bytea	   *hash;
	int64		target = 0;
	int64		replay_id;
	HoldRow		h;
	int64		remaining,
				amount;

	CL_REQUIRE_ARGS("ref", "hold_ref");
	ref = cl_voucher_arg(fcinfo, 0, "ref");
	hold_ref = cl_voucher_arg(fcinfo, 1, "hold_ref");
	if (!PG_ARGISNULL(2))
		(void) cl_amount_arg(fcinfo, 2, "amount");
	initStringInfo(&args);
	cl_put_bytes(&args, "release", 7);
	cl_put_bytes(&args, hold_ref, strlen(hold_ref));
	put_optional_int64(&args, fcinfo, 2);
	hash = payload_hash(&args);

	cl_spi_connect();
	{
		Datum		v[1] = {CStringGetTextDatum(hold_ref)};

		cl_exec(&find_hold_plan, v, NULL, 1);
		if (SPI_processed == 1)
			target = cl_getint64(0, 1, NULL);
	}
	if (!claim_operation("release", ref, target, hash, &replay_id))
	{
		cl_spi_finish();
		PG_RETURN_INT64(replay_id);
	}
	{
		Datum		v[1] = {CStringGetTextDatum(hold_ref)};

		cl_exec(&lock_hold_plan, v, NULL, 1);
	}
	if (SPI_processed == 0)
		hold_state_error(hold_ref, psprintf("No funds hold has ref \"%s\".", hold_ref));
	fetch_hold(0, &h);
	if (strcmp(h.status, "open") != 0)
		hold_state_error(hold_ref, psprintf("It is %s, not open any more.", h.status));
	if (h.due)
		hold_state_error(hold_ref, psprintf("It expired at %s and counts as released.", h.expires_at));
	remaining = h.amount - h.released;
	amount = PG_ARGISNULL(2) ? remaining : PG_GETARG_INT64(2);
	if (amount > remaining)
		hold_state_error(hold_ref, psprintf("It has " INT64_FORMAT " left to release, less than " INT64_FORMAT ".",
											remaining, amount));
	{
		HoldRecord	rec = {amount == remaining ? "release_final" : "release", 'F', h.hold_id, ref, 0,
		amount, NULL};
		ChainChange c = {h.account_id, h.sub_account, -amount};
		Datum		v[3];
		bool		locked = false;

		(void) apply_changes(&c, 1, &rec, &locked);
		v[0] = Int64GetDatum(h.hold_id);
		v[1] = Int64GetDatum(h.released + amount);
		v[2] = CStringGetTextDatum(amount == remaining ? "released" : "open");
		cl_exec(&update_hold_plan, v, NULL, 0);
	}
	cl_spi_finish();
	PG_RETURN_INT64(h.hold_id);
}

/*
 * expire_pending(): release every due pending transfer and funds hold now;
 * returns how many.
 */
static Datum
expire_pending_impl(PG_FUNCTION_ARGS)
{
	int64		n;

	cl_spi_connect();
	n = cl_expire_due_holds();
	cl_spi_finish();
	PG_RETURN_INT64(n);
}

/*
 * set_account_block(account, block, reason): block or unblock an account;
 * waits (exclusive mode lock) for every posting in flight on it, so a
 * posting either finished before or sees the new block.
 */
static Datum
set_account_block_impl(PG_FUNCTION_ARGS)
{
	int64		account;
	char	   *name;
	char		block;
	LockContext lc;
	AccountInfo info;
	ChainHead	head;
	ChainHead  *hp = &head;
	LockOutcome r;

	CL_REQUIRE_ARGS("account", "block");
	account = PG_GETARG_INT64(0);
	name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strcmp(name, "none") == 0)
		block = 'n';
	else if (strcmp(name, "debits") == 0)
		block = 'd';
	else if (strcmp(name, "credits") == 0)
		block = 'c';
	else if (strcmp(name, "all") == 0)
		block = 'a';
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid block \"%s\"", name),
				 errdetail("block is one of none, debits, credits and all.")));

	cl_spi_connect();
	cl_mode_lock(account, true);
	lock_context_open(&lc);
	r = cl_lock_main(&lc, account, LockWaitBlock, LockTupleNoKeyExclusive, &info, &head);
	if (r != LOCK_OK)
		cl_raise_account_missing(account);
	if (!info.open)
		cl_raise_account_closed(account);
	if (info.block != block)
	{
		HoldRecord	rec = {"block", 'A', account, name, 0, 0,
		PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2))};
		Datum		v[2] = {Int64GetDatum(account), CStringGetTextDatum(name)};

		hold_append(&head, &rec, 0, block);
		chain_heads_write(&hp, 1);
		cl_exec(&set_block_plan, v, NULL, 0);
	}
	lock_context_close(&lc);
	cl_spi_finish();
	PG_RETURN_VOID();
}
