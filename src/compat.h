/*
 * compat.h: shims over differences between PostgreSQL 15, 16 and 17.
 *
 * Everything version-specific lives here, behind PG_VERSION_NUM, so the
 * rest of the code is written against one API.
 */
#ifndef CREDITLEDGER_COMPAT_H
#define CREDITLEDGER_COMPAT_H

#include "postgres.h"

#if PG_VERSION_NUM < 150000
#error "creditledger requires PostgreSQL 15 or later"
#endif

/* varatt.h was split out of postgres.h in PostgreSQL 16. */
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif

#include "access/heapam.h"
#include "access/htup_details.h"
#include "executor/executor.h"

/*
 * ExecInsertIndexTuples gained an onlySummarizing argument in PostgreSQL 16.
 */
#if PG_VERSION_NUM >= 160000
#define CL_EXEC_INSERT_INDEX_TUPLES(rri, slot, estate, update, only_summarizing) \
	ExecInsertIndexTuples((rri), (slot), (estate), (update), false, NULL, NIL, \
						  (only_summarizing))
#else
#define CL_EXEC_INSERT_INDEX_TUPLES(rri, slot, estate, update, only_summarizing) \
	ExecInsertIndexTuples((rri), (slot), (estate), (update), false, NULL, NIL)
#endif

/* The same for a speculative insertion's index entries (direct_claim). */
#if PG_VERSION_NUM >= 160000
#define CL_EXEC_INSERT_INDEX_TUPLES_SPECULATIVE(rri, slot, estate, spec_conflict, arbiters) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, true, (spec_conflict), (arbiters), \
						  false)
#else
#define CL_EXEC_INSERT_INDEX_TUPLES_SPECULATIVE(rri, slot, estate, spec_conflict, arbiters) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, true, (spec_conflict), (arbiters))
#endif

/*
 * The set of columns any index uses (keys, expressions, predicates) was
 * INDEX_ATTR_BITMAP_ALL until PostgreSQL 15; 16 split off summarizing
 * indexes and calls the rest INDEX_ATTR_BITMAP_HOT_BLOCKING.
 */
#if PG_VERSION_NUM >= 160000
#define CL_INDEX_ATTR_BITMAP_INDEXED INDEX_ATTR_BITMAP_HOT_BLOCKING
#else
#define CL_INDEX_ATTR_BITMAP_INDEXED INDEX_ATTR_BITMAP_ALL
#endif

/*
 * cl_simple_heap_update: simple_heap_update, telling which index entries the
 * new version needs: all (a non-HOT update) or only summarizing ones (a HOT
 * update of a column a summarizing index covers, PostgreSQL 16+).
 */
static inline void
cl_simple_heap_update(Relation rel, ItemPointer otid, HeapTuple tup,
					  bool *index_all, bool *index_summarizing)
{
#if PG_VERSION_NUM >= 160000
	TU_UpdateIndexes update_indexes;

	simple_heap_update(rel, otid, tup, &update_indexes);
	*index_all = (update_indexes == TU_All);
	*index_summarizing = (update_indexes == TU_Summarizing);
#else
	simple_heap_update(rel, otid, tup);
	*index_all = !HeapTupleIsHeapOnly(tup);
	*index_summarizing = false;
#endif
}

/*
 * CL_MY_LXID: this backend's current local transaction id, which
 * PostgreSQL 17 moved from PGPROC.lxid into PGPROC.vxid.
 */
#if PG_VERSION_NUM >= 170000
#define CL_MY_LXID (MyProc->vxid.lxid)
#else
#define CL_MY_LXID (MyProc->lxid)
#endif

/*
 * CL_LOCK_HELD_BY_ME: whether this backend holds exactly this lock mode on
 * the tag.  PostgreSQL 17 gave LockHeldByMe an orstronger argument; false
 * keeps the exact-mode test of 15 and 16.  (Read in storage/lock.h of
 * PostgreSQL 17.0 as vendored by pganalyze/libpg_query, branch
 * 17-latest-dev, commit f4a36d53.)
 */
#if PG_VERSION_NUM >= 170000
#define CL_LOCK_HELD_BY_ME(tag, mode) LockHeldByMe((tag), (mode), false)
#else
#define CL_LOCK_HELD_BY_ME(tag, mode) LockHeldByMe((tag), (mode))
#endif

#endif							/* CREDITLEDGER_COMPAT_H */
