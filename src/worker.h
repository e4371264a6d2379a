/*
 * worker.h: creditledger's background workers (worker.c): one per database
 * listed in creditledger.database, applying buffered postings and sweeping
 * split accounts.
 */
#ifndef CREDITLEDGER_WORKER_H
#define CREDITLEDGER_WORKER_H

#include "postgres.h"
#include "fmgr.h"

extern void cl_register_workers(void);


extern PGDLLEXPORT void cl_worker_main(Datum main_arg);

/* Scheduled BCP runs (worker_bcp.c) */
extern void cl_bcp_launch(int index, const char *dbname);
extern PGDLLEXPORT void cl_bcp_worker_main(Datum main_arg);

#endif							/* CREDITLEDGER_WORKER_H */
