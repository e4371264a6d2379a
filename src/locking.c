/*
 * locking.c: reading and ordered locking of account and sub-account rows,
 * and the per-account hot-mode lock.
 *
 * Locking protocol.
 *  1. Mode lock.  Every posting first takes, for each account it touches in
 *     ascending id order, a shared heavyweight lock on the account's mode
 *     lock tag (cl_mode_lock); set_hot_mode() and close_account() take it
 *     exclusively.  So an account's hot mode, shards and status cannot
 *     change while a posting that read them is in flight, including
 *     buffered postings, which never lock the account row.
 *  2. Row locks, in ascending (account_id, sub_account) order: the lock an
 *     UPDATE takes (FOR NO KEY UPDATE), found through the primary key and
 *     taken with table_tuple_lock exactly as SELECT ... FOR NO KEY UPDATE
 *     would (waiting, and under REPEATABLE READ a serialization failure when
 *     the row changed since the snapshot).  A posting takes every waiting
 *     lock in that order, so concurrent postings never deadlock; the only
 *     out-of-order locks are taken with SKIP LOCKED, which never waits.
 *  Locks are held to the end of the transaction.  lock_accounts() gives the
 *  same row locks (main rows) to applications.
 *  3. Rows this transaction already wrote.  Once a posting has updated a
 *     row, the transaction holds that row's lock until it ends (the update
 *     took it), and its own newest version is the one every later statement
 *     of the transaction sees.  Such a row is found through rowcache.c and
 *     read straight from the heap (own_version()), neither through the
 *     primary key, which would visit every version the transaction left
 *     behind, nor locked again: a lock the transaction already holds is not
 *     taken anew, so the lock order of point 2 is unchanged.  Only for
 *     locks up to FOR NO KEY UPDATE (what an update holds); stronger locks
 *     (set_hot_mode's FOR UPDATE) always take the ordinary path.
 *  4. The credit graph lock (lockorder.h, step 1) and its generation, a
 *     counter in the shared segment that every exclusive taker of the
 *     graph lock bumps once it holds it (cl_credit_graph_lock), so that a
 *     backend holding the lock shared can tell whether what it cached of
 *     the lines and links is still current (cl_credit_graph_cache_check).
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "port/atomics.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "errcodes.h"
#include "opstats.h"
#include "heapwrite.h"
#include "locking.h"
#include "lockorder.h"
#include "rowcache.h"
#include "shmem.h"
#include "validate.h"

/* The credit graph's shared section (cl_graph_shmem_attach). */
typedef struct ClGraphShared
{
	pg_atomic_uint64 generation;	/* bumped by every exclusive graph lock */
} ClGraphShared;

/* NULL when the library was not preloaded (no segment). */
static ClGraphShared *graph_shared = NULL;

/* The local transaction that took the graph lock exclusively, if any. */
static LocalTransactionId graph_exclusive_lxid = InvalidLocalTransactionId;

CL_TRACKED_FUNCTION(cl_lock_accounts, CL_OP_LOCK_ACCOUNTS, lock_accounts_impl)

/* CL_MODE_LOCK_CLASS: lockorder.h */

static const char *const hot_mode_names[] = {"none", "buffered", "split", "buffered_split"};

/*
 * cl_parse_hot_mode: the HotMode named s, or -1.
 */
HotMode
cl_parse_hot_mode(const char *s)
{
	for (int i = 0; i < (int) lengthof(hot_mode_names); i++)
		if (strcmp(s, hot_mode_names[i]) == 0)
			return (HotMode) i;
	return (HotMode) -1;
}

/*
 * cl_hot_mode_name: the SQL name of a HotMode.
 */
const char *
cl_hot_mode_name(HotMode m)
{
	return hot_mode_names[m];
}

/*
 * int64_cmp: qsort comparator for ids.
 */
static int
int64_cmp(const void *a, const void *b)
{
	int64		x = *(const int64 *) a;
	int64		y = *(const int64 *) b;

	return (x > y) - (x < y);
}

/*
 * cl_sort_unique_ids: sort ids ascending and drop duplicates in place;
 * returns the new count.
 */
int
cl_sort_unique_ids(int64 *ids, int n)
{
	int			m = 0;

	qsort(ids, n, sizeof(int64), int64_cmp);
	for (int i = 0; i < n; i++)
		if (m == 0 || ids[m - 1] != ids[i])
			ids[m++] = ids[i];
	return m;
}

/*
 * cl_mode_lock: take the account's mode lock, shared or exclusive, until
 * the end of the transaction.
 */
void
cl_mode_lock(int64 account_id, bool exclusive)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (account_id >> 32),
						 (uint32) account_id, CL_MODE_LOCK_CLASS);
	(void) LockAcquire(&tag, exclusive ? ExclusiveLock : ShareLock, false, false);
}

/*
 * cl_mode_lock_try: the account's mode lock, shared, only if it can be had
 * without waiting; returns whether it was taken.
 */
