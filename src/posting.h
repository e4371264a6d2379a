/*
 * posting.h: the posting engine shared by transfer, post_entry and reverse.
 */
#ifndef CREDITLEDGER_POSTING_H
#define CREDITLEDGER_POSTING_H

#include "postgres.h"

/* One leg of a posting: debit or credit amount on an account. */
typedef struct PostingLeg
{
	int64		account_id;
	char		side;			/* 'D' or 'C' */
	int64		amount;			/* > 0 */
} PostingLeg;

/* What kind of call a posting comes from: decides the currency error. */
typedef enum PostingKind
{
	POSTING_TRANSFER,			/* two accounts, one currency: LD009 */
	POSTING_ENTRY,				/* any accounts, balanced per currency: LD010 */
	POSTING_REVERSAL			/* mirror of a posted transfer */
} PostingKind;

extern void post_legs(int64 transfer_id, const char *voucher, PostingKind kind,
					  const PostingLeg *legs, int nlegs);
extern void cl_raise_insufficient(int64 account_id, int64 balance, int64 after,
								  int64 min_balance);

#endif							/* CREDITLEDGER_POSTING_H */
