/*
 * worker.h: creditledger's background workers (worker.c): one per database
 * listed in creditledger.database, applying buffered postings and sweeping
 * split accounts.
 */
#ifndef CREDITLEDGER_WORKER_H
#define CREDITLEDGER_WORKER_H

#include "postgres.h"
#include "fmgr.h"

/* GUCs (creditledger.*), see cl_define_worker_gucs() */
extern int	cl_flush_interval;
extern int	cl_batch_size;
extern int	cl_sweep_interval;
extern int	cl_hold_expiry_interval;
extern int	cl_bcp_interval;

extern void cl_define_worker_gucs(void);
extern void cl_register_workers(void);

/* The databases named in creditledger.database, in order (one worker each). */
extern int	cl_worker_count(void);
extern const char *cl_worker_database(int index);


extern PGDLLEXPORT void cl_worker_main(Datum main_arg);

/* Scheduled BCP runs (worker_bcp.c) */
extern void cl_bcp_launch(int index, const char *dbname);
extern PGDLLEXPORT void cl_bcp_worker_main(Datum main_arg);

#endif							/* CREDITLEDGER_WORKER_H */