bool
cl_mode_lock_try(int64 account_id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (account_id >> 32),
						 (uint32) account_id, CL_MODE_LOCK_CLASS);
	return LockAcquire(&tag, ShareLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/* Column names by LC_* and SC_* (locking.h). */
static const char *const account_columns[LC_NCOLS] = {
	"account_id", "currency", "normal_side", "min_balance", "status",
	"hot_mode", "shards", "balance", "version", "last_hash",
	"held", "hold_version", "hold_hash", "block"
};
static const char *const sub_columns[SC_NCOLS] = {
	"balance", "version", "last_hash", "held", "hold_version", "hold_hash",
	"account_id", "sub_account"
};
static ColumnMap account_map;
static ColumnMap sub_map;

static LockAcquireResult probe_acquire(ClProbeKind kind, int64 id, int32 part, bool wait);

/*
 * lock_context_open / lock_context_close: the relations for one call.
 */
void
lock_context_open(LockContext *lc)
{
	lc->accounts = table_open(cl_relation_oid("ledger_accounts"), RowShareLock);
	lc->accounts_pk = index_open(cl_relation_oid("ledger_accounts_pkey"), AccessShareLock);
	lc->slot = table_slot_create(lc->accounts, NULL);
	/* the hold columns (release 0.3.0) may be missing before the update */
	memcpy(lc->acc_att, cl_column_map_optional(&account_map, lc->accounts, account_columns,
											   LC_NCOLS, LC_HELD),
		   sizeof(lc->acc_att));
	lc->subs = NULL;			/* opened on first use: most calls need none */
}

/*
 * open_subs: open sub_accounts for this call, once.
 */
static void
open_subs(LockContext *lc)
{
	if (lc->subs != NULL)
		return;
	lc->subs = table_open(cl_relation_oid("sub_accounts"), RowShareLock);
	lc->subs_pk = index_open(cl_relation_oid("sub_accounts_pkey"), AccessShareLock);
	lc->sub_slot = table_slot_create(lc->subs, NULL);
	memcpy(lc->sub_att, cl_column_map_optional(&sub_map, lc->subs, sub_columns, SC_NCOLS,
											   SC_HELD),
		   sizeof(lc->sub_att));
}

void
lock_context_close(LockContext *lc)
{
	if (lc->subs != NULL)
	{
		ExecDropSingleTupleTableSlot(lc->sub_slot);
		index_close(lc->subs_pk, AccessShareLock);
		table_close(lc->subs, NoLock);
	}
	ExecDropSingleTupleTableSlot(lc->slot);
	index_close(lc->accounts_pk, AccessShareLock);
	table_close(lc->accounts, NoLock);
}

/*
 * find_row: find the newest visible row whose primary key is keys[] (one or
 * two int8/int4 keys); the row is left in slot.  Returns false if none.
 */
static bool
find_row(Relation rel, Relation pk, ScanKey keys, int nkeys, Snapshot snapshot,
		 TupleTableSlot *slot)
{
	IndexScanDesc scan = index_beginscan(rel, pk, snapshot, nkeys, 0);
	bool		found;

	index_rescan(scan, keys, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	return found;
}

/*
 * own_version_is_newest: whether the tuple header at tid is a version this
 * transaction wrote (xmin is the current transaction or one of its live or
 * committed subtransactions) that nothing has replaced or deleted since
 * (xmax empty or only a locker, ctid pointing at itself).  The caller holds
 * a share lock on the buffer.
 */
static bool
own_version_is_newest(HeapTupleHeader t, ItemPointer tid)
{
	uint16		infomask = t->t_infomask;

	if (!TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(t)))
		return false;
	if (!ItemPointerEquals(&t->t_ctid, tid))
		return false;
	return (infomask & HEAP_XMAX_INVALID) != 0 ||
		!TransactionIdIsValid(HeapTupleHeaderGetRawXmax(t)) ||
		HEAP_XMAX_IS_LOCKED_ONLY(infomask);
}

/*
 * own_version: when rowcache.c knows where this transaction's newest
 * version of row (id, sub) of rel is, and the version there passes the
 * checks (its key columns, id_att and sub_att (0: none), hold id and sub;
 * own_version_is_newest), leave it in slot and return true.  That version
 * is what the transaction's next statement would find through the primary
 * key, and its row lock is already ours (see the file header, point 3).
 * Otherwise forget the entry and return false: the caller takes the
 * ordinary path.
 */
static bool
own_version(Relation rel, int64 id, int32 sub, AttrNumber id_att, AttrNumber sub_att,
			TupleTableSlot *slot)
{
	BufferHeapTupleTableSlot *bslot = (BufferHeapTupleTableSlot *) slot;
	HeapTuple	tuple = &bslot->base.tupdata;
	ItemPointerData tid;
	Buffer		buf;
	bool		ok;
	bool		isnull;

	Assert(TTS_IS_BUFFERTUPLE(slot));
	if (!cl_rowcache_lookup(RelationGetRelid(rel), id, sub, &tid))
		return false;
	tuple->t_self = tid;
	if (!heap_fetch(rel, SnapshotAny, tuple, &buf, true))
	{
		if (BufferIsValid(buf))
			ReleaseBuffer(buf);
		cl_rowcache_forget(RelationGetRelid(rel), id, sub);
		return false;
	}
	LockBuffer(buf, BUFFER_LOCK_SHARE);
	ok = own_version_is_newest(tuple->t_data, &tid);
	LockBuffer(buf, BUFFER_LOCK_UNLOCK);
	if (!ok)
	{
		ReleaseBuffer(buf);
		cl_rowcache_forget(RelationGetRelid(rel), id, sub);
		return false;
	}
	tuple->t_tableOid = RelationGetRelid(rel);
	ExecStorePinnedBufferHeapTuple(tuple, slot, buf);
	if (DatumGetInt64(slot_getattr(slot, id_att, &isnull)) != id ||
		(sub_att != InvalidAttrNumber &&
		 DatumGetInt32(slot_getattr(slot, sub_att, &isnull)) != sub))
	{
		ExecClearTuple(slot);
		cl_rowcache_forget(RelationGetRelid(rel), id, sub);
		return false;
	}
	return true;
}

/*
 * lock_found: lock the row version find_row left in slot (found with
 * snapshot) in mode, waiting or not as wait says; under READ COMMITTED its
 * newest version, left in slot (cl_lock_tid_snapshot).
 */
static LockOutcome
lock_found(Relation rel, Snapshot snapshot, LockWaitPolicy wait, LockTupleMode mode,
		   TupleTableSlot *slot)
{
	ItemPointerData tid = slot->tts_tid;

	return cl_lock_tid_snapshot(rel, &tid, wait, mode, slot, snapshot);
}

/*
 * lock_row: find a row by primary key and lock its newest version in mode,
 * waiting or not as wait says.  The locked version is left in slot.
 */
static LockOutcome
lock_row(Relation rel, Relation pk, ScanKey keys, int nkeys, LockWaitPolicy wait,
		 LockTupleMode mode, TupleTableSlot *slot)
{
	Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	LockOutcome r = LOCK_NOT_FOUND;

	if (find_row(rel, pk, keys, nkeys, snapshot, slot))
		r = lock_found(rel, snapshot, wait, mode, slot);
	UnregisterSnapshot(snapshot);
	return r;
}

/*
 * fetch_text_buf: a (short, NOT NULL) text column of slot copied into buf
 * as a C string, truncated to size - 1 bytes; no allocation.
 */
static void
fetch_text_buf(TupleTableSlot *slot, AttrNumber att, char *buf, size_t size)
{
	bool		isnull;
	text	   *t = DatumGetTextPP(slot_getattr(slot, att, &isnull));
	size_t		len = Min(VARSIZE_ANY_EXHDR(t), size - 1);

	memcpy(buf, VARDATA_ANY(t), len);
	buf[len] = '\0';
}

/*
 * fetch_int: a bigint (or int) column of slot; *isnull as told.
 */
static int64
fetch_int(TupleTableSlot *slot, AttrNumber att, bool *isnull)
{
	Datum		d = slot_getattr(slot, att, isnull);

	if (*isnull)
		return 0;
	if (TupleDescAttr(slot->tts_tupleDescriptor, att - 1)->atttypid == INT4OID)
		return DatumGetInt32(d);
	return DatumGetInt64(d);
}

/*
 * fill_head: the chain head held in slot's row; att gives the balance,
 * version, last_hash, held, hold_version and hold_hash columns (either
 * table, in SC_* order).
 */
static void
fill_head(TupleTableSlot *slot, const AttrNumber *att, int64 id, int32 sub,
		  bool normal_credit, ChainHead *head)
{
	bool		isnull;
	bytea	   *hash;

	head->account_id = id;
	head->sub_account = sub;
	head->normal_credit = normal_credit;
	head->tid = slot->tts_tid;
	head->balance = fetch_int(slot, att[SC_BALANCE], &isnull);
	head->version = fetch_int(slot, att[SC_VERSION], &isnull);
	hash = DatumGetByteaPP(slot_getattr(slot, att[SC_LAST_HASH], &isnull));
	if (VARSIZE_ANY_EXHDR(hash) != CL_HASH_LEN)
		elog(ERROR, "creditledger: account " INT64_FORMAT " sub-account %d has a malformed last_hash",
			 id, sub);
	memcpy(head->last_hash, VARDATA_ANY(hash), CL_HASH_LEN);
	head->dirty = false;
	if (att[SC_HELD] == InvalidAttrNumber)
	{
		/* a schema before release 0.3.0: no holds */
		head->held = 0;
		head->hold_version = 0;
		memset(head->hold_hash, 0, CL_HASH_LEN);
		return;
	}
	head->held = fetch_int(slot, att[SC_HELD], &isnull);
	head->hold_version = fetch_int(slot, att[SC_HOLD_VERSION], &isnull);
	hash = DatumGetByteaPP(slot_getattr(slot, att[SC_HOLD_HASH], &isnull));
	if (VARSIZE_ANY_EXHDR(hash) != CL_HASH_LEN)
		elog(ERROR, "creditledger: account " INT64_FORMAT " sub-account %d has a malformed hold_hash",
			 id, sub);
	memcpy(head->hold_hash, VARDATA_ANY(hash), CL_HASH_LEN);
	head->dirty = false;
}

/*
 * fill_info: an account's attributes from slot's ledger_accounts row.
 */
static void
fill_info(LockContext *lc, AccountInfo *info)
{
	TupleTableSlot *slot = lc->slot;
	const AttrNumber *a = lc->acc_att;
	bool		isnull;
	char		word[16];		/* the short words of the text columns below */

	info->account_id = fetch_int(slot, a[LC_ACCOUNT_ID], &isnull);
	fetch_text_buf(slot, a[LC_CURRENCY], info->currency, sizeof(info->currency));
	fetch_text_buf(slot, a[LC_NORMAL_SIDE], word, sizeof(word));
	info->normal_credit = strcmp(word, "credit") == 0;
	info->min_balance = fetch_int(slot, a[LC_MIN_BALANCE], &isnull);
	info->has_floor = !isnull;
	fetch_text_buf(slot, a[LC_STATUS], word, sizeof(word));
	info->open = strcmp(word, "open") == 0;
	fetch_text_buf(slot, a[LC_HOT_MODE], word, sizeof(word));
	info->hot_mode = cl_parse_hot_mode(word);
	info->shards = (int32) fetch_int(slot, a[LC_SHARDS], &isnull);
	info->balance = fetch_int(slot, a[LC_BALANCE], &isnull);
	if (a[LC_BLOCK] == InvalidAttrNumber)
		info->block = 'n';
	else
	{
		fetch_text_buf(slot, a[LC_BLOCK], word, sizeof(word));
		info->block = word[0];
	}
}

/*
 * cl_read_account: read an account's row without locking it (newest
 * committed version).  Returns false if there is no such account.
 */
bool
cl_read_account(LockContext *lc, int64 id, AccountInfo *info)
{
	ScanKeyData key;
	Snapshot	snapshot;
	bool		found;

	if (own_version(lc->accounts, id, 0, lc->acc_att[LC_ACCOUNT_ID], InvalidAttrNumber,
					lc->slot))
	{
		fill_info(lc, info);
		ExecClearTuple(lc->slot);
		return true;
	}
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	found = find_row(lc->accounts, lc->accounts_pk, &key, 1, snapshot, lc->slot);
	if (found)
		fill_info(lc, info);
	ExecClearTuple(lc->slot);
	UnregisterSnapshot(snapshot);
	return found;
}

/*
 * cl_require_open_account: cl_read_account, raising LD003 for an unknown
 * or closed account.
 */
void
cl_require_open_account(LockContext *lc, int64 id, AccountInfo *info)
{
	if (!cl_read_account(lc, id, info))
		cl_raise_account_missing(id);
	if (!info->open)
		cl_raise_account_closed(id);
}

/*
 * cl_lock_main: lock an account's row (sub-account 0) and read its
 * attributes and main chain head as locked.  An unknown account is
 * LOCK_NOT_FOUND; the caller decides about closed accounts.
 */
LockOutcome
cl_lock_main(LockContext *lc, int64 id, LockWaitPolicy wait, LockTupleMode mode,
			 AccountInfo *info, ChainHead *head)
{
	ScanKeyData key;
	LockOutcome r;

	if (mode <= LockTupleNoKeyExclusive &&
		own_version(lc->accounts, id, 0, lc->acc_att[LC_ACCOUNT_ID], InvalidAttrNumber,
					lc->slot))
		r = LOCK_OK;
	else
	{
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
		r = lock_row(lc->accounts, lc->accounts_pk, &key, 1, wait, mode, lc->slot);
	}
	if (r == LOCK_OK)
	{
		fill_info(lc, info);
		if (head)
			fill_head(lc->slot, &lc->acc_att[LC_BALANCE], id, 0, info->normal_credit, head);
	}
	ExecClearTuple(lc->slot);
	return r;
}

/*
 * cl_probe_sub: take sub-account sub (1..shards) of a split account by the
 * probe protocol (lockorder.h, step 6): its sub-account lock (an advisory
 * lock; waiting for it, or with LockWaitSkip only if free), then its newest
 * version read; when that version's available (balance - held) is at
 * least needed (PG_INT64_MIN: any), its row FOR NO KEY UPDATE, read into
 * head.  Every writer of a sub-account holds its sub-account lock, so the
 * row is free and as read.  Outcomes:
 *   LOCK_OK        both locks held, head read;
 *   LOCK_SKIPPED   another transaction holds the sub-account (LockWaitSkip);
 *   LOCK_SHORT     short: the sub-account lock given back at once, no row
 *                  lock taken, head read; but a sub-account this
 *                  transaction took before (wrote, or locked in an
 *                  earlier call) stays held, its locks being ours until
 *                  the end of the transaction: then *kept is set;
 *   LOCK_NOT_FOUND no such sub-account.
 * No subtransaction: a probe that finds a sub-account short keeps nothing
 * it took.
 */
LockOutcome
cl_probe_sub(LockContext *lc, const AccountInfo *info, int32 sub, LockWaitPolicy wait,
			 int64 needed, ChainHead *head, bool *kept)
{
	ScanKeyData keys[2];
	Snapshot	snapshot;
	LockOutcome r;
	LockAcquireResult got;
	int64		version;

	open_subs(lc);
	if (own_version(lc->subs, info->account_id, sub, lc->sub_att[SC_ACCOUNT_ID],
					lc->sub_att[SC_SUB_ACCOUNT], lc->sub_slot))
	{
		/* written by this transaction: both locks are ours already */
		fill_head(lc->sub_slot, lc->sub_att, info->account_id, sub, info->normal_credit, head);
		ExecClearTuple(lc->sub_slot);
		if (needed == PG_INT64_MIN || cl_available(head) >= needed)
			return LOCK_OK;
		if (kept)
			*kept = true;
		return LOCK_SHORT;
	}
	got = probe_acquire(CL_PROBE_SUB, info->account_id, sub, wait != LockWaitSkip);
	if (got == LOCKACQUIRE_NOT_AVAIL)
		return LOCK_SKIPPED;
	/* read after the lock: every earlier writer has committed or aborted */
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ,
				Int64GetDatum(info->account_id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(sub));
	if (!find_row(lc->subs, lc->subs_pk, keys, 2, snapshot, lc->sub_slot))
		r = LOCK_NOT_FOUND;
	else
	{
		fill_head(lc->sub_slot, lc->sub_att, info->account_id, sub, info->normal_credit, head);
		version = head->version;
		if (needed != PG_INT64_MIN && cl_available(head) < needed)
			r = LOCK_SHORT;
		else
			r = lock_found(lc->subs, snapshot, wait, LockTupleNoKeyExclusive, lc->sub_slot);
		if (r == LOCK_OK)
		{
			fill_head(lc->sub_slot, lc->sub_att, info->account_id, sub, info->normal_credit,
					  head);
			if (head->version != version)
				elog(ERROR, "creditledger: sub-account %d of account " INT64_FORMAT
					 " changed under its sub-account lock", sub, info->account_id);
		}
	}
	ExecClearTuple(lc->sub_slot);
	UnregisterSnapshot(snapshot);
	if (r != LOCK_OK)
	{
		cl_probe_unlock(CL_PROBE_SUB, info->account_id, sub);
		/* held before this call (taken by an earlier one): still held */
		if (r == LOCK_SHORT && got == LOCKACQUIRE_ALREADY_HELD && kept)
			*kept = true;
	}
	return r;
}

/*
 * cl_lock_sub: lock sub-account sub (1..shards) of a split account (its
 * sub-account lock, then its row) and read its chain head: cl_probe_sub
 * needing nothing.
 */
LockOutcome
cl_lock_sub(LockContext *lc, const AccountInfo *info, int32 sub, LockWaitPolicy wait,
			ChainHead *head)
{
	return cl_probe_sub(lc, info, sub, wait, PG_INT64_MIN, head, NULL);
}

/*
 * cl_read_sub_balance: a sub-account's committed available balance
 * (balance - held), without locking (a hint for choosing one; recheck
 * under the lock).
 */
int64
cl_read_sub_balance(LockContext *lc, int64 id, int32 sub)
{
	ScanKeyData keys[2];
	Snapshot	snapshot;
	int64		balance = 0;
	bool		isnull;

	open_subs(lc);
	if (own_version(lc->subs, id, sub, lc->sub_att[SC_ACCOUNT_ID],
					lc->sub_att[SC_SUB_ACCOUNT], lc->sub_slot))
	{
		balance = fetch_int(lc->sub_slot, lc->sub_att[SC_BALANCE], &isnull);
		if (lc->sub_att[SC_HELD] != InvalidAttrNumber)
			balance -= fetch_int(lc->sub_slot, lc->sub_att[SC_HELD], &isnull);
		ExecClearTuple(lc->sub_slot);
		return balance;
	}
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ, Int32GetDatum(sub));
	if (find_row(lc->subs, lc->subs_pk, keys, 2, snapshot, lc->sub_slot))
	{
		balance = fetch_int(lc->sub_slot, lc->sub_att[SC_BALANCE], &isnull);
		if (lc->sub_att[SC_HELD] != InvalidAttrNumber)
			balance -= fetch_int(lc->sub_slot, lc->sub_att[SC_HELD], &isnull);
	}
	ExecClearTuple(lc->sub_slot);
	UnregisterSnapshot(snapshot);
	return balance;
}

