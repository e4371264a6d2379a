/*
 * credit_limits.h: the one path every change of a credit line's limit goes
 * through (credit_limits.c).
 */
#ifndef CREDITLEDGER_CREDIT_LIMITS_H
#define CREDITLEDGER_CREDIT_LIMITS_H

#include "postgres.h"

/*
 * After a change of a line's limit_amount or temporary_limit, under the
 * exclusive credit graph lock and the line's row lock, inside SPI: records
 * a decrease (limit_decreased_at) and spreads a hot line's headroom again.
 */
extern void credit_limit_changed(int64 line_id, bool decreased);
extern int64 cl_credit_apply_due_temporary_limits(void);

#endif							/* CREDITLEDGER_CREDIT_LIMITS_H */
