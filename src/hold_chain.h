/*
 * hold_chain.h: the hold chain writer and its encoding (hold_chain.c).
 */
#ifndef CREDITLEDGER_HOLD_CHAIN_H
#define CREDITLEDGER_HOLD_CHAIN_H

#include "postgres.h"

#include "chain.h"

/*
 * One hold chain entry to write: what happened (op), to what (target 'P' a
 * pending transfer, 'F' a funds hold, 'A' the account), under which
 * reference, the transfer a post made (0: none) and the operation's amount.
 */
typedef struct HoldRecord
{
	const char *op;
	char		target;
	int64		target_id;
	const char *ref;
	int64		transfer_id;
	int64		amount;
	const char *reason;			/* NULL: none */
} HoldRecord;

extern void hold_append(ChainHead *head, const HoldRecord *r, int64 held_delta, char block);
extern const char *cl_block_name(char block);

#endif							/* CREDITLEDGER_HOLD_CHAIN_H */