/*
 * cl_read_sub_balances: the committed available balances (balance - held)
 * of sub-accounts 1..n of account id, each as cl_read_sub_balance reads it
 * (this transaction's own newest version where it wrote one), into
 * avail[0..n-1] (0 for one that does not exist), without locking: one
 * snapshot and one scan of the primary key for all of them, instead of one
 * each.
 */
void
cl_read_sub_balances(LockContext *lc, int64 id, int32 n, int64 *avail)
{
	ScanKeyData key;
	Snapshot	snapshot;
	IndexScanDesc scan;
	bool		isnull;

	open_subs(lc);
	memset(avail, 0, sizeof(int64) * n);
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	scan = index_beginscan(lc->subs, lc->subs_pk, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, lc->sub_slot))
	{
		int64		sub = fetch_int(lc->sub_slot, lc->sub_att[SC_SUB_ACCOUNT], &isnull);
		int64		b;

		if (sub < 1 || sub > n)
			continue;
		b = fetch_int(lc->sub_slot, lc->sub_att[SC_BALANCE], &isnull);
		if (lc->sub_att[SC_HELD] != InvalidAttrNumber)
			b -= fetch_int(lc->sub_slot, lc->sub_att[SC_HELD], &isnull);
		avail[sub - 1] = b;
	}
	index_endscan(scan);
	ExecClearTuple(lc->sub_slot);
	UnregisterSnapshot(snapshot);
	/* this transaction's own versions (rowcache.c), as cl_read_sub_balance */
	for (int32 sub = 1; sub <= n; sub++)
		if (own_version(lc->subs, id, sub, lc->sub_att[SC_ACCOUNT_ID],
						lc->sub_att[SC_SUB_ACCOUNT], lc->sub_slot))
		{
			int64		b = fetch_int(lc->sub_slot, lc->sub_att[SC_BALANCE], &isnull);

			if (lc->sub_att[SC_HELD] != InvalidAttrNumber)
				b -= fetch_int(lc->sub_slot, lc->sub_att[SC_HELD], &isnull);
			avail[sub - 1] = b;
			ExecClearTuple(lc->sub_slot);
		}
}

