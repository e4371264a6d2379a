/*
 * stats.c: the background workers' slots in shared memory and the
 * stat_workers() SRF.
 *
 * This is the worker section of the one shared-memory segment (shmem.c
 * creates it, only when preloaded).  Without preloading cl_shared stays
 * NULL: the workers do not exist either, and the SRF says how to enable it
 * (55000 with a hint) instead of failing obscurely.
 *
 * The section is one ClSharedState: a fixed array of worker slots, one per
 * database in creditledger.database (index = the worker's bgw_main_arg).
 *
 * Locking protocol:
 *  - The slot names (database, worker) and nworkers are written once, by
 *    the postmaster in shmem_startup_hook before any worker starts, and are
 *    read without locks afterwards.
 *  - Every other field of a slot is protected by the slot's spinlock
 *    (mutex).  The slot's worker is the only writer; it holds the spinlock
 *    only to copy a few words.  Readers (the SRF) copy the slot under the
 *    spinlock, release it, and only then build datums.
 *  - After a crash restart the postmaster reinitialises the segment, so the
 *    counters start again from zero.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "settings.h"
#include "shmem.h"
#include "stats.h"

PG_FUNCTION_INFO_V1(cl_stat_workers);


/* Columns of stat_workers() */
#define CL_STAT_WORKERS_COLS 11

/*
 * One background worker's statistics.  The fields under "mutex" are
 * protected by it; see the locking protocol above.
 */
typedef struct ClWorkerStats
{
	/* written once by the postmaster, read without locks */
	char		database[NAMEDATALEN];
	char		worker[BGW_MAXLEN];


	slock_t		mutex;
	/* protected by mutex */
	int			pid;			/* 0 when not running */
	char		state[CL_STATE_LEN];
	TimestampTz started_at;		/* 0 = never started */
	TimestampTz last_cycle_at;	/* 0 = no cycle yet */
	int64		cycles;
	int64		postings_flushed;
	int64		holds_expired;
	int64		errors;
	char		last_error[CL_LAST_ERROR_LEN];
} ClWorkerStats;

/*
 * The whole segment.  Add later sections (per-operation counters, ...)
 * after workers[]; keep the segment a single fixed-size struct.
 */
typedef struct ClSharedState
{
	int			nworkers;		/* slots in use: databases configured */
	ClWorkerStats workers[CL_MAX_WORKERS];
} ClSharedState;

/* The segment, or NULL when the library was not preloaded */
static ClSharedState *cl_shared = NULL;

/*
 * cl_stats_shmem_size: bytes of this section of the segment (shmem.c).
 */
Size
cl_stats_shmem_size(void)
{
	return sizeof(ClSharedState);
}

/*
 * cl_stats_shmem_attach: shmem.c created or attached to the segment; base
 * is this section.  When the segment is new (the postmaster, again after a
 * crash restart) name one slot per configured database.  Called under
 * AddinShmemInitLock.
 */
void
cl_stats_shmem_attach(void *base, bool init)
{
	cl_shared = (ClSharedState *) base;
	if (init)
	{
		int			i;

		memset(cl_shared, 0, sizeof(ClSharedState));
		cl_shared->nworkers = Min(cl_database_count(), CL_MAX_WORKERS);
		for (i = 0; i < CL_MAX_WORKERS; i++)
		{
			ClWorkerStats *slot = &cl_shared->workers[i];

			SpinLockInit(&slot->mutex);
			strlcpy(slot->state, "not started", CL_STATE_LEN);
			if (i < cl_shared->nworkers)
			{
				const char *db = cl_database_name(i);

				strlcpy(slot->database, db, NAMEDATALEN);
				snprintf(slot->worker, BGW_MAXLEN,
						 "creditledger worker for database %s", db);
			}
		}
	}
}

/*
 * worker_slot: the slot of worker index, or NULL if there is none.
 */
static ClWorkerStats *
worker_slot(int index)
{
	if (cl_shared == NULL || index < 0 || index >= cl_shared->nworkers)
		return NULL;
	return &cl_shared->workers[index];
}

/*
 * cl_stats_worker_started: the worker process of slot index has started:
 * record its pid and start time, state 'starting'.
 */
void
cl_stats_worker_started(int index)
{
	ClWorkerStats *slot = worker_slot(index);

	if (slot == NULL)
		return;

	SpinLockAcquire(&slot->mutex);
	slot->pid = MyProcPid;
	slot->started_at = GetCurrentTimestamp();
	strlcpy(slot->state, "starting", CL_STATE_LEN);
	SpinLockRelease(&slot->mutex);
}

/*
 * cl_stats_worker_stopped: the worker is exiting (before_shmem_exit):
 * withdraw its PGPROC and pid, state 'stopped'.
 */
void
cl_stats_worker_stopped(int index)
{
	ClWorkerStats *slot = worker_slot(index);

	if (slot == NULL)
		return;

	SpinLockAcquire(&slot->mutex);
	slot->pid = 0;
	strlcpy(slot->state, "stopped", CL_STATE_LEN);
	SpinLockRelease(&slot->mutex);
}

/*
 * cl_stats_worker_set_state: set the state text shown by stat_workers.
 */
