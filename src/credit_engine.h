/*
 * credit_engine.h: the credit engine's operations as C functions
 * (credit_engine.c), for modules that combine a credit operation with a
 * money posting in one transaction (lending.c).  The SQL functions
 * credit_freeze, credit_use, credit_use_direct and credit_return are thin
 * wrappers around them.
 *
 * Each runs inside SPI (the caller connected), takes the credit graph lock
 * shared and then the engine's locks in lockorder.h's order (reference,
 * hold or drawdown row, credit lines), and raises the contract's
 * SQLSTATEs.  payload: the call's arguments as jsonb, kept with the
 * drawdown or operation; a later call with the same reference and another
 * payload is LD004, the same payload a replay (r->replayed, r->id the
 * first call's id, nothing else filled in).
 */
#ifndef CREDITLEDGER_CREDIT_ENGINE_H
#define CREDITLEDGER_CREDIT_ENGINE_H

#include "postgres.h"
#include "datatype/timestamp.h"

/* What an operation did. */
typedef struct CreditOpResult
{
	int64		id;				/* hold, drawdown or operation id */
	bool		replayed;		/* the reference's first call's result */
	int64		line_id;		/* the line acted on */
	int64		amount;			/* the amount applied */
	int64		hold_id;		/* transit operations: the transit hold */
	int64		drawdown_id;	/* a return: the drawdown returned to */
} CreditOpResult;

/*
 * A check that refuses a credit-only change on a line whose credit moves
 * with money (lending.c's, registered at load): raises, or returns.
 */
typedef void (*CreditOnlyGuard) (int64 line_id, const char *what);
extern void credit_set_credit_only_guard(CreditOnlyGuard guard);

extern void cl_credit_use_hold(const char *hold_ref, const char *ref, bool has_amount,
							   int64 amount, bool release_rest, Datum payload,
							   CreditOpResult *r);
extern void cl_credit_use_line(int64 line, const char *ref, int64 amount, Datum payload,
							   CreditOpResult *r);
extern void cl_credit_return_drawdown(const char *drawdown_ref, const char *ref, int64 amount,
									  Datum payload, CreditOpResult *r);

/* Disbursements in transit: the credit stays frozen in a transit hold. */
extern void cl_credit_transit_from_hold(const char *hold_ref, const char *ref,
										const char *transit_ref, bool has_amount,
										int64 amount, bool release_rest, Datum payload,
										CreditOpResult *r);
extern void cl_credit_transit_direct(int64 line, const char *ref, const char *transit_ref,
									 int64 amount, Datum payload, CreditOpResult *r);
extern void cl_credit_transit_post(const char *transit_ref, int64 drawdown_id, const char *ref,
								   int64 amount, bool release_rest);
extern void cl_credit_transit_release(const char *transit_ref, const char *op, const char *ref);
extern bool cl_credit_transit_lock(const int64 *holds, int nholds, bool nowait);

#endif							/* CREDITLEDGER_CREDIT_ENGINE_H */
