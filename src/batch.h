/*
 * batch.h: the single posting calls' implementations that post_batch
 * (batch.c) runs item by item, without the per-call statistics wrapper.
 * Each takes the SQL function's arguments in the same order.
 */
#ifndef CREDITLEDGER_BATCH_H
#define CREDITLEDGER_BATCH_H

#include "postgres.h"
#include "fmgr.h"

/* transfers.c */
extern Datum cl_transfer_impl(PG_FUNCTION_ARGS);
extern Datum cl_post_entry_impl(PG_FUNCTION_ARGS);
extern Datum cl_reverse_impl(PG_FUNCTION_ARGS);

/* holds.c */
extern Datum cl_transfer_pending_impl(PG_FUNCTION_ARGS);
extern Datum cl_transfer_post_impl(PG_FUNCTION_ARGS);
extern Datum cl_transfer_void_impl(PG_FUNCTION_ARGS);

/* Most items one post_batch call takes. */
#define CL_MAX_BATCH_ITEMS 10000

#endif							/* CREDITLEDGER_BATCH_H */
