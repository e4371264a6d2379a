/*
 * lockorder.h: the extension's lock table and the advisory lock keys,
 * defined once.
 *
 * Every function that waits for a lock takes its locks in this order (a
 * lower step never after a higher one within one operation); a lock taken
 * out of order is only ever tried (SKIP LOCKED, conditional), never waited
 * for.  The same table is in the README ("Concurrency: the lock table").
 *
 *   1. the credit graph lock: advisory (CL_CREDIT_GRAPH_KEY1,
 *      CL_CREDIT_GRAPH_KEY2), shared by freeze, unfreeze, use, use_direct,
 *      return and expiry, by the lending calls (disburse, disburse_direct,
 *      repay) and by transfer_post and transfer_void of a pending
 *      disbursement (before their claim), exclusive by link, limit,
 *      suspend, resume, close, hot-slice changes and
 *      set_credit_line_account (credit_engine.c, credit_limits.c,
 *      credit_admin.c, lending.c);
 *   2. references: the unique index entry of the operation's reference
 *      (INSERT ... ON CONFLICT DO NOTHING): transfer vouchers, pending
 *      vouchers, hold/void/release refs, credit hold refs, drawdown refs,
 *      unfreeze/return refs;
 *   3. the record an operation acts on, FOR NO KEY UPDATE (FOR UPDATE on
 *      the money side): a credit hold or drawdown, a pending transfer or
 *      funds hold; a pending disbursement's pending transfer before its
 *      transit hold;
 *   4. credit lines, ascending line id, FOR NO KEY UPDATE (hot lines not:
 *      their slices instead, at their place in the ascending line order;
 *      expiry locks a hot line's own row at that place);
 *      within one hot line, a slice is its slice lock (advisory, class
 *      CL_CREDIT_SLICE_CLASS, a probe lock: locking.c cl_probe_lock) and
 *      then its row (under READ COMMITTED not locked apart when its
 *      version has no xmax: the update that follows marks it, the slice
 *      lock excluding every other writer): one slice tried (its lock
 *      only if free, its row SKIP LOCKED), or one slice waited for while
 *      holding no other slice of the line taken in this call; a slice
 *      found short once its lock is held is given back at once
 *      (LockRelease, before its row is locked: no subtransaction); a
 *      partial gather tries every slice (in a subtransaction, rolled back
 *      when the pool is short); the settle of a batched hot line
 *      (credit_settle_hot_lines, the worker) takes slices the same way,
 *      each only if free (a busy one is left for the next round), after
 *      the graph lock shared and nothing else;
 *   5. account mode locks: advisory (account id high, low, class
 *      CL_MODE_LOCK_CLASS), shared by postings, exclusive by set_hot_mode,
 *      close_account, set_account_block, set_credit_line_account (a
 *      caller's posting looks receivable accounts up after taking its
 *      shared ones: posting.c cl_refuse_receivables); ascending account id;
 *   6. account rows (FOR NO KEY UPDATE through the primary key), ascending
 *      account id, each followed by its sub-accounts in ascending order;
 *      within one split account, a sub-account is its sub-account lock
 *      (advisory, class CL_SUB_LOCK_CLASS) and then its row, the way a
 *      slice is (one probe helper, locking.c cl_probe_lock): one
 *      sub-account probed (its lock only if free, its newest version read,
 *      its row locked only if that serves), a probe that finds it short
 *      giving its lock back at once (no row lock, no subtransaction); or
 *      one sub-account waited for while holding no other sub-account of
 *      the account; all of them in order, after the account row, to
 *      gather.  Every writer of a sub-account row takes it through
 *      cl_lock_sub / cl_probe_sub, so holds its sub-account lock.
 *
 * Lending (lending.c) runs the credit half first (steps 1-4), then the
 * money half (its voucher, step 2, claimed after the credit locks: only a
 * money call with the same voucher can make it wait there, and such a call
 * takes no credit lock; then steps 5-6).  post_batch takes the graph lock
 * before the pending rows its items name and the credit lines of the
 * disbursements among them after those rows, before its accounts.
 *
 * Out-of-order tries: a posting that finds its chain short takes due
 * reservations' rows (step 3) with SKIP LOCKED; expiry takes due records
 * with SKIP LOCKED and, after its first record, mode locks and rows only if
 * free; a freeze or drawdown that looks short releases due credit holds
 * (step 3 with SKIP LOCKED) before it locks its lines (step 4); the expiry
 * of a pending disbursement, holding its pending row, only tries the graph
 * lock, and once it holds other records' locks, the credit lines too
 * (SKIP LOCKED), both halves in a subtransaction given up when a lock is
 * taken.
 */
#ifndef CREDITLEDGER_LOCKORDER_H
#define CREDITLEDGER_LOCKORDER_H

#include "postgres.h"

/*
 * Step 1: the credit graph lock, pg_advisory_xact_lock(17228, -1).  Taken
 * exclusively through cl_credit_graph_lock, it bumps the credit graph's
 * generation (locking.c), which validates the backends' graph caches
 * (credit_rows.c): lines, links and hot settings change only under it.
 */
#define CL_CREDIT_GRAPH_KEY1 17228
#define CL_CREDIT_GRAPH_KEY2 (-1)

/*
 * Outside the order, only ever tried (never waited for): a hot line's
 * surplus lock, advisory (line id high, low, class CL_CREDIT_SURPLUS_CLASS),
 * held by the one call that may pool what expiries freed on that line.
 */
#define CL_CREDIT_SURPLUS_CLASS 0x4353

/*
 * Step 4, within a hot line: a slice's lock, advisory (line id low 32 bits,
 * line id high bits shifted left 11 | slice, class CL_CREDIT_SLICE_CLASS),
 * taken before the slice's row and held with it to the end of the
 * transaction; given back at once (never holding the row) when the slice
 * turns out short.
 */
#define CL_CREDIT_SLICE_CLASS 0x4354

/* Step 5: the class (4th advisory key field) of account mode locks. */
#define CL_MODE_LOCK_CLASS 0x434C

/*
 * Step 6, within a split account: a sub-account's lock, advisory (account
 * id low 32 bits, account id high bits shifted left 11 | sub-account, class
 * CL_SUB_LOCK_CLASS), taken before the sub-account's row and held with it
 * to the end of the transaction; given back at once (never holding the
 * row) when the sub-account turns out short.  The same probe lock as a
 * slice's (locking.c cl_probe_lock), another class.
 */
#define CL_SUB_LOCK_CLASS 0x4355

extern void cl_credit_graph_lock(bool exclusive);

/*
 * What a per-backend cache of the credit graph was filled under (zero: not
 * filled yet; generations start at 1), and whether it may be used now.
 */
typedef struct CreditGraphStamp
{
	uint64		generation;
	Oid			relid;
} CreditGraphStamp;

typedef enum GraphCacheState
{
	GRAPH_CACHE_OFF,			/* neither read nor fill it now */
	GRAPH_CACHE_CURRENT,		/* still true */
	GRAPH_CACHE_STALE			/* empty it, then fill it */
} GraphCacheState;

extern GraphCacheState cl_credit_graph_cache_check(CreditGraphStamp *stamp, const char *table);
extern bool cl_in_subxact(bool (*try) (void *arg), void *arg);
extern bool cl_credit_surplus_lock_try(int64 line_id);

#endif							/* CREDITLEDGER_LOCKORDER_H */
