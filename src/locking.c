/*
 * locking.c: ordered locking of account rows.
 *
 * Locking protocol: every call that updates account rows first locks all of
 * them with one SELECT ... ORDER BY account_id FOR NO KEY UPDATE (the lock an
 * UPDATE takes), i.e. in ascending id order, before its first update.  Two
 * transactions can then only wait on each other in one direction, so
 * concurrent transfers in opposite directions never deadlock.  The row values
 * are read after the lock is granted (READ COMMITTED re-reads the newest
 * version), so balance, version and last hash are current.  Locks are held
 * until the end of the caller's transaction.  lock_accounts() offers the same
 * to applications that compose several calls in one transaction.
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"

#include "errcodes.h"
#include "locking.h"
#include "spi_plans.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(cl_lock_accounts);

static ClPlan lock_plan = {
	"SELECT account_id, currency, normal_side = 'credit', min_balance,"
	"       status = 'open', balance, version, last_hash"
	"  FROM creditledger.ledger_accounts"
	" WHERE account_id = ANY($1)"
	" ORDER BY account_id"
	"   FOR NO KEY UPDATE",
	1, {INT8ARRAYOID}
};

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
 * cl_lock_account_rows: lock the accounts ids[0..n-1] (sorted, unique) in
 * ascending order and return their rows, in the same order, palloc'd in the
 * SPI procedure's upper context (SPI_palloc).  Must be called inside SPI.  An unknown or closed
 * account raises LD003 (account_unavailable).
 */
LockedAccount *
cl_lock_account_rows(int64 *ids, int n, int *nlocked)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	ArrayType  *arr;
	Datum		values[1];
	LockedAccount *out;
	int			found = 0;

	for (int i = 0; i < n; i++)
		elems[i] = Int64GetDatum(ids[i]);
	arr = construct_array(elems, n, INT8OID, sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
	values[0] = PointerGetDatum(arr);
	cl_exec(&lock_plan, values, NULL, 0);

	out = SPI_palloc(sizeof(LockedAccount) * n);
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		LockedAccount *a = &out[found];
		bool		isnull;
		bytea	   *hash;

		a->account_id = cl_getint64(r, 1, NULL);
		/* rows come back in id order; a gap means ids[found] is unknown */
		if (ids[found] != a->account_id)
			break;
		strlcpy(a->currency, TextDatumGetCString(cl_getdatum(r, 2, &isnull)),
				sizeof(a->currency));
		a->normal_credit = DatumGetBool(cl_getdatum(r, 3, &isnull));
		a->min_balance = cl_getint64(r, 4, &isnull);
		a->has_floor = !isnull;
		if (!DatumGetBool(cl_getdatum(r, 5, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_CL_ACCOUNT_UNAVAILABLE),
					 errmsg("account " INT64_FORMAT " is closed", a->account_id)));
		a->balance = cl_getint64(r, 6, NULL);
		a->version = cl_getint64(r, 7, NULL);
		hash = DatumGetByteaPP(cl_getdatum(r, 8, &isnull));
		if (VARSIZE_ANY_EXHDR(hash) != CL_HASH_LEN)
			elog(ERROR, "creditledger: account " INT64_FORMAT " has a malformed last_hash",
				 a->account_id);
		memcpy(a->last_hash, VARDATA_ANY(hash), CL_HASH_LEN);
		a->new_balance = a->balance;
		found++;
	}
	if (found < n)
		ereport(ERROR,
				(errcode(ERRCODE_CL_ACCOUNT_UNAVAILABLE),
				 errmsg("account " INT64_FORMAT " does not exist", ids[found])));
	*nlocked = found;
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

	cl_spi_connect();
	(void) cl_lock_account_rows(ids, n, &nlocked);
	cl_spi_finish();
	PG_RETURN_VOID();
}