void
cl_stats_worker_set_state(int index, const char *state)
{
	ClWorkerStats *slot = worker_slot(index);

	if (slot == NULL)
		return;

	SpinLockAcquire(&slot->mutex);
	strlcpy(slot->state, state, CL_STATE_LEN);
	SpinLockRelease(&slot->mutex);
}

/*
 * worker_count: add n (> 0) to one counter of a worker's slot.
 */
static void
worker_count(int index, size_t counter, int64 n)
{
	ClWorkerStats *slot = worker_slot(index);

	if (slot == NULL || n <= 0)
		return;

	SpinLockAcquire(&slot->mutex);
	*(int64 *) ((char *) slot + counter) += n;
	SpinLockRelease(&slot->mutex);
}

/*
 * cl_stats_worker_add_flushed: count buffered postings the worker applied
 * (after the transaction that applied them committed).
 */
void
cl_stats_worker_add_flushed(int index, int64 postings)
{
	worker_count(index, offsetof(ClWorkerStats, postings_flushed), postings);
}

/*
 * cl_stats_worker_add_expired: count credit holds the worker released
 * (after the transaction that released them committed).
 */
void
cl_stats_worker_add_expired(int index, int64 holds)
{
	worker_count(index, offsetof(ClWorkerStats, holds_expired), holds);
}

/*
 * cl_stats_worker_cycle_done: one more cycle of the worker's loop finished
 * now.
 */
void
cl_stats_worker_cycle_done(int index)
{
	ClWorkerStats *slot = worker_slot(index);
	TimestampTz now;

	if (slot == NULL)
		return;

	now = GetCurrentTimestamp();
	SpinLockAcquire(&slot->mutex);
	slot->cycles++;
	slot->last_cycle_at = now;
	SpinLockRelease(&slot->mutex);
}

/*
 * cl_stats_worker_error: count an error of the worker and keep its message
 * (clipped to CL_LAST_ERROR_LEN bytes on a character boundary) as
 * last_error.
 */
void
cl_stats_worker_error(int index, const char *message)
{
	ClWorkerStats *slot = worker_slot(index);
	char		buf[CL_LAST_ERROR_LEN];
	int			len;

	if (slot == NULL)
		return;

	if (message == NULL)
		message = "unknown error";
	len = pg_mbcliplen(message, strlen(message), CL_LAST_ERROR_LEN - 1);
	memcpy(buf, message, len);
	buf[len] = '\0';

	SpinLockAcquire(&slot->mutex);
	slot->errors++;
	memcpy(slot->last_error, buf, len + 1);
	SpinLockRelease(&slot->mutex);
}

/*
 * stat_workers(): one row per configured worker: database, worker, pid,
 * state, started_at, last_cycle_at, cycles, postings_flushed, holds_expired,
 * errors, last_error.  pid is NULL while the worker is not running; the
 * timestamps are NULL until first set; last_error is NULL until an error.
 * Counters are cumulative since the server (or its last crash restart)
 * started.
 */
Datum
cl_stat_workers(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	if (cl_shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("creditledger statistics are not available"),
				 errdetail("The creditledger library was not loaded by shared_preload_libraries, so it has no shared memory and no background workers."),
				 errhint("Add creditledger to shared_preload_libraries and restart the server.")));

	InitMaterializedSRF(fcinfo, 0);

	for (i = 0; i < cl_shared->nworkers; i++)
	{
		ClWorkerStats *slot = &cl_shared->workers[i];
		ClWorkerStats copy;
		Datum		values[CL_STAT_WORKERS_COLS];
		bool		nulls[CL_STAT_WORKERS_COLS];
		int			c = 0;

		SpinLockAcquire(&slot->mutex);
		copy.pid = slot->pid;
		memcpy(copy.state, slot->state, CL_STATE_LEN);
		copy.started_at = slot->started_at;
		copy.last_cycle_at = slot->last_cycle_at;
		copy.cycles = slot->cycles;
		copy.postings_flushed = slot->postings_flushed;
		copy.holds_expired = slot->holds_expired;
		copy.errors = slot->errors;
		memcpy(copy.last_error, slot->last_error, CL_LAST_ERROR_LEN);
		SpinLockRelease(&slot->mutex);

		memset(nulls, 0, sizeof(nulls));

		values[c++] = CStringGetTextDatum(slot->database);
		values[c++] = CStringGetTextDatum(slot->worker);
		nulls[c] = (copy.pid == 0);
		values[c++] = Int32GetDatum(copy.pid);
		values[c++] = CStringGetTextDatum(copy.state);
		nulls[c] = (copy.started_at == 0);
		values[c++] = TimestampTzGetDatum(copy.started_at);
		nulls[c] = (copy.last_cycle_at == 0);
		values[c++] = TimestampTzGetDatum(copy.last_cycle_at);
		values[c++] = Int64GetDatum(copy.cycles);
		values[c++] = Int64GetDatum(copy.postings_flushed);
		values[c++] = Int64GetDatum(copy.holds_expired);
		values[c++] = Int64GetDatum(copy.errors);
		nulls[c] = (copy.last_error[0] == '\0');
		values[c++] = CStringGetTextDatum(copy.last_error);
		Assert(c == CL_STAT_WORKERS_COLS);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}

	return (Datum) 0;
}
