/*
 * opstats.c: per-operation and per-hot-account statistics in shared memory,
 * their SRFs and stat_reset() (counting obeys creditledger.track, settings.c).
 *
 * Every API function is wrapped by cl_tracked() (CL_TRACKED_FUNCTION): it
 * times the call and counts it, its latency in a fixed log-scale histogram
 * (so p50/p95/p99 come from the histogram, not from samples), and, when the
 * call ends in an error, the error's SQLSTATE.  Hot-account events
 * (flushes, postings flushed, SKIP LOCKED retries, sweeps) are counted per
 * account in a shared hash table.
 *
 * The extension's own calls are not counted: between
 * cl_opstats_suppress_begin() and cl_opstats_suppress_end() (backend-local,
 * nesting) cl_tracked() only runs the function.
 *
 * Every operation has its counters from startup (stat_operations_raw()
 * returns all of them, zeros included), so metrics() exports each series
 * before its first call or error.
 *
 * The counters are a section of the one shared-memory segment (shmem.c,
 * only when preloaded); without it the counting is a no-op and the SRFs
 * raise 55000 with a hint.
 *
 * Locking protocol:
 *  - each operation's counters are protected by that operation's spinlock,
 *    held only to add a few numbers (or to copy them, for the SRFs);
 *  - operations are counted server-wide; hot accounts per (database,
 *    account), since account ids repeat across databases;
 *  - the hot-account hash is protected by the "creditledger" LWLock: shared
 *    to find an entry, exclusive to add one (or to reset); an entry's
 *    counters by its own spinlock.  A full table (CL_MAX_HOT_ACCOUNTS
 *    entries) drops new accounts' events rather than evicting;
 *  - stat_reset() takes every spinlock in turn and the LWLock exclusively;
 *    `since` is written under the first operation's spinlock.
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "portability/instr_time.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "opstats.h"
#include "settings.h"
#include "shmem.h"

PG_FUNCTION_INFO_V1(cl_stat_latency_bounds);
PG_FUNCTION_INFO_V1(cl_stat_operations_raw);
PG_FUNCTION_INFO_V1(cl_stat_errors_raw);
PG_FUNCTION_INFO_V1(cl_stat_hot_accounts_raw);
PG_FUNCTION_INFO_V1(cl_stat_reset);

/* Upper bounds of the latency buckets, seconds; one more bucket is +Inf. */
static const double latency_bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
	0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};
#define CL_NBUCKETS (lengthof(latency_bounds) + 1)

/* Distinct SQLSTATEs counted per operation; more fall into the last slot. */
#define CL_MAX_ERRCODES 24

/* Hot accounts tracked. */
#define CL_MAX_HOT_ACCOUNTS 1024

static const char *const op_names[CL_OP_COUNT] = {
	"open_account", "account_id", "set_hot_mode", "close_account", "balance",
	"account_state", "transfer", "post_entry", "reverse", "lock_accounts",
	"flush", "verify_chain",
	"create_credit_line", "credit_line_id", "link_credit_line", "set_credit_limit",
	"suspend_credit_line", "resume_credit_line", "close_credit_line",
	"set_credit_line_hot", "credit_freeze", "credit_unfreeze", "credit_use",
	"credit_use_direct", "credit_return", "credit_expire_holds",
	"transfer_pending", "transfer_post", "transfer_void", "hold_funds", "release_funds",
	"expire_pending", "set_account_block",
	"set_temporary_limit", "end_temporary_limit", "credit_apply_temporary_limits", "post_batch",
	"set_credit_line_account", "credit_disburse", "credit_disburse_direct", "credit_repay",
	"credit_settle_hot_lines"
};

typedef struct ClErrCount
{
	int			sqlstate;		/* 0 = unused */
	int64		count;
} ClErrCount;

