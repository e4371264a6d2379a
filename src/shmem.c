/*
 * shmem.c: creditledger's one shared-memory segment and its one pair of
 * hooks.
 *
 * Follows pg_stat_statements: the space is requested in shmem_request_hook
 * and the segment created (or attached, in EXEC_BACKEND children) in
 * shmem_startup_hook, both installed only while shared_preload_libraries is
 * processed.  Without preloading there is no segment: the sections' owners
 * see NULL and answer "not available" (55000 with a hint), or (the credit
 * graph's generation) do without the cache it validates.
 *
 * Layout: one ShmemInitStruct named "creditledger" holding, in order, the
 * worker slots (stats.c), the operation counters (opstats.c) and the
 * credit graph's generation (locking.c), each MAXALIGNed; plus the hot-account hash table (opstats.c), which
 * PostgreSQL allocates from the same reservation by name.  Adding a section
 * means a size function and an attach function here, nothing else.
 *
 * Locking: creation and attachment happen under AddinShmemInitLock; each
 * section's own locking protocol is in its owner's header comment.  After a
 * crash restart the postmaster creates the segment again, so every counter
 * starts from zero.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"

#include "shmem.h"

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void cl_shmem_request(void);
static void cl_shmem_startup(void);

/*
 * segment_size: the bytes of the "creditledger" struct (all sections).
 */
static Size
segment_size(void)
{
	return add_size(add_size(MAXALIGN(cl_stats_shmem_size()),
							 MAXALIGN(cl_opstats_shmem_size())),
					MAXALIGN(cl_graph_shmem_size()));
}

/*
 * cl_shmem_init: install the hooks; called from _PG_init, only while
 * shared_preload_libraries is processed (shared memory cannot be requested
 * later).
 */
void
cl_shmem_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		return;

	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = cl_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = cl_shmem_startup;
}

/*
 * cl_shmem_request: shmem_request_hook; reserve the segment, the space the
 * hot-account hash needs, and the sections' LWLocks.
 */
static void
cl_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();

	RequestAddinShmemSpace(add_size(segment_size(), cl_opstats_shmem_extra()));
	cl_opstats_shmem_request_locks();
}

/*
 * cl_shmem_startup: shmem_startup_hook; create or attach to the segment and
 * hand each section its part (to initialise when the segment is new).
 */
static void
cl_shmem_startup(void)
{
	bool		found;
	char	   *base;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	base = ShmemInitStruct("creditledger", segment_size(), &found);
	cl_stats_shmem_attach(base, !found);
	cl_opstats_shmem_attach(base + MAXALIGN(cl_stats_shmem_size()), !found);
	cl_graph_shmem_attach(base + MAXALIGN(cl_stats_shmem_size()) +
						  MAXALIGN(cl_opstats_shmem_size()), !found);
	LWLockRelease(AddinShmemInitLock);
}