/*
 * lock_accounts(accounts bigint[]): lock the given accounts' rows in
 * ascending id order until the end of the transaction.  NULL array or
 * element: 22004; unknown or closed account: LD003.
 */
static Datum
lock_accounts_impl(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int64	   *ids;
	LockContext lc;

	CL_REQUIRE_ARGS("accounts");
	arr = PG_GETARG_ARRAYTYPE_P(0);
	if (ARR_NDIM(arr) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("accounts must be a one-dimensional array")));
	deconstruct_array(arr, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE,
					  &elems, &nulls, &n);
	if (n == 0)
		PG_RETURN_VOID();
	ids = palloc(sizeof(int64) * n);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("accounts must not contain null elements")));
		ids[i] = DatumGetInt64(elems[i]);
	}
	n = cl_sort_unique_ids(ids, n);

	lock_context_open(&lc);
	for (int i = 0; i < n; i++)
	{
		AccountInfo info;

		cl_mode_lock(ids[i], false);
		if (cl_lock_main(&lc, ids[i], LockWaitBlock, LockTupleNoKeyExclusive,
						 &info, NULL) == LOCK_NOT_FOUND)
			cl_raise_account_missing(ids[i]);
		if (!info.open)
			cl_raise_account_closed(ids[i]);
	}
	lock_context_close(&lc);
	PG_RETURN_VOID();
}