typedef struct ClOpStats
{
	slock_t		mutex;
	int64		calls;
	int64		errors;
	double		total_seconds;
	double		max_seconds;
	int64		buckets[CL_NBUCKETS];
	int			last_error;		/* 0 = none yet */
	ClErrCount	errs[CL_MAX_ERRCODES];
} ClOpStats;

typedef struct ClOpShared
{
	TimestampTz since;			/* under ops[0].mutex */
	LWLock	   *lock;			/* the hot-account hash */
	ClOpStats	ops[CL_OP_COUNT];
} ClOpShared;

/* Hot accounts are per database: account ids repeat across databases. */
typedef struct ClHotKey
{
	Oid			dbid;
	int64		account_id;
} ClHotKey;

typedef struct ClHotEntry
{
	ClHotKey	key;			/* hash key */
	slock_t		mutex;
	int64		flushes;
	int64		flushed_postings;
	TimestampTz last_flush_at;	/* 0 = never */
	int64		skip_locked_retries;
	int64		sweeps;
} ClHotEntry;

static ClOpShared *op_shared = NULL;
static HTAB *hot_hash = NULL;

/*
 * Suppression of counting (backend-local): the depth of unmatched begins,
 * and the depth the current top-level transaction started its own begins
 * from (-1: it made none), restored if it aborts.
 */
static int	suppress_depth = 0;
static int	suppress_xact_base = -1;
static bool suppress_callback_registered = false;


/*
 * cl_opstats_shmem_size: bytes of this section of the segment (shmem.c).
 */
Size
cl_opstats_shmem_size(void)
{
	return sizeof(ClOpShared);
}

/*
 * cl_opstats_shmem_extra: bytes the hot-account hash takes besides.
 */
Size
cl_opstats_shmem_extra(void)
{
	return hash_estimate_size(CL_MAX_HOT_ACCOUNTS, sizeof(ClHotEntry));
}

/*
 * cl_opstats_shmem_request_locks: the LWLock of the hot-account hash.
 */
void
cl_opstats_shmem_request_locks(void)
{
	RequestNamedLWLockTranche("creditledger", 1);
}

/*
 * cl_opstats_shmem_attach: shmem.c created or attached to the segment; base
 * is this section.  Initialise it when the segment is new, and create or
 * attach to the hot-account hash.  Called under AddinShmemInitLock.
 */
void
cl_opstats_shmem_attach(void *base, bool init)
{
	HASHCTL		info;

	op_shared = (ClOpShared *) base;
	if (init)
	{
		memset(op_shared, 0, sizeof(ClOpShared));
		op_shared->lock = &(GetNamedLWLockTranche("creditledger"))->lock;
		op_shared->since = GetCurrentTimestamp();
		for (int i = 0; i < CL_OP_COUNT; i++)
			SpinLockInit(&op_shared->ops[i].mutex);
	}
	info.keysize = sizeof(ClHotKey);
	info.entrysize = sizeof(ClHotEntry);
	hot_hash = ShmemInitHash("creditledger hot accounts", CL_MAX_HOT_ACCOUNTS,
							 CL_MAX_HOT_ACCOUNTS, &info, HASH_ELEM | HASH_BLOBS);
}

/*
 * require_shared: 55000 with a hint when the library was not preloaded.
 */
static void
require_shared(void)
{
	if (op_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("creditledger statistics are not available"),
				 errdetail("The statistics live in shared memory, which is set up only when the library is preloaded."),
				 errhint("Add creditledger to shared_preload_libraries and restart the server.")));
}

/*
 * cl_opstats_item_errors: count the refused items of one post_batch call
 * (sqlstates[0..n-1], 0 = applied) in op's per-SQLSTATE error counters
 * (stat_errors, and so the alert thresholds), not as failed calls: the
 * call itself succeeded and is counted by cl_tracked.
 */
