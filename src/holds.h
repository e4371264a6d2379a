/*
 * holds.h: money holds (holds.c): pending transfers, funds holds, blocks,
 * the release of due reservations, and the extension point through which
 * lending (lending.c, above this module) learns of its pending
 * disbursements' posts, voids and expiries.
 */
#ifndef CREDITLEDGER_HOLDS_H
#define CREDITLEDGER_HOLDS_H

#include "postgres.h"

#include "fmgr.h"

/* A pending transfer that is a disbursement in transit (放款在途). */
typedef struct LendingPending
{
	int64		pending_id;
	int64		drawdown_id;
	char	   *ref;			/* the disbursement's ref = the pending voucher */
	char	   *transit_ref;	/* its transit hold */
	int64		transit_hold_id;
} LendingPending;

/*
 * What transfer_post, transfer_void and expiry call for a pending transfer
 * that may be a disbursement in transit.  lending.c registers them when the
 * library loads (cl_lending_init), so this module never calls up into
 * lending by name; lending.c's cl_lending_pending_* describe each one.
 */
typedef struct PendingTransitHooks
{
	bool		(*lookup) (int64 pending_id, LendingPending *lp);
	bool		(*begin) (int64 pending_id, bool memo_known, const text *memo,
						  LendingPending *lp);
	void		(*post) (const LendingPending *lp, int64 amount, bool closes);
	void		(*cancel) (const LendingPending *lp, const char *voucher);
	bool		(*expire) (const LendingPending *lp, bool nowait);
} PendingTransitHooks;

extern void holds_set_transit_hooks(const PendingTransitHooks *hooks);
extern void cl_holds_init(void);

extern int64 cl_expire_due_holds(void);

/* the single calls' implementations, which post_batch runs item by item */
extern Datum cl_transfer_pending_impl(PG_FUNCTION_ARGS);
extern Datum cl_transfer_pending_lending(FunctionCallInfo fcinfo);
extern Datum cl_transfer_post_impl(PG_FUNCTION_ARGS);
extern Datum cl_transfer_void_impl(PG_FUNCTION_ARGS);

#endif							/* CREDITLEDGER_HOLDS_H */
