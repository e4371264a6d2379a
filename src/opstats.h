/*
 * opstats.h: per-operation and per-hot-account statistics in shared memory
 * (opstats.c).
 */
#ifndef CREDITLEDGER_OPSTATS_H
#define CREDITLEDGER_OPSTATS_H

#include "postgres.h"
#include "fmgr.h"

/* The API functions whose calls are counted. */
typedef enum ClOperation
{
	CL_OP_OPEN_ACCOUNT,
	CL_OP_ACCOUNT_ID,
	CL_OP_SET_HOT_MODE,
	CL_OP_CLOSE_ACCOUNT,
	CL_OP_BALANCE,
	CL_OP_ACCOUNT_STATE,
	CL_OP_TRANSFER,
	CL_OP_POST_ENTRY,
	CL_OP_REVERSE,
	CL_OP_LOCK_ACCOUNTS,
	CL_OP_FLUSH,
	CL_OP_VERIFY_CHAIN,
	CL_OP_CREATE_CREDIT_LINE,
	CL_OP_CREDIT_LINE_ID,
	CL_OP_LINK_CREDIT_LINE,
	CL_OP_SET_CREDIT_LIMIT,
	CL_OP_SUSPEND_CREDIT_LINE,
	CL_OP_RESUME_CREDIT_LINE,
	CL_OP_CLOSE_CREDIT_LINE,
	CL_OP_SET_CREDIT_LINE_HOT,
	CL_OP_CREDIT_FREEZE,
	CL_OP_CREDIT_UNFREEZE,
	CL_OP_CREDIT_USE,
	CL_OP_CREDIT_USE_DIRECT,
	CL_OP_CREDIT_RETURN,
	CL_OP_CREDIT_EXPIRE_HOLDS,
	CL_OP_TRANSFER_PENDING,
	CL_OP_TRANSFER_POST,
	CL_OP_TRANSFER_VOID,
	CL_OP_HOLD_FUNDS,
	CL_OP_RELEASE_FUNDS,
	CL_OP_EXPIRE_PENDING,
	CL_OP_SET_ACCOUNT_BLOCK,
	CL_OP_SET_TEMPORARY_LIMIT,
	CL_OP_END_TEMPORARY_LIMIT,
	CL_OP_CREDIT_APPLY_TEMPORARY_LIMITS,
	CL_OP_POST_BATCH,
	CL_OP_SET_CREDIT_LINE_ACCOUNT,
	CL_OP_CREDIT_DISBURSE,
	CL_OP_CREDIT_DISBURSE_DIRECT,
	CL_OP_CREDIT_REPAY,
	CL_OP_CREDIT_SETTLE_HOT_LINES,
	CL_OP_COUNT
} ClOperation;

extern Datum cl_tracked(ClOperation op, PGFunction impl, FunctionCallInfo fcinfo);
extern void cl_opstats_item_errors(ClOperation op, const int *sqlstates, int n);

/*
 * cl_opstats_suppress_begin / cl_opstats_suppress_end: while a begin is not
 * yet matched by its end, CL_TRACKED_FUNCTION calls made by this backend
 * are not counted (nor timed): the extension's own calls, such as the
 * worker's periodic credit_expire_holds() or the balance() calls of BCP
 * rules, are not application calls (their work shows in stat_workers).
 * Pairs nest (a depth counter).  An abort of the top-level transaction
 * takes back the begins made inside it (so an error that skips an end does
 * not leave counting off for the rest of the session); begins made outside
 * any transaction (the worker around a whole unit of work) stay until their
 * end.  An end without a begin does nothing.
 */
extern void cl_opstats_suppress_begin(void);
extern void cl_opstats_suppress_end(void);

/* Hot-account events (no-ops without shared memory or with tracking off). */
extern void cl_stat_hot_flush(int64 account_id, int64 postings);
extern void cl_stat_hot_skips(int64 account_id, int64 retries);
extern void cl_stat_hot_sweep(int64 account_id);

/*
 * CL_TRACKED_FUNCTION: define the SQL-callable function name as impl, timed
 * and counted as operation op.
 */
#define CL_TRACKED_FUNCTION(name, op, impl) \
	static Datum impl(PG_FUNCTION_ARGS); \
	PG_FUNCTION_INFO_V1(name); \
	Datum \
	name(PG_FUNCTION_ARGS) \
	{ \
		return cl_tracked(op, impl, fcinfo); \
	}

/*
 * CL_TRACKED_FUNCTION_SHARED: the same, with impl callable from other files
 * (batch.c runs the single calls' implementations item by item; calls made
 * that way are not counted apart, the batch is).  impl is declared in the
 * caller's header.
 */
#define CL_TRACKED_FUNCTION_SHARED(name, op, impl) \
	PG_FUNCTION_INFO_V1(name); \
	Datum \
	name(PG_FUNCTION_ARGS) \
	{ \
		return cl_tracked(op, impl, fcinfo); \
	}

#endif							/* CREDITLEDGER_OPSTATS_H */