void
cl_opstats_item_errors(ClOperation op, const int *sqlstates, int n)
{
	ClOpStats  *s;

	if (op_shared == NULL || !cl_track || suppress_depth > 0)
		return;
	s = &op_shared->ops[op];
	SpinLockAcquire(&s->mutex);
	for (int k = 0; k < n; k++)
	{
		int			i;

		if (sqlstates[k] == 0)
			continue;
		for (i = 0; i < CL_MAX_ERRCODES; i++)
			if (s->errs[i].sqlstate == sqlstates[k] || s->errs[i].sqlstate == 0)
				break;
		if (i == CL_MAX_ERRCODES)
			i = CL_MAX_ERRCODES - 1;	/* full: counted with the last one */
		if (s->errs[i].sqlstate == 0)
			s->errs[i].sqlstate = sqlstates[k];
		s->errs[i].count++;
	}
	SpinLockRelease(&s->mutex);
}

/*
 * record_call: add one call of op that took seconds, failed with sqlstate
 * (0 = succeeded).
 */
static void
record_call(ClOperation op, double seconds, int sqlstate)
{
	ClOpStats  *s = &op_shared->ops[op];
	int			b = 0;

	while (b < (int) lengthof(latency_bounds) && seconds > latency_bounds[b])
		b++;
	SpinLockAcquire(&s->mutex);
	s->calls++;
	s->total_seconds += seconds;
	if (seconds > s->max_seconds)
		s->max_seconds = seconds;
	s->buckets[b]++;
	if (sqlstate != 0)
	{
		int			i;

		s->errors++;
		s->last_error = sqlstate;
		for (i = 0; i < CL_MAX_ERRCODES; i++)
			if (s->errs[i].sqlstate == sqlstate || s->errs[i].sqlstate == 0)
				break;
		if (i == CL_MAX_ERRCODES)
			i = CL_MAX_ERRCODES - 1;	/* full: counted with the last one */
		if (s->errs[i].sqlstate == 0)
			s->errs[i].sqlstate = sqlstate;
		s->errs[i].count++;
	}
	SpinLockRelease(&s->mutex);
}

/*
 * suppress_xact_callback: at the end of a top-level transaction, forget
 * where its begins started; on abort, take them back.
 */
static void
suppress_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			if (suppress_xact_base >= 0 && suppress_depth > suppress_xact_base)
				suppress_depth = suppress_xact_base;
			suppress_xact_base = -1;
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PREPARE:
			suppress_xact_base = -1;
			break;
		default:
			break;
	}
}

/*
 * cl_opstats_suppress_begin: see opstats.h.
 */
void
cl_opstats_suppress_begin(void)
{
	if (!suppress_callback_registered)
	{
		RegisterXactCallback(suppress_xact_callback, NULL);
		suppress_callback_registered = true;
	}
	if (IsTransactionState() && suppress_xact_base < 0)
		suppress_xact_base = suppress_depth;
	suppress_depth++;
}

/*
 * cl_opstats_suppress_end: see opstats.h.
 */
void
cl_opstats_suppress_end(void)
{
	if (suppress_depth > 0)
		suppress_depth--;
}

/*
 * cl_tracked: run impl(fcinfo) as operation op, timing and counting it (and
 * the SQLSTATE of an error, which is then re-thrown unchanged).
 */
Datum
cl_tracked(ClOperation op, PGFunction impl, FunctionCallInfo fcinfo)
{
	instr_time	start,
				end;
	Datum		result;

	if (op_shared == NULL || !cl_track || suppress_depth > 0)
		return impl(fcinfo);

	INSTR_TIME_SET_CURRENT(start);
	PG_TRY();
	{
		result = impl(fcinfo);
	}
	PG_CATCH();
	{
		int			sqlstate = geterrcode();

		INSTR_TIME_SET_CURRENT(end);
		INSTR_TIME_SUBTRACT(end, start);
		record_call(op, INSTR_TIME_GET_DOUBLE(end), sqlstate ? sqlstate : ERRCODE_INTERNAL_ERROR);
		PG_RE_THROW();
	}
	PG_END_TRY();
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	record_call(op, INSTR_TIME_GET_DOUBLE(end), 0);
	return result;
}

