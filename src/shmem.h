/*
 * shmem.h: creditledger's one shared-memory segment (shmem.c).
 *
 * The segment exists only when the library is preloaded.  It has one
 * section per owner, each with a size function and an attach function
 * that shmem.c calls under AddinShmemInitLock: the worker slots
 * (stats.c), the operation and hot-account counters (opstats.c) and the
 * credit graph's generation (locking.c).
 */
#ifndef CREDITLEDGER_SHMEM_H
#define CREDITLEDGER_SHMEM_H

#include "postgres.h"

extern void cl_shmem_init(void);

/* The sections: bytes needed, and attach (initialise when init is true). */
extern Size cl_stats_shmem_size(void);
extern void cl_stats_shmem_attach(void *base, bool init);
extern Size cl_opstats_shmem_size(void);
extern Size cl_opstats_shmem_extra(void);
extern void cl_opstats_shmem_attach(void *base, bool init);
extern void cl_opstats_shmem_request_locks(void);
extern Size cl_graph_shmem_size(void);
extern void cl_graph_shmem_attach(void *base, bool init);

#endif							/* CREDITLEDGER_SHMEM_H */
