/*
 * transfers.h: transfer, post_entry and reverse (transfers.c): the single
 * calls' implementations, without the per-call statistics wrapper, which
 * post_batch (batch.c) runs item by item.  Each takes the SQL function's
 * arguments in the same order.
 */
#ifndef CREDITLEDGER_TRANSFERS_H
#define CREDITLEDGER_TRANSFERS_H

#include "postgres.h"
#include "fmgr.h"

extern Datum cl_transfer_impl(PG_FUNCTION_ARGS);
extern Datum cl_post_entry_impl(PG_FUNCTION_ARGS);
extern Datum cl_reverse_impl(PG_FUNCTION_ARGS);

#endif							/* CREDITLEDGER_TRANSFERS_H */
