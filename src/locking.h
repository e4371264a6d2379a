/*
 * locking.h: reading and ordered locking of account and sub-account rows,
 * and the per-account hot-mode lock.
 */
#ifndef CREDITLEDGER_LOCKING_H
#define CREDITLEDGER_LOCKING_H

#include "postgres.h"
#include "access/skey.h"
#include "executor/tuptable.h"
#include "nodes/lockoptions.h"
#include "utils/relcache.h"
#include "utils/snapshot.h"

#include "chain.h"

typedef enum HotMode
{
	HOT_NONE,
	HOT_BUFFERED,
	HOT_SPLIT,
	HOT_BUFFERED_SPLIT
} HotMode;

#define HOT_MODE_IS_BUFFERED(m) ((m) == HOT_BUFFERED || (m) == HOT_BUFFERED_SPLIT)
#define HOT_MODE_IS_SPLIT(m) ((m) == HOT_SPLIT || (m) == HOT_BUFFERED_SPLIT)

/* An account's attributes (and its main chain's posted balance). */
typedef struct AccountInfo
{
	int64		account_id;
	char		currency[4];
	bool		normal_credit;	/* normal_side = 'credit' */
	bool		has_floor;		/* min_balance IS NOT NULL */
	int64		min_balance;
	bool		open;
	HotMode		hot_mode;
	int32		shards;
	int64		balance;		/* posted balance of sub-account 0 */
	char		block;			/* 'n'one, 'd'ebits, 'c'redits, 'a'll */
} AccountInfo;

/* Whether an account's block refuses a leg on side ('D' or 'C'). */
#define CL_BLOCKS_SIDE(info, side) \
	((info)->block == 'a' || ((info)->block == 'd' && (side) == 'D') || \
	 ((info)->block == 'c' && (side) == 'C'))

/* Columns read from ledger_accounts (LC_*) and sub_accounts (SC_*). */
enum
{
	LC_ACCOUNT_ID, LC_CURRENCY, LC_NORMAL_SIDE, LC_MIN_BALANCE, LC_STATUS,
	LC_HOT_MODE, LC_SHARDS,
	LC_BALANCE, LC_VERSION, LC_LAST_HASH,	/* a chain head: in SC_* order */
	LC_HELD, LC_HOLD_VERSION, LC_HOLD_HASH,
	LC_BLOCK,
	LC_NCOLS
};
enum
{
	SC_BALANCE, SC_VERSION, SC_LAST_HASH,	/* a chain head: in LC_BALANCE.. order */
	SC_HELD, SC_HOLD_VERSION, SC_HOLD_HASH,
	SC_ACCOUNT_ID, SC_SUB_ACCOUNT,	/* the key */
	SC_NCOLS
};

/* Relations used for reading and locking, opened once per call. */
typedef struct LockContext
{
	Relation	accounts;
	Relation	accounts_pk;
	Relation	subs;
	Relation	subs_pk;
	TupleTableSlot *slot;
	TupleTableSlot *sub_slot;
	AttrNumber	acc_att[LC_NCOLS];	/* attribute numbers, by LC_* */
	AttrNumber	sub_att[SC_NCOLS];	/* attribute numbers, by SC_* */
} LockContext;

typedef enum LockOutcome
{
	LOCK_OK,
	LOCK_SKIPPED,				/* held by another transaction (skip policy) */
	LOCK_NOT_FOUND,
	LOCK_SHORT					/* cl_probe_sub: short, let go (see there) */
} LockOutcome;

/* What a probe lock (lockorder.h) guards. */
typedef enum ClProbeKind
{
	CL_PROBE_SLICE,				/* a hot credit line's slice (step 4) */
	CL_PROBE_SUB				/* a split account's sub-account (step 6) */
} ClProbeKind;

extern HotMode cl_parse_hot_mode(const char *s);
extern const char *cl_hot_mode_name(HotMode m);
extern int	cl_sort_unique_ids(int64 *ids, int n);

extern void lock_context_open(LockContext *lc);
extern void lock_context_close(LockContext *lc);
extern bool cl_read_account(LockContext *lc, int64 id, AccountInfo *info);
extern void cl_require_open_account(LockContext *lc, int64 id, AccountInfo *info);
extern LockOutcome cl_lock_main(LockContext *lc, int64 id, LockWaitPolicy wait,
								LockTupleMode mode, AccountInfo *info, ChainHead *head);
extern LockOutcome cl_lock_sub(LockContext *lc, const AccountInfo *info, int32 sub,
							   LockWaitPolicy wait, ChainHead *head);
extern LockOutcome cl_probe_sub(LockContext *lc, const AccountInfo *info, int32 sub,
								LockWaitPolicy wait, int64 needed, ChainHead *head,
								bool *kept);
extern int64 cl_read_sub_balance(LockContext *lc, int64 id, int32 sub);
extern void cl_read_sub_balances(LockContext *lc, int64 id, int32 n, int64 *avail);
extern bool cl_probe_lock(ClProbeKind kind, int64 id, int32 part, bool wait);
extern void cl_probe_unlock(ClProbeKind kind, int64 id, int32 part);

extern void cl_mode_lock(int64 account_id, bool exclusive);
extern bool cl_mode_lock_try(int64 account_id);

/* Keyed rows of other tables, and credit slice locks (credit_rows.c). */
extern bool cl_find_row(Relation rel, Relation index, ScanKey keys, int nkeys,
						Snapshot snapshot, TupleTableSlot *slot);
extern bool cl_own_version(Relation rel, int64 id, int32 sub, AttrNumber id_att,
						   AttrNumber sub_att, TupleTableSlot *slot);
extern LockOutcome cl_lock_tid(Relation rel, ItemPointer tid, LockWaitPolicy wait,
							   LockTupleMode mode, TupleTableSlot *slot);
extern LockOutcome cl_lock_tid_snapshot(Relation rel, ItemPointer tid, LockWaitPolicy wait,
										LockTupleMode mode, TupleTableSlot *slot,
										Snapshot snapshot);
extern bool cl_credit_slice_lock(int64 line_id, int32 slice, bool wait);
extern void cl_credit_slice_unlock(int64 line_id, int32 slice);

#endif							/* CREDITLEDGER_LOCKING_H */
