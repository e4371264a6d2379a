/*
 * hot.h: hot accounts: the posting buffer, split sub-accounts, flush, sweep
 * and hot-mode conversion (hot.c).  The background worker (worker.c) drives
 * these through the functions below; SQL's flush() and set_hot_mode() call
 * them too.
 */
#ifndef CREDITLEDGER_HOT_H
#define CREDITLEDGER_HOT_H

#include "postgres.h"
#include "nodes/pg_list.h"

/*
 * hot_accounts_with_buffer: ids (int64, in a palloc'd array) of accounts that
 * have committed buffered postings, ascending; *n receives the count.  Needs
 * a transaction and an active snapshot; connects to SPI itself.
 */
extern int64 *hot_accounts_with_buffer(int *n);

/*
 * hot_flush_account: apply up to limit (0 = all) committed buffered
 * postings of one account in the current transaction, in buffer order, and
 * return how many were applied.  With skip_locked, returns -1 at once when
 * the account is locked by another transaction instead of waiting.
 * Serialised with every other flusher by the account row lock; applies only
 * buffer rows it deleted itself, so nothing is applied twice.
 */
extern int64 hot_flush_account(int64 account_id, int64 limit, bool skip_locked);

/*
 * hot_split_accounts: ids of split accounts (split and buffered_split),
 * ascending.
 */
extern int64 *hot_split_accounts(int *n);

/*
 * hot_sweep_account: rebalance the sub-accounts of a split account whose
 * sub-account balances drifted apart, with chained internal entries that
 * net to zero; returns the number of sub-accounts moved (0: nothing to do
 * or the account is busy, skipped without waiting).
 */
extern int64 hot_sweep_account(int64 account_id);

#endif							/* CREDITLEDGER_HOT_H */