/*
 * cl_credit_graph_lock: the credit graph lock until the end of the
 * transaction, shared or exclusive (lockorder.h, step 1); the same lock as
 * pg_advisory_xact_lock(17228, -1).
 */
void
cl_credit_graph_lock(bool exclusive)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) CL_CREDIT_GRAPH_KEY1,
						 (uint32) CL_CREDIT_GRAPH_KEY2, 2);
	(void) LockAcquire(&tag, exclusive ? ExclusiveLock : ShareLock, false, false);
	if (exclusive)
	{
		/* whatever this transaction changes, no backend keeps what it read */
		graph_exclusive_lxid = CL_MY_LXID;
		if (graph_shared != NULL)
			pg_atomic_fetch_add_u64(&graph_shared->generation, 1);
	}
}

/*
 * cl_graph_shmem_size, cl_graph_shmem_attach: the credit graph's section
 * of the shared segment (shmem.c): its generation, a counter every taker
 * of the exclusive graph lock bumps once it holds it.  A new segment
 * (first start, or after a crash, when every backend starts afresh too)
 * starts at 1.
 */
Size
cl_graph_shmem_size(void)
{
	return sizeof(ClGraphShared);
}

void
cl_graph_shmem_attach(void *base, bool init)
{
	graph_shared = (ClGraphShared *) base;
	if (init)
		pg_atomic_init_u64(&graph_shared->generation, 1);
}

