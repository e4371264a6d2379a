/*
 * stats.h: creditledger's shared-memory statistics (stats.c).
 *
 * The segment exists only when the library is in shared_preload_libraries;
 * every function here is a no-op (or answers "not available") without it.
 * Each background worker owns one slot and is its only writer; readers
 * (the stat_workers() SRF)
 * never block it.
 */
#ifndef CREDITLEDGER_STATS_H
#define CREDITLEDGER_STATS_H

#include "postgres.h"

/* Longest last_error kept, in bytes, terminator included. */
#define CL_LAST_ERROR_LEN 256

/* Longest worker state text, in bytes, terminator included. */
#define CL_STATE_LEN 32


/* The worker side: called by worker index (bgw_main_arg). */
extern void cl_stats_worker_started(int index);
extern void cl_stats_worker_stopped(int index);
extern void cl_stats_worker_set_state(int index, const char *state);
extern void cl_stats_worker_add_flushed(int index, int64 postings);
extern void cl_stats_worker_add_expired(int index, int64 holds);
extern void cl_stats_worker_cycle_done(int index);
extern void cl_stats_worker_error(int index, const char *message);


#endif							/* CREDITLEDGER_STATS_H */
