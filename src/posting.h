/*
 * posting.h: the posting engine shared by transfer, post_entry and reverse.
 */
#ifndef CREDITLEDGER_POSTING_H
#define CREDITLEDGER_POSTING_H

#include "postgres.h"

#include "utils/jsonb.h"

#include "heapwrite.h"
#include "hold_chain.h"
#include "hot_internal.h"
#include "journal.h"
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

/*
 * A transfer or entry call whose arguments were checked and whose payload
 * was hashed, as the single call does before it claims its voucher
 * (transfers.c: cl_transfer_prepare, cl_entry_prepare); post_batch
 * evaluates it in memory (batch.c).
 */
typedef struct PreparedPosting
{
	char	   *voucher;
	const char *kind;			/* the ledger_transfers kind */
	PostingKind posting_kind;
	PostingLeg *legs;
	int			nlegs;
	text	   *memo;			/* NULL when omitted */
	Jsonb	   *metadata;		/* NULL when omitted */
	uint8		hash[CL_HASH_LEN];	/* payload hash */
} PreparedPosting;

/* transfers.c, for post_batch */
extern void cl_transfer_prepare(FunctionCallInfo fcinfo, PreparedPosting *out);
extern void cl_entry_prepare(FunctionCallInfo fcinfo, PreparedPosting *out);
extern int64 cl_transfer_replay(const char *voucher, int64 id, const char *kind,
								const uint8 *hash, const PreparedPosting *pp);

/* A ledger_transfers row already holding a voucher (cl_find_transfer_vouchers). */
typedef struct FoundVoucher
{
	char	   *voucher;
	int64		transfer_id;
	char	   *kind;
	uint8		hash[CL_HASH_LEN];
} FoundVoucher;

extern int	cl_find_transfer_vouchers(char **vouchers, int n, FoundVoucher **out);

/* New ledger_transfers rows of a batch, inserted together. */
typedef struct TransferRows
{
	DirectTable table;
	const AttrNumber *att;
	Oid			seq;
	pg_cryptohash_ctx *ctx;
	HeapTuple  *rows;
	int			n;
	int			cap;
} TransferRows;

extern void transfer_rows_open(TransferRows *tr);
extern int64 transfer_rows_add(TransferRows *tr, const PreparedPosting *pp);
extern void transfer_rows_close(TransferRows *tr);

/* holds.c registers the release of due reservations at load */
extern void posting_set_release_due(HotReleaseDue fn);

/*
 * Receivable accounts (lending.c registers the look-up at load): for ids
 * (ascending, distinct), lines[i] is the line whose receivable account
 * ids[i] is, or 0; returns how many are.  Caller-initiated postings on a
 * receivable are refused (cl_refuse_receivables); only lending's own moves
 * post there.
 */
typedef int (*ReceivableLinesFn) (const int64 *ids, int n, int64 *lines);
extern void posting_set_receivable_lookup(ReceivableLinesFn fn);
extern int64 cl_receivable_line(int64 account_id);
extern int	cl_receivable_lines(const int64 *ids, int n, int64 *lines);
extern void cl_refuse_receivable(int64 account_id, int64 line_id);
extern int64 cl_first_receivable(const PostingLeg *legs, int nlegs, int64 *line);
extern void cl_refuse_receivables(const PostingLeg *legs, int nlegs);

extern bool cl_known_none(int64 id);
extern void cl_note_none(int64 id, bool none);
extern bool posting_evaluate(PostingKind kind, const PostingLeg *legs, int nlegs,
							 const AccountInfo *infos, const int64 *balances,
							 const int64 *helds, int n, int64 *nets);
extern void post_legs(int64 transfer_id, const char *voucher, PostingKind kind,
					  const PostingLeg *legs, int nlegs,
					  const PostingRelease *releases, int nreleases);
extern void cl_reserve_chain(LockContext *lc, AccountInfo *info, int64 amount,
							 const ChainHead *locked, ChainHead *head);
/* transfers.c: claim a voucher in the transfers' namespace (see there). */
extern int64 cl_claim_transfer_voucher(const char *voucher, const char *kind, const uint8 *hash,
									   text *memo, Jsonb *metadata, bool *replayed);

#endif							/* CREDITLEDGER_POSTING_H */