/*
 * hot_entry: the statistics entry of a hot account, created if missing;
 * NULL without shared memory, with tracking off, or with a full table.
 */
static ClHotEntry *
hot_entry(int64 account_id)
{
	ClHotEntry *e;
	ClHotKey	key;
	bool		found;

	if (op_shared == NULL || !cl_track)
		return NULL;
	memset(&key, 0, sizeof(key));
	key.dbid = MyDatabaseId;
	key.account_id = account_id;
	LWLockAcquire(op_shared->lock, LW_SHARED);
	e = hash_search(hot_hash, &key, HASH_FIND, NULL);
	LWLockRelease(op_shared->lock);
	if (e)
		return e;
	LWLockAcquire(op_shared->lock, LW_EXCLUSIVE);
	e = hash_search(hot_hash, &key, HASH_ENTER_NULL, &found);
	if (e && !found)
	{
		memset((char *) e + sizeof(ClHotKey), 0, sizeof(ClHotEntry) - sizeof(ClHotKey));
		SpinLockInit(&e->mutex);
	}
	LWLockRelease(op_shared->lock);
	return e;
}

/*
 * cl_stat_hot_flush: a flush of an account applied postings (> 0).
 */
void
cl_stat_hot_flush(int64 account_id, int64 postings)
{
	ClHotEntry *e = hot_entry(account_id);

	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	e->flushes++;
	e->flushed_postings += postings;
	e->last_flush_at = GetCurrentTimestamp();
	SpinLockRelease(&e->mutex);
}

/*
 * cl_stat_hot_skips: sub-accounts a posting found locked and passed over.
 */
