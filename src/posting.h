/*
 * posting.h: the posting engine shared by transfer, post_entry and reverse.
 */
#ifndef CREDITLEDGER_POSTING_H
#define CREDITLEDGER_POSTING_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "holds.h"
#include "locking.h"

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

/*
 * A reservation a posting releases (transfer_post): on chain (account_id,
 * sub_account), release is taken off held before the floor is checked, and
 * rec is written to that chain's hold chain with the posting.  release 0
 * only records (the pending transfer's record on an account it does not
 * decrease).  The posting serves that account from exactly that chain.
 */
typedef struct PostingRelease
{
	int64		account_id;
	int32		sub_account;
	int64		release;
	HoldRecord	rec;
} PostingRelease;

extern void post_legs(int64 transfer_id, const char *voucher, PostingKind kind,
					  const PostingLeg *legs, int nlegs,
					  const PostingRelease *releases, int nreleases);
extern void cl_reserve_chain(LockContext *lc, AccountInfo *info, int64 amount,
							 const ChainHead *locked, ChainHead *head);
/* transfers.c: claim a voucher in the transfers' namespace (see there). */
extern int64 cl_claim_transfer_voucher(const char *voucher, const char *kind, const uint8 *hash,
									   text *memo, Jsonb *metadata, bool *replayed);

#endif							/* CREDITLEDGER_POSTING_H */
