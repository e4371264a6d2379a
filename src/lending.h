/*
 * lending.h: lending (lending.c): disbursements and repayments that change
 * credit and money in one transaction, and the hooks the money-hold and
 * credit code call for pending disbursements and credit-only operations.
 */
#ifndef CREDITLEDGER_LENDING_H
#define CREDITLEDGER_LENDING_H

#include "postgres.h"

/* A pending transfer that is a disbursement in transit (放款在途). */
typedef struct LendingPending
{
	int64		pending_id;
	int64		drawdown_id;
	char	   *ref;			/* the disbursement's ref = the pending voucher */
	char	   *transit_ref;	/* its transit hold */
	int64		transit_hold_id;
} LendingPending;

/* credit_use, credit_use_direct, credit_return: refuse a lending line. */
extern void cl_lending_refuse_credit_only(int64 line_id, const char *what);

/* holds.c: transfer_post, transfer_void, expiry of a pending transfer. */
extern bool cl_lending_pending_lookup(int64 pending_id, LendingPending *lp);
extern bool cl_lending_pending_begin(int64 pending_id, bool memo_known, const text *memo,
									 LendingPending *lp);
extern void cl_lending_pending_post(const LendingPending *lp, int64 amount, bool closes);
extern void cl_lending_pending_void(const LendingPending *lp, const char *voucher);
extern bool cl_lending_pending_expire(const LendingPending *lp, bool nowait);

/* batch.c: the credit locks of the pending disbursements a batch names. */
extern int	cl_lending_batch_begin(char **vouchers, int n, int64 **transit_holds);
extern void cl_lending_batch_lock(const int64 *transit_holds, int n);

#endif							/* CREDITLEDGER_LENDING_H */