/*
 * credit_graph_generation: the credit graph's generation, for a cache
 * of what the credit lines and links say that only an exclusive holder of
 * the graph lock changes; false when no such cache may be
 * used or filled now: the library was not preloaded (no segment), the
 * transaction does not hold the graph lock shared (an exclusive holder
 * could be changing the graph, and its change would be missed), it took
 * the lock exclusively itself (it changes the graph after the bump), or
 * it reads with one snapshot for the whole transaction (REPEATABLE READ,
 * SERIALIZABLE: what it sees may be older than the generation).  While
 * the shared lock is held the generation cannot move, so an unchanged
 * generation means nothing changed since the cache was filled.
 */
static bool
credit_graph_generation(uint64 *generation)
{
	LOCKTAG		tag;

	if (graph_shared == NULL || graph_exclusive_lxid == CL_MY_LXID ||
		IsolationUsesXactSnapshot())
		return false;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) CL_CREDIT_GRAPH_KEY1,
						 (uint32) CL_CREDIT_GRAPH_KEY2, 2);
	if (!CL_LOCK_HELD_BY_ME(&tag, ShareLock))
		return false;
	*generation = pg_atomic_read_u64(&graph_shared->generation);
	return true;
}

/*
 * cl_credit_graph_cache_check: whether a per-backend cache of what only an
 * exclusive holder of the credit graph lock changes (credit_rows.c's graph
 * cache, lending.c's receivable cache), filled under *stamp from
 * creditledger.table, may be used now.  GRAPH_CACHE_OFF: neither read nor
 * fill it (credit_graph_generation says when).  GRAPH_CACHE_CURRENT: what
 * it holds is still true.  GRAPH_CACHE_STALE: empty it first; *stamp now
 * says what it will be filled under.  A cache is stale when the generation
 * moved or when table is another relation than it was filled from: the
 * extension dropped and created again, whose new rows reuse ids, moves no
 * generation.
 */
