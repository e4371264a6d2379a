/*
 * lending.h: lending (lending.c): disbursements and repayments that change
 * credit and money in one transaction.  The money-hold and credit code
 * below it reach lending only through the hooks cl_lending_init registers
 * (pending disbursements; credit-only operations on a lending line).
 */
#ifndef CREDITLEDGER_LENDING_H
#define CREDITLEDGER_LENDING_H

#include "postgres.h"

/* _PG_init: registers lending's hooks with holds.c and credit_engine.c */
extern void cl_lending_init(void);

/* batch.c: the credit locks of the pending disbursements a batch names. */
extern int	cl_lending_batch_begin(char **vouchers, int n, int64 **transit_holds);
extern void cl_lending_batch_lock(const int64 *transit_holds, int n);

#endif							/* CREDITLEDGER_LENDING_H */
