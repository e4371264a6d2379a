/*
 * locking.c: ordered locking of account rows.
 *
 * Locking protocol: every call that updates account rows first locks all of
 * them, one by one in ascending id order, with the row lock an UPDATE takes
 * (FOR NO KEY UPDATE; found through the primary key and taken with
 * table_tuple_lock, exactly as SELECT ... FOR NO KEY UPDATE does, without
 * the executor around it), before its first update.  Two
 * transactions can then only wait on each other in one direction, so
 * concurrent transfers in opposite directions never deadlock.  The row values
 * are read after the lock is granted (READ COMMITTED re-reads the newest
 * version), so balance, version and last hash are current.  Locks are held
 * until the end of the caller's transaction.  lock_accounts() offers the same
 * to applications that compose several calls in one transaction.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "storage/itemptr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "compat.h"
#include "errcodes.h"
#include "heapwrite.h"
#include "locking.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(cl_lock_accounts);

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

/* Columns of ledger_accounts read under the lock, by name. */
static const char *const lock_columns[] = {
	"account_id", "currency", "normal_side", "min_balance", "status",
	"balance", "version", "last_hash"
};
enum
{
	LC_ACCOUNT_ID, LC_CURRENCY, LC_NORMAL_SIDE, LC_MIN_BALANCE, LC_STATUS,
	LC_BALANCE, LC_VERSION, LC_LAST_HASH, LC_COUNT
};

/*
 * lock_row: find account id through the primary key and lock its newest
 * version FOR NO KEY UPDATE, waiting for a concurrent holder as SELECT ...
 * FOR NO KEY UPDATE would.  Under REPEATABLE READ or SERIALIZABLE, a row
 * changed since the transaction's snapshot is a serialization failure.
 * Returns false if there is no such account.
 */
static bool
lock_row(Relation rel, Relation pk, int64 id, TupleTableSlot *slot)
{
	ScanKeyData key;
	IndexScanDesc scan;
	Snapshot	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	bool		found;
	ItemPointerData tid;
	TM_FailureData tmfd;
	TM_Result	result;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(id));
	scan = index_beginscan(rel, pk, snapshot, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found)
		tid = slot->tts_tid;
	index_endscan(scan);
	if (!found)
	{
		UnregisterSnapshot(snapshot);
		return false;
	}

	result = table_tuple_lock(rel, &tid, snapshot, slot, GetCurrentCommandId(true),
							  LockTupleNoKeyExclusive, LockWaitBlock,
							  IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							  &tmfd);
	UnregisterSnapshot(snapshot);
	switch (result)
	{
		case TM_Ok:
			return true;
		case TM_Updated:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
			elog(ERROR, "creditledger: account " INT64_FORMAT " was updated concurrently", id);
			break;
		case TM_Deleted:
			if (IsolationUsesXactSnapshot())
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent delete")));
			return false;
		default:
			elog(ERROR, "creditledger: unexpected result %d locking account " INT64_FORMAT,
				 (int) result, id);
	}
	return false;
}

/*
 * cl_lock_account_rows: lock the accounts ids[0..n-1] (sorted, unique) one
 * by one in ascending order and return their rows, in the same order,
 * palloc'd in the current memory context.  An unknown or closed account
 * raises LD003 (account_unavailable).
 */
LockedAccount *
cl_lock_account_rows(int64 *ids, int n, int *nlocked)
{
	LockedAccount *out = palloc(sizeof(LockedAccount) * n);
	Relation	rel = table_open(cl_relation_oid("ledger_accounts"), RowShareLock);
	Relation	pk = index_open(cl_relation_oid("ledger_accounts_pkey"), AccessShareLock);
	TupleTableSlot *slot = table_slot_create(rel, NULL);
	AttrNumber	att[LC_COUNT];

	for (int c = 0; c < LC_COUNT; c++)
	{
		att[c] = get_attnum(RelationGetRelid(rel), lock_columns[c]);
		if (att[c] == InvalidAttrNumber)
			elog(ERROR, "creditledger: column ledger_accounts.%s does not exist", lock_columns[c]);
	}

	for (int i = 0; i < n; i++)
	{
		LockedAccount *a = &out[i];
		bool		isnull;
		bytea	   *hash;

		if (!lock_row(rel, pk, ids[i], slot))
			ereport(ERROR,
					(errcode(ERRCODE_CL_ACCOUNT_UNAVAILABLE),
					 errmsg("account " INT64_FORMAT " does not exist", ids[i])));
		a->tid = slot->tts_tid;
		a->account_id = DatumGetInt64(slot_getattr(slot, att[LC_ACCOUNT_ID], &isnull));
		text_to_cstring_buffer(DatumGetTextPP(slot_getattr(slot, att[LC_CURRENCY], &isnull)),
							   a->currency, sizeof(a->currency));
		a->normal_credit = strcmp(TextDatumGetCString(slot_getattr(slot, att[LC_NORMAL_SIDE], &isnull)),
								  "credit") == 0;
		a->min_balance = DatumGetInt64(slot_getattr(slot, att[LC_MIN_BALANCE], &isnull));
		a->has_floor = !isnull;
		if (strcmp(TextDatumGetCString(slot_getattr(slot, att[LC_STATUS], &isnull)), "open") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_CL_ACCOUNT_UNAVAILABLE),
					 errmsg("account " INT64_FORMAT " is closed", a->account_id)));
		a->balance = DatumGetInt64(slot_getattr(slot, att[LC_BALANCE], &isnull));
		a->version = DatumGetInt64(slot_getattr(slot, att[LC_VERSION], &isnull));
		hash = DatumGetByteaPP(slot_getattr(slot, att[LC_LAST_HASH], &isnull));
		if (VARSIZE_ANY_EXHDR(hash) != CL_HASH_LEN)
			elog(ERROR, "creditledger: account " INT64_FORMAT " has a malformed last_hash",
				 a->account_id);
		memcpy(a->last_hash, VARDATA_ANY(hash), CL_HASH_LEN);
		a->new_balance = a->balance;
		ExecClearTuple(slot);
	}
	ExecDropSingleTupleTableSlot(slot);
	index_close(pk, AccessShareLock);
	table_close(rel, NoLock);
	*nlocked = n;
	return out;
}

/*
 * cl_find_locked: the locked row of account id (binary search), or NULL.
 */
LockedAccount *
cl_find_locked(LockedAccount *accts, int n, int64 id)
{
	int			lo = 0,
				hi = n - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (accts[mid].account_id == id)
			return &accts[mid];
		if (accts[mid].account_id < id)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return NULL;
}

/*
 * lock_accounts(accounts bigint[]): lock the given accounts in ascending id
 * order until the end of the transaction.  NULL array or element: 22004;
 * unknown or closed account: LD003.
 */
Datum
cl_lock_accounts(PG_FUNCTION_ARGS)
{
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int64	   *ids;
	int			nlocked;

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

	(void) cl_lock_account_rows(ids, n, &nlocked);
	PG_RETURN_VOID();
}