void
cl_stat_hot_skips(int64 account_id, int64 retries)
{
	ClHotEntry *e;

	if (retries <= 0 || (e = hot_entry(account_id)) == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	e->skip_locked_retries += retries;
	SpinLockRelease(&e->mutex);
}

/*
 * cl_stat_hot_sweep: a sweep rebalanced an account.
 */
void
cl_stat_hot_sweep(int64 account_id)
{
	ClHotEntry *e = hot_entry(account_id);

	if (e == NULL)
		return;
	SpinLockAcquire(&e->mutex);
	e->sweeps++;
	SpinLockRelease(&e->mutex);
}

/*
 * stat_latency_bounds(): the histogram's bucket upper bounds, seconds.
 */
Datum
cl_stat_latency_bounds(PG_FUNCTION_ARGS)
{
	Datum		d[lengthof(latency_bounds)];

	for (int i = 0; i < (int) lengthof(latency_bounds); i++)
		d[i] = Float8GetDatum(latency_bounds[i]);
	PG_RETURN_ARRAYTYPE_P(construct_array(d, lengthof(latency_bounds), FLOAT8OID,
										  sizeof(float8), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
}

/*
 * stat_operations_raw(): one row per operation, zeros included (every
 * operation's counters exist from startup).
 */
Datum
cl_stat_operations_raw(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TimestampTz since;

	require_shared();
	InitMaterializedSRF(fcinfo, 0);
	SpinLockAcquire(&op_shared->ops[0].mutex);
	since = op_shared->since;
	SpinLockRelease(&op_shared->ops[0].mutex);
	for (int op = 0; op < CL_OP_COUNT; op++)
	{
		ClOpStats	s;
		Datum		values[8];
		bool		nulls[8] = {false};
		Datum		b[CL_NBUCKETS];

		SpinLockAcquire(&op_shared->ops[op].mutex);
		memcpy(&s, &op_shared->ops[op], sizeof(s));
		SpinLockRelease(&op_shared->ops[op].mutex);
		for (int i = 0; i < (int) CL_NBUCKETS; i++)
			b[i] = Int64GetDatum(s.buckets[i]);
		values[0] = CStringGetTextDatum(op_names[op]);
		values[1] = Int64GetDatum(s.calls);
		values[2] = Int64GetDatum(s.errors);
		values[3] = Float8GetDatum(s.total_seconds);
		values[4] = Float8GetDatum(s.max_seconds);
		if (s.last_error)
			values[5] = CStringGetTextDatum(unpack_sql_state(s.last_error));
		else
			nulls[5] = true;
		values[6] = TimestampTzGetDatum(since);
		values[7] = PointerGetDatum(construct_array(b, CL_NBUCKETS, INT8OID, sizeof(int64),
													FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * stat_errors_raw(): one row per (operation, SQLSTATE) seen.
 */
Datum
cl_stat_errors_raw(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	require_shared();
	InitMaterializedSRF(fcinfo, 0);
	for (int op = 0; op < CL_OP_COUNT; op++)
	{
		ClErrCount	errs[CL_MAX_ERRCODES];

		SpinLockAcquire(&op_shared->ops[op].mutex);
		memcpy(errs, op_shared->ops[op].errs, sizeof(errs));
		SpinLockRelease(&op_shared->ops[op].mutex);
		for (int i = 0; i < CL_MAX_ERRCODES && errs[i].sqlstate != 0; i++)
		{
			Datum		values[3];
			bool		nulls[3] = {false};

			values[0] = CStringGetTextDatum(op_names[op]);
			values[1] = CStringGetTextDatum(unpack_sql_state(errs[i].sqlstate));
			values[2] = Int64GetDatum(errs[i].count);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}

/*
 * stat_hot_accounts_raw(): the event counters of every tracked account of
 * the current database.
 */
Datum
cl_stat_hot_accounts_raw(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	HASH_SEQ_STATUS seq;
	ClHotEntry *e;

	require_shared();
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(op_shared->lock, LW_SHARED);
	hash_seq_init(&seq, hot_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
	{
		ClHotEntry	c;
		Datum		values[6];
		bool		nulls[6] = {false};

		if (e->key.dbid != MyDatabaseId)
			continue;
		SpinLockAcquire(&e->mutex);
		memcpy(&c, e, sizeof(c));
		SpinLockRelease(&e->mutex);
		values[0] = Int64GetDatum(c.key.account_id);
		values[1] = Int64GetDatum(c.flushes);
		values[2] = Int64GetDatum(c.flushed_postings);
		values[3] = TimestampTzGetDatum(c.last_flush_at);
		nulls[3] = (c.last_flush_at == 0);
		values[4] = Int64GetDatum(c.skip_locked_retries);
		values[5] = Int64GetDatum(c.sweeps);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	LWLockRelease(op_shared->lock);
	return (Datum) 0;
}

/*
 * stat_reset(): zero the operation statistics (server-wide) and this
 * database's hot-account statistics; the workers' counters are kept (they
 * count since the server started).
 */
Datum
cl_stat_reset(PG_FUNCTION_ARGS)
{
	HASH_SEQ_STATUS seq;
	ClHotEntry *e;

	require_shared();
	for (int op = 0; op < CL_OP_COUNT; op++)
	{
		ClOpStats  *s = &op_shared->ops[op];

		SpinLockAcquire(&s->mutex);
		memset((char *) s + offsetof(ClOpStats, calls), 0,
			   sizeof(ClOpStats) - offsetof(ClOpStats, calls));
		if (op == 0)
			op_shared->since = GetCurrentTimestamp();
		SpinLockRelease(&s->mutex);
	}
	LWLockAcquire(op_shared->lock, LW_EXCLUSIVE);
	hash_seq_init(&seq, hot_hash);
	while ((e = hash_seq_search(&seq)) != NULL)
		if (e->key.dbid == MyDatabaseId)
			hash_search(hot_hash, &e->key, HASH_REMOVE, NULL);
	LWLockRelease(op_shared->lock);
	PG_RETURN_VOID();
}