GraphCacheState
cl_credit_graph_cache_check(CreditGraphStamp *stamp, const char *table)
{
	uint64		generation;
	Oid			relid;

	if (!credit_graph_generation(&generation))
		return GRAPH_CACHE_OFF;
	relid = cl_relation_oid(table);
	if (stamp->generation == generation && stamp->relid == relid)
		return GRAPH_CACHE_CURRENT;
	stamp->generation = generation;
	stamp->relid = relid;
	return GRAPH_CACHE_STALE;
}

/*
 * cl_credit_surplus_lock_try: a hot line's surplus lock (lockorder.h),
 * exclusive until the end of the transaction, only if free.
 */
bool
cl_credit_surplus_lock_try(int64 line_id)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (line_id >> 32), (uint32) line_id,
						 CL_CREDIT_SURPLUS_CLASS);
	return LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * cl_in_subxact: run try(arg) in a subtransaction, kept when it returns true
 * (its row locks pass to the transaction) and rolled back when it returns
 * false (the locks it took are released) or raises (rethrown after the
 * rollback, as PL/pgSQL's exception blocks do).  SPI stays connected.
 */
bool
cl_in_subxact(bool (*try) (void *arg), void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	bool		keep = false;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(cxt);
	PG_TRY();
	{
		keep = try(arg);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(cxt);
		CurrentResourceOwner = owner;
		ReThrowError(edata);
	}
	PG_END_TRY();
	if (keep)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
	return keep;
}


/* ------------------------------------------------------------------------
 * Keyed rows and credit slices for other modules (credit_rows.c)
 * ------------------------------------------------------------------------ */

/*
 * cl_find_row: find_row for another module's table: the row whose index
 * key is keys[] (one or more equality keys), as snapshot sees it, left in
 * slot.  Returns false if none.
 */
bool
cl_find_row(Relation rel, Relation index, ScanKey keys, int nkeys, Snapshot snapshot,
			TupleTableSlot *slot)
{
	return find_row(rel, index, keys, nkeys, snapshot, slot);
}

/*
 * cl_own_version: own_version for another module's table keyed (id, sub)
 * in rowcache.c (sub_att InvalidAttrNumber: keyed by id alone).
 */
bool
cl_own_version(Relation rel, int64 id, int32 sub, AttrNumber id_att, AttrNumber sub_att,
			   TupleTableSlot *slot)
{
	return own_version(rel, id, sub, id_att, sub_att, slot);
}

/*
 * cl_lock_tid: lock the row version at *tid (found by this statement with
 * the transaction snapshot) in mode, as SELECT ... FOR <mode> would: under
 * READ COMMITTED the newest version of the row is locked (following its
 * update chain), under REPEATABLE READ a row changed since the snapshot is
 * a serialization failure.  The locked version is left in slot (its TID in
 * slot->tts_tid).  LOCK_SKIPPED only with LockWaitSkip; LOCK_NOT_FOUND when
 * the row was deleted.
 */
LockOutcome
cl_lock_tid(Relation rel, ItemPointer tid, LockWaitPolicy wait, LockTupleMode mode,
			TupleTableSlot *slot)
{
	Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	LockOutcome o = cl_lock_tid_snapshot(rel, tid, wait, mode, slot, snapshot);

	UnregisterSnapshot(snapshot);
	return o;
}

/*
 * cl_lock_tid_snapshot: cl_lock_tid with the (registered) snapshot the
 * row was just found with, as SELECT ... FOR <mode> locks what its own
 * statement's snapshot found.
 */
LockOutcome
cl_lock_tid_snapshot(Relation rel, ItemPointer tid, LockWaitPolicy wait, LockTupleMode mode,
					 TupleTableSlot *slot, Snapshot snapshot)
{
	ItemPointerData t = *tid;
	TM_FailureData tmfd;
	TM_Result	result;

	result = table_tuple_lock(rel, &t, snapshot, slot, GetCurrentCommandId(true),
							  mode, wait,
							  IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	switch (result)
	{
		case TM_Ok:
			return LOCK_OK;
		case TM_WouldBlock:
			return LOCK_SKIPPED;
		case TM_Updated:
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			if (result == TM_Deleted)
				return LOCK_NOT_FOUND;
			elog(ERROR, "creditledger: row of %s was updated concurrently",
				 RelationGetRelationName(rel));
			break;
		case TM_SelfModified:
		case TM_Invisible:
		case TM_BeingModified:
			break;
	}
	elog(ERROR, "creditledger: unexpected result %d locking a row of %s",
		 (int) result, RelationGetRelationName(rel));
	return LOCK_NOT_FOUND;
}

/*
 * probe_tag: the lock tag of part `part` (1..2047) of object id
 * (lockorder.h): a hot line's slice (CL_PROBE_SLICE) or a split account's
 * sub-account (CL_PROBE_SUB); exact for ids below 2^53.
 */
static void
probe_tag(LOCKTAG *tag, ClProbeKind kind, int64 id, int32 part)
{
	SET_LOCKTAG_ADVISORY(*tag, MyDatabaseId, (uint32) id,
						 (uint32) ((((uint64) id >> 32) << 11) | (uint32) part),
						 kind == CL_PROBE_SLICE ? CL_CREDIT_SLICE_CLASS : CL_SUB_LOCK_CLASS);
}

/*
 * probe_acquire: cl_probe_lock, telling a lock this transaction held
 * already (LOCKACQUIRE_ALREADY_HELD) from a new one.
 */
static LockAcquireResult
probe_acquire(ClProbeKind kind, int64 id, int32 part, bool wait)
{
	LOCKTAG		tag;

	probe_tag(&tag, kind, id, part);
	return LockAcquire(&tag, ExclusiveLock, false, !wait);
}

/*
 * cl_probe_lock: a probe lock (lockorder.h: a hot line's slice lock, step
 * 4, or a split account's sub-account lock, step 6), exclusive, until the
 * end of the transaction or cl_probe_unlock; waiting for it, or (wait =
 * false) only if free.  Returns whether it was taken.  Taking it again is
 * free and needs as many unlocks.
 */
bool
cl_probe_lock(ClProbeKind kind, int64 id, int32 part, bool wait)
{
	return probe_acquire(kind, id, part, wait) != LOCKACQUIRE_NOT_AVAIL;
}

/*
 * cl_probe_unlock: give back one cl_probe_lock of this call (taken under
 * the current resource owner); the lock goes when this transaction took it
 * no other time.  The probe's one way out: a slice or sub-account found
 * short is let go at once, before any wait.
 */
void
cl_probe_unlock(ClProbeKind kind, int64 id, int32 part)
{
	LOCKTAG		tag;

	probe_tag(&tag, kind, id, part);
	if (!LockRelease(&tag, ExclusiveLock, false))
		elog(ERROR, "creditledger: probe lock %d of " INT64_FORMAT " was not held", part, id);
}

/*
 * cl_credit_slice_lock: a hot line's slice lock (cl_probe_lock).
 */
bool
cl_credit_slice_lock(int64 line_id, int32 slice, bool wait)
{
	return cl_probe_lock(CL_PROBE_SLICE, line_id, slice, wait);
}

/*
 * cl_credit_slice_unlock: give back one cl_credit_slice_lock of this call
 * (cl_probe_unlock).
 */
void
cl_credit_slice_unlock(int64 line_id, int32 slice)
{
	cl_probe_unlock(CL_PROBE_SLICE, line_id, slice);
}
